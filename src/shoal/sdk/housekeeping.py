"""Keeping a store tidy: archive, restore and delete versions; gc and verify artifacts.

``Fleet`` takes :class:`VersionLifecycle`'s methods, ``Client`` calls :func:`gc` and
:func:`verify`. Every destructive call is a dry run unless ``apply=True``::

    demand.archive(where="created_at < '2026-01-01'")            # what would be archived
    demand.archive(where="created_at < '2026-01-01'", apply=True)
    demand.delete_versions(ids=[812, 813], apply=True)
    client.gc()                      # what no version uses, older than the grace period
    client.gc(apply=True).bytes      # bytes freed
    client.verify().ok               # every blob re-read and checked against its sha256
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shoal.registry import FleetRef, Registry, Where, parse_filter

if TYPE_CHECKING:
    from shoal.sdk.client import Client

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)`` for long calls: ``listing``, ``removing`` (files) or
``verifying`` (bytes); ``total`` is None while unknown."""


@dataclass(frozen=True)
class Retired:
    """What ``archive``, ``restore`` or ``delete_versions`` did or, unless ``applied``,
    would do. ``changed`` of the ``matched`` versions change (archiving an archived
    version changes nothing); ``blocked`` lists versions an alias points at, which an
    applied archive or delete refuses (Conflict)."""

    fleet: str
    action: str
    applied: bool
    where: str | None
    ids: list[int]
    matched: int
    changed: int
    models: int
    models_hidden: int = 0
    models_shown: int = 0
    models_deleted: int = 0
    artifacts_deleted: int = 0
    artifact_bytes_deleted: int = 0
    packed_released: int = 0
    packed_bytes_released: int = 0
    blocked: list[dict[str, Any]] = field(default_factory=list)
    blocked_count: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GcReport:
    """What ``client.gc`` found and removed (or, unless ``applied``, would remove):
    counts by kind, ``bytes`` in all, and every file in ``items`` (kind, key, bytes,
    age). Unused files younger than ``grace_seconds`` are kept (``kept_young``); packs
    with any blob in use are kept whole (``packs_in_use``)."""

    applied: bool
    grace_seconds: float
    packs: int = 0
    objects: int = 0
    temporary: int = 0
    rows: int = 0
    bytes: int = 0
    kept_young: int = 0
    kept_young_bytes: int = 0
    kept_in_use: int = 0
    packs_in_use: int = 0
    objects_in_use: int = 0
    files: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    """What ``client.verify`` read (``blobs``, ``bytes``, ``packs``, ``objects``) and each
    blob that failed, in ``bad``: its sha256, ``problem`` (``missing`` or ``corrupt``),
    where it lies, and up to 20 ``versions`` that use it."""

    blobs: int = 0
    bytes: int = 0
    packs: int = 0
    objects: int = 0
    bad: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.bad

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ok": self.ok}


def gc(
    client: Client,
    *,
    apply: bool = False,
    grace_seconds: float | None = None,
    progress: Progress | None = None,
) -> GcReport:
    found = client.registry.housekeeping.gc(
        client.scope, grace_seconds=grace_seconds, apply=apply, progress=progress
    )
    return GcReport(**dataclasses.asdict(found))


def verify(client: Client, *, progress: Progress | None = None) -> VerifyReport:
    found = client.registry.housekeeping.verify(client.scope, progress=progress)
    return VerifyReport(**dataclasses.asdict(found))


class VersionLifecycle:
    """Archive, restore and delete a fleet's versions: :class:`~shoal.Fleet` has these."""

    ref: FleetRef

    @property
    def _registry(self) -> Registry:
        raise NotImplementedError

    def archive(
        self, where: str | None = None, *, ids: Sequence[int] = (), apply: bool = False
    ) -> Retired:
        """Hide versions from search, counts, facets and serving, and keep them.

        ``where`` selects among every version of the fleet (e.g. ``"created_at <
        '2026-01-01'"``, ``"store = 's012'"``); ``ids`` names versions. A model whose
        versions are all archived is hidden; its latest becomes its newest version not
        archived. A version an alias points at is refused (Conflict: move the alias
        first). A dry run unless ``apply=True``; :meth:`restore` undoes it.
        """
        return self._retire("archive", where, ids, apply)

    def restore(
        self, where: str | None = None, *, ids: Sequence[int] = (), apply: bool = False
    ) -> Retired:
        """Show archived versions again (``where`` may say ``status = 'archived'``)."""
        return self._retire("restore", where, ids, apply)

    def delete_versions(
        self, where: str | None = None, *, ids: Sequence[int] = (), apply: bool = False
    ) -> Retired:
        """Delete versions: their metadata now, a model with them when it has none left,
        and their artifacts once no version of any fleet uses the same bytes (single
        objects at once; packed blobs when ``client.gc`` removes their pack). Refused
        (Conflict) for a version an alias points at. A dry run unless ``apply=True``."""
        return self._retire("delete", where, ids, apply)

    def _retire(self, action: str, where: str | None, ids: Sequence[int], apply: bool) -> Retired:
        node: Where = parse_filter(where) if where and where.strip() else None
        found = self._registry.lifecycle.run(
            self.ref, action, where=node, where_text=where if node is not None else None,
            ids=list(ids), apply=apply,
        )  # fmt: skip
        return Retired(**dataclasses.asdict(found))
