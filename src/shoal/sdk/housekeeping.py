"""Keeping a store tidy: archive, restore and delete versions; gc and verify artifacts.

``Fleet`` takes :class:`VersionLifecycle`'s methods, ``Client`` calls :func:`gc` and
:func:`verify`. Every destructive call is a dry run unless ``apply=True``::

    demand.archive(where="created_at < '2026-01-01'")            # what would be archived
    demand.archive(where="created_at < '2026-01-01'", apply=True)
    demand.delete_versions(ids=[812, 813], apply=True)
    client.gc()                      # what no version uses, older than the grace period
    client.gc(apply=True).bytes      # bytes freed
    client.verify().ok               # every blob re-read and checked against its sha256

The records (:class:`Retired`, :class:`GcReport`, :class:`VerifyReport`) are the
registry's own, re-exported: one definition, filled where the work is done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from shoal.registry import FleetRef, GcReport, Registry, Retired, VerifyReport, Where, parse_filter

if TYPE_CHECKING:
    from shoal.sdk.client import Client

__all__ = ["GcReport", "Progress", "Retired", "VerifyReport", "VersionLifecycle", "gc", "verify"]

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)`` for long calls: ``listing``, ``removing`` (files) or
``verifying`` (bytes); ``total`` is None while unknown."""


def gc(
    client: Client,
    *,
    apply: bool = False,
    grace_seconds: float | None = None,
    progress: Progress | None = None,
) -> GcReport:
    return client.registry.housekeeping.gc(
        client.scope, grace_seconds=grace_seconds, apply=apply, progress=progress
    )


def verify(client: Client, *, progress: Progress | None = None) -> VerifyReport:
    return client.registry.housekeeping.verify(client.scope, progress=progress)


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
        return self._registry.lifecycle.run(
            self.ref, action, where=node, where_text=where if node is not None else None,
            ids=list(ids), apply=apply,
        )  # fmt: skip
