"""Archive, restore and delete versions: by id or by filter, one transaction each.

The guards every entry point shares live here, once:

- a call names its versions: a filter (over every version of the fleet, archived ones
  included) or ids; neither is refused, so an empty ``--where`` never touches a fleet;
- nothing changes unless ``apply=True`` (the CLI's ``--apply``): by default the answer
  says what would change, and why not, and changes nothing;
- a version an alias points at is neither archived nor deleted: the Conflict names the
  alias and the command that moves it;
- each applied call writes one audit row (who, when, the filter or ids, how many).

Deleting removes metadata at once and artifacts that no other version (of any fleet or
tenant: identical bytes are stored once) still uses: a single object is deleted in the
same transaction, under the artifact lock (``store.blobs``); a blob inside a pack leaves
its pack to ``shoal gc``, which removes a pack once none of its blobs is used.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.artifacts import ArtifactStore, delete_objects
from shoal.errors import Conflict, InvalidInput
from shoal.registry._guards import check_id
from shoal.registry._part import Part, actor_of
from shoal.store import audit, retire
from shoal.store import blobs as stored_blobs
from shoal.store.engine import Store, lock_fleet
from shoal.store.query import Where
from shoal.store.schema import VERSION_ARCHIVED, VERSION_READY
from shoal.store.tenancy import FleetRef

PREVIEW = 20
ACTIONS = ("archive", "restore", "delete")


@dataclass
class Retired:
    """What an archive, restore or delete did or, unless ``applied``, would do: the
    record ``fleet.archive``, ``restore`` and ``delete_versions`` return. ``blocked``
    lists versions an alias points at, which an applied archive or delete refuses."""

    fleet: str
    action: str
    applied: bool
    where: str | None
    ids: list[int]
    matched: int
    """Versions the filter or ids selected."""
    changed: int
    """Of those, versions this call changes (a restore skips versions not archived...)."""
    models: int
    """Models those versions belong to."""
    models_hidden: int = 0
    """Models left with no version to show (archive, delete): out of search and counts."""
    models_shown: int = 0
    """Models that had no version to show and have one again (restore)."""
    models_deleted: int = 0
    """Models deleted with their last version (delete)."""
    artifacts_deleted: int = 0
    """Single objects deleted with the last versions that used them."""
    artifact_bytes_deleted: int = 0
    packed_released: int = 0
    """Blobs inside packs no version uses any more: ``shoal gc`` frees their packs."""
    packed_bytes_released: int = 0
    blocked: list[dict[str, Any]] = field(default_factory=list)
    """Versions an alias points at (up to 20): key, version, id, alias."""
    blocked_count: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)
    """The first 20 versions this call changes: key, version, id, status."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Lifecycle(Part):
    """Versions taken out of sight (archived), put back (restored) or deleted."""

    def __init__(self, store: Store, artifacts: Callable[[], ArtifactStore]) -> None:
        super().__init__(store)
        self._open_artifacts = artifacts

    def archive(self, fleet: FleetRef, **options: Any) -> Retired:
        """Hide versions from search, counts, facets and serving; keep them."""
        return self.run(fleet, "archive", **options)

    def restore(self, fleet: FleetRef, **options: Any) -> Retired:
        """Show archived versions again."""
        return self.run(fleet, "restore", **options)

    def delete(self, fleet: FleetRef, **options: Any) -> Retired:
        """Delete versions' metadata, and their artifacts once no version uses them."""
        return self.run(fleet, "delete", **options)

    def run(
        self,
        fleet: FleetRef,
        action: str,
        *,
        where: Where = None,
        where_text: str | None = None,
        ids: Sequence[int] = (),
        apply: bool = False,
        actor: str | None = None,
    ) -> Retired:
        """One archive, restore or delete; ``where_text`` is what the audit row records."""
        if action not in ACTIONS:
            raise InvalidInput(f"action must be one of {ACTIONS}, got {action!r}", field="action")
        ids = [check_id(i, "ids") for i in (ids or ())]
        if where is None and not ids:
            raise InvalidInput(
                f"{action} needs the versions to {action}: a filter (where=, --where, e.g. "
                "\"created_at < '2026-01-01'\") or version ids (ids=, --id)",
                field="where",
            )
        actor = actor_of(actor)
        opened = self._store.write() if apply else self._store.read()
        with opened as conn:
            if apply and action == "delete":
                stored_blobs.lock_artifacts(conn, exclusive=True)  # before the fleet: one order
            if apply:
                lock_fleet(conn, fleet.id)
            targets = retire.select(conn, fleet, where=where, ids=ids)
            changing = _changing(action, targets)
            found = Retired(
                fleet.path, action, apply, where_text, ids[:100], len(targets), len(changing),
                len({t.model_id for t in changing}),
            )  # fmt: skip
            found.preview = retire.describe(conn, fleet, changing[:PREVIEW])
            _count_models(conn, fleet, action, changing, found)
            if action != "restore":
                self._blocked(conn, fleet, changing, found)
            if action == "delete":
                gone = self._released(conn, changing, found)
            if not apply or not changing:
                return found
            if found.blocked_count:
                raise Conflict(_blocked_message(fleet, action, found))
            if action == "delete":
                retire.delete(conn, fleet, changing)
                retire.add_versions(
                    conn, fleet, -sum(t.status != VERSION_ARCHIVED for t in changing)
                )
                stored_blobs.drop_rows(conn, gone)
                singles = [sha for sha, pack in gone.items() if pack is None]
                if singles:  # last, inside the transaction: see store.blobs
                    delete_objects(self._open_artifacts(), singles)
            else:
                status = VERSION_ARCHIVED if action == "archive" else VERSION_READY
                retire.set_status(conn, fleet, changing, status)
                sign = -1 if action == "archive" else 1
                retire.add_versions(conn, fleet, sign * len(changing))
            audit.record(
                conn, fleet.tenant_id, actor, f"version.{action}", fleet.path,
                {"where": where_text, "ids": ids[:100], "versions": len(changing),
                 "models": found.models, "models_hidden": found.models_hidden,
                 "models_shown": found.models_shown, "models_deleted": found.models_deleted,
                 "artifacts_deleted": found.artifacts_deleted},
            )  # fmt: skip
        return found

    @staticmethod
    def _blocked(
        conn: Any, fleet: FleetRef, changing: Sequence[retire.Target], found: Retired
    ) -> None:
        blocking = retire.blocking_aliases(conn, fleet, changing)
        found.blocked_count = len({version for _, _, version in blocking})
        by_id = {t.version_id: t for t in changing}
        shown = retire.describe(conn, fleet, [by_id[v] for _, _, v in blocking[:PREVIEW]])
        found.blocked = [
            {**row, "alias": name} for row, (name, _, _) in zip(shown, blocking, strict=False)
        ]

    @staticmethod
    def _released(
        conn: Any, changing: Sequence[retire.Target], found: Retired
    ) -> dict[str, str | None]:
        """Blobs no version would use once ``changing`` is gone: sha256 -> pack (or None)."""
        mine = Counter(t.sha256 for t in changing)
        total = stored_blobs.reference_counts(conn, list(mine))
        released = [sha for sha, n in mine.items() if total.get(sha, 0) <= n]
        rows = stored_blobs.rows_for(conn, shas=released)
        for row in rows:
            if row.pack is None:
                found.artifacts_deleted += 1
                found.artifact_bytes_deleted += int(row.size)
            else:
                found.packed_released += 1
                found.packed_bytes_released += int(row.size)
        return {row.sha256: row.pack for row in rows}


def _changing(action: str, targets: Sequence[retire.Target]) -> list[retire.Target]:
    if action == "archive":
        return [t for t in targets if t.status != VERSION_ARCHIVED]
    if action == "restore":
        return [t for t in targets if t.status == VERSION_ARCHIVED]
    return list(targets)


def _count_models(
    conn: Any, fleet: FleetRef, action: str, changing: Sequence[retire.Target], found: Retired
) -> None:
    """How many models the change hides, shows again or deletes, from their version counts."""
    counts = retire.version_counts(conn, fleet, sorted({t.model_id for t in changing}))
    live: Counter[int] = Counter(t.model_id for t in changing if t.status != VERSION_ARCHIVED)
    every: Counter[int] = Counter(t.model_id for t in changing)
    for model, (shown, total) in counts.items():
        if action == "restore":
            found.models_shown += shown == 0
            continue
        found.models_hidden += shown > 0 and live[model] == shown
        if action == "delete":
            found.models_deleted += every[model] == total


def _blocked_message(fleet: FleetRef, action: str, found: Retired) -> str:
    first = found.blocked[0]
    key = " ".join(f"--key {dim}={value}" for dim, value in first["key"].items())
    more = found.blocked_count - 1
    return (
        f"cannot {action} version {first['version']} of model {first['key']} in fleet "
        f"'{fleet.path}': alias {first['alias']!r} points at it"
        + (f" (and {more} more selected versions are under an alias)" if more > 0 else "")
        + f"; move the alias first (shoal alias set {fleet.path} {first['alias']} {key} "
        '--version N), or leave aliased versions out (add "and alias != '
        f"'{first['alias']}'\" to the filter); nothing was changed"
    )
