"""The registry: models, versions, aliases and lineage over the store and artifacts.

It joins the three lower parts and keeps their promises together: artifacts are
written (content addressed, packed) before the metadata transaction, the metadata
is one transaction per call, and when that transaction fails the packs this call
wrote are deleted again, so a failed bulk call leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from shoal import config
from shoal.artifacts import ArtifactStore, BlobRef
from shoal.errors import InvalidInput, NotFound
from shoal.flavors import get_flavor
from shoal.registry.lineage import code_ref as current_code_ref
from shoal.registry.records import Prepared, Preparer
from shoal.store import aggregates, aliases, audit, reads, requests, search, writes
from shoal.store.engine import Store, lock_fleet
from shoal.store.schema import datasets as datasets_table
from shoal.store.schema import runs as runs_table
from shoal.store.tenancy import FleetRef, Scope
from shoal.store.writes import Inserted


class Registry:
    """Registry operations for one store and one artifact store."""

    def __init__(self, store: Store, artifacts: ArtifactStore) -> None:
        self.store = store
        self.artifacts = artifacts

    # -- writing versions ---------------------------------------------------------------------

    def register(
        self,
        fleet: FleetRef,
        items: Iterable[Any],
        *,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> list[Inserted]:
        """Register many versions at once, all or nothing.

        With ``request_id``, a retry of a call that already committed returns that
        call's versions and registers nothing (see ``store.requests``).
        """
        preparer = self.preparer(fleet)
        prepared = [preparer.prepare(item, i) for i, item in enumerate(items)]
        return self.register_prepared(fleet, prepared, actor=actor, request_id=request_id)

    def preparer(self, fleet: FleetRef) -> Preparer:
        """Validates and serialises records for ``fleet`` (code reference of this process)."""
        return Preparer(fleet, current_code_ref())

    def register_prepared(
        self,
        fleet: FleetRef,
        prepared: Sequence[Prepared],
        *,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> list[Inserted]:
        """Register records already validated by ``preparer(fleet)``, all or nothing.

        For callers that validate each record as it arrives (training checks every key's
        result on its own, so one bad metric fails its key, not its batch) and would
        otherwise validate and serialise every record twice.
        """
        actor = actor or config.actor()
        if request_id is not None:
            requests.check_request_id(request_id)
        if not prepared:
            return []
        payloads = [p.payload for p in prepared]
        hashes = [hashlib.sha256(data).hexdigest() for data in payloads]
        call_digest = ""
        if request_id is not None:
            call_digest = requests.digest([p.row.key for p in prepared], hashes)
        with self.store.read() as conn:
            if request_id is not None:
                earlier = requests.find(conn, fleet, request_id, call_digest)
                if earlier is not None:
                    return earlier
            self._check_references(conn, fleet, prepared)
            known = {
                sha: BlobRef(sha, row.size, row.pack, row.offset)
                for sha, row in writes.blob_locations(conn, hashes).items()
            }
        refs = self.artifacts.put_many(payloads, known=known)
        new_packs = {ref.pack for ref in refs if ref.pack and ref.sha256 not in known}
        for item, ref in zip(prepared, refs, strict=True):
            item.row.sha256 = ref.sha256
        try:
            with self.store.write() as conn:
                if request_id is not None:
                    lock_fleet(conn, fleet.id)  # a concurrent retry waits here, then finds
                    earlier = requests.find(conn, fleet, request_id, call_digest)
                    if earlier is not None:  # a concurrent retry committed first
                        self._forget_packs(new_packs)
                        return earlier
                writes.insert_blobs(conn, [ref for ref in refs if ref.sha256 not in known])
                placed = writes.insert_versions(conn, fleet, [p.row for p in prepared], actor=actor)
                if request_id is not None:
                    requests.record(conn, fleet, request_id, call_digest, placed)
                audit.record(
                    conn, fleet.tenant_id, actor, "register", fleet.path,
                    {"versions": len(placed), "models": len({p.model_id for p in placed}),
                     "request_id": request_id},
                )  # fmt: skip
        except BaseException:
            self._forget_packs(new_packs)
            raise
        self.store.refresh_statistics()
        return placed

    def _forget_packs(self, packs: set[str]) -> None:
        """Remove packs that only a rolled-back call referenced."""
        if not packs:
            return
        with self.store.read() as conn:
            still_used = {
                row.pack
                for row in conn.execute(
                    sa.select(writes.blobs.c.pack).where(writes.blobs.c.pack.in_(list(packs)))
                )
            }
        self.artifacts.delete_packs(packs - still_used)

    def _check_references(self, conn: Any, fleet: FleetRef, prepared: Sequence[Any]) -> None:
        """Runs, datasets and parents named by the records must exist in this tenant."""
        for table, attr, what in (
            (runs_table, "run_id", "run"),
            (datasets_table, "dataset_id", "dataset"),
            (writes.versions, "parent_version_id", "parent version"),
        ):
            wanted = {getattr(p.row, attr) for p in prepared} - {None}
            if not wanted:
                continue
            found = {
                row[0]
                for row in conn.execute(
                    sa.select(table.c.id).where(
                        table.c.id.in_(list(wanted)), table.c.tenant_id == fleet.tenant_id
                    )
                )
            }
            missing = sorted(wanted - found)
            if missing:
                raise NotFound(
                    f"{what} {missing[0]} not found in tenant '{fleet.tenant}': register it "
                    f"first or leave {what.split()[0]}= out"
                )

    # -- reading ------------------------------------------------------------------------------

    def search(self, fleet: FleetRef, **kwargs: Any) -> tuple[list[dict], str | None]:
        with self.store.read() as conn:
            return search.search(conn, fleet, **kwargs)

    def count(self, fleet: FleetRef, **kwargs: Any) -> int:
        with self.store.read() as conn:
            return aggregates.count(conn, fleet, **kwargs)

    def facets(self, fleet: FleetRef, dim: str, **kwargs: Any) -> dict[str, int]:
        with self.store.read() as conn:
            return aggregates.facets(conn, fleet, dim, **kwargs)

    def resolve(
        self, fleet: FleetRef, key: Any, *, alias: str | None = None, version: int | None = None
    ) -> dict[str, Any]:
        with self.store.read() as conn:
            return reads.resolve(
                conn, fleet, reads.normalize_key(fleet, key), alias=alias, version=version
            )

    def versions_of(
        self, fleet: FleetRef, key: Any, *, limit: int | None = None, before: int | None = None
    ) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            return reads.model_versions(
                conn, fleet, reads.normalize_key(fleet, key), limit=limit, before=before
            )

    def load(
        self,
        fleet: FleetRef,
        row: dict[str, Any],
        *,
        trusted: Sequence[str] = (),
        location: BlobRef | None = None,
    ) -> Any:
        """Load a version's model: bytes verified against their hash, then the flavor.

        ``location`` (read in bulk by the caller) saves the per-model blob lookup.
        """
        flavor = get_flavor(row["flavor"])
        if location is not None:
            data = self.artifacts.get(location)
        else:
            data = self.read_artifact(row["artifact_sha256"])
        return flavor.load(data, trusted=trusted, allow_pickle=fleet.allow_pickle)

    def read_artifact(self, sha256: str) -> bytes:
        with self.store.read() as conn:
            found = writes.blob_locations(conn, [sha256]).get(sha256)
        ref = (
            BlobRef(sha256, found.size, found.pack, found.offset)
            if found is not None
            else self.artifacts.locate(sha256)
        )
        return self.artifacts.get(ref)

    # -- aliases ------------------------------------------------------------------------------

    def set_alias(
        self,
        fleet: FleetRef,
        name: str,
        targets: Sequence[tuple[Any, int | None]],
        *,
        expected: dict[Any, int | None] | None = None,
        dry_run: bool = False,
        actor: str | None = None,
    ) -> aliases.MoveResult:
        """Point ``name`` at the given (key, version number) pairs in one transaction."""
        check_alias(name)
        actor = actor or config.actor()
        keyed = [(reads.normalize_key(fleet, key), number) for key, number in targets]
        seen: set[tuple[str, ...]] = set()
        for key, _ in keyed:
            if key in seen:
                raise InvalidInput(
                    f"targets: model {dict(zip(fleet.keys, key, strict=True))} is named twice; "
                    "give each model one version",
                    field="targets",
                )
            seen.add(key)
        with self.store.write() as conn:
            lock_fleet(conn, fleet.id)
            ids = reads.versions_by_number(conn, fleet, keyed)
            pairs = [ids[key] for key, _ in keyed]
            cas = None
            if expected is not None:
                expected_keys = [(reads.normalize_key(fleet, k), n) for k, n in expected.items()]
                models_of = writes.find_models(conn, fleet, [k for k, _ in expected_keys])
                missing = [k for k, _ in expected_keys if k not in models_of]
                if missing:
                    shown = dict(zip(fleet.keys, missing[0], strict=True))
                    raise NotFound(f"expected: no model {shown} in fleet '{fleet.path}'")
                with_numbers = [(k, n) for k, n in expected_keys if n is not None]
                resolved = reads.versions_by_number(conn, fleet, with_numbers)
                cas = {
                    models_of[key].id: resolved[key][1] if number is not None else None
                    for key, number in expected_keys
                }
            result, _ = aliases.move(
                conn, fleet, name, pairs, actor=actor, expected=cas, dry_run=dry_run,
                where_text=None, source="explicit",
            )  # fmt: skip
            if not dry_run and result.moved:
                audit.record(
                    conn,
                    fleet.tenant_id,
                    actor,
                    "alias.set",
                    fleet.path,
                    {"alias": name, "moved": result.moved, "move": result.move_id},
                )
        return result

    def promote(
        self,
        fleet: FleetRef,
        name: str,
        *,
        where: str | None = None,
        source: str | None = None,
        dry_run: bool = False,
        actor: str | None = None,
    ) -> tuple[aliases.MoveResult, list[tuple[int, int | None, int | None]], str]:
        """Move ``name`` to the ``source`` version of every model the filter selects.

        The selection and the move happen in one write transaction under the fleet's
        lock, so two promoters never interleave: the second sees the first's result.
        """
        check_alias(name)
        actor = actor or config.actor()
        source = source or infer_source(fleet, where, name)
        scoped = where
        if source != "latest":
            check_alias(source)
            clause = f"alias = '{source}'"
            scoped = f"{clause} and ({where})" if where and where.strip() else clause
        with self.store.write() as conn:
            lock_fleet(conn, fleet.id)
            pairs = search.select_versions(conn, fleet, scoped)
            result, changes = aliases.move(
                conn, fleet, name, pairs, actor=actor, where_text=where, source=source,
                dry_run=dry_run,
            )  # fmt: skip
            if not dry_run and result.moved:
                audit.record(
                    conn,
                    fleet.tenant_id,
                    actor,
                    "alias.promote",
                    fleet.path,
                    {
                        "alias": name,
                        "where": where,
                        "source": source,
                        "moved": result.moved,
                        "move": result.move_id,
                    },
                )
        return result, changes, source

    def undo(self, fleet: FleetRef, move_id: int, *, actor: str | None = None) -> Any:
        actor = actor or config.actor()
        with self.store.write() as conn:
            result = aliases.undo(conn, fleet, move_id, actor=actor)
            audit.record(
                conn,
                fleet.tenant_id,
                actor,
                "alias.undo",
                fleet.path,
                {"undone": move_id, "move": result.move_id, "moved": result.moved},
            )
        return result

    def describe_changes(
        self, fleet: FleetRef, changes: Sequence[tuple[int, int | None, int | None]], limit: int
    ) -> list[dict[str, Any]]:
        """Keys and version numbers for the first ``limit`` changes of a move (for previews)."""
        shown = list(changes[:limit])
        version_ids = {v for _, old, new in shown for v in (old, new) if v is not None}
        with self.store.read() as conn:
            numbers = {
                row.id: row.number
                for row in conn.execute(
                    sa.select(writes.versions.c.id, writes.versions.c.number).where(
                        writes.versions.c.id.in_(list(version_ids)),
                        writes.versions.c.tenant_id == fleet.tenant_id,
                    )
                )
            } if version_ids else {}  # fmt: skip
            keys = {
                row.id: [row._mapping[f"k{i}"] for i in range(len(fleet.keys))]
                for row in conn.execute(
                    sa.select(writes.models).where(
                        writes.models.c.id.in_([m for m, _, _ in shown]),
                        writes.models.c.tenant_id == fleet.tenant_id,
                    )
                )
            } if shown else {}  # fmt: skip
        return [
            {
                "key": dict(zip(fleet.keys, keys.get(m, []), strict=False)),
                "from": numbers.get(old) if old is not None else None,
                "to": numbers.get(new) if new is not None else None,
            }
            for m, old, new in shown
        ]


def check_alias(name: str) -> str:
    from shoal.store.tenancy import NAME

    if not isinstance(name, str) or not NAME.match(name) or name == "latest":
        raise InvalidInput(
            f"alias {name!r} is not a valid alias name: use lowercase letters, digits, '-' "
            "or '_' (e.g. 'production'); 'latest' is reserved",
            field="alias",
        )
    return name


def infer_source(fleet: FleetRef, where: str | None, target: str) -> str:
    """The version a promotion moves in: the one other alias the filter compares, else latest.

    ``promote("production", where="candidate.mape < production.mape")`` moves the
    candidate in; a filter on plain metrics promotes each model's latest version.
    """
    from shoal.store.filters import fields_of, parse

    owners = {
        f.parts[0]
        for f in fields_of(parse(where) if where else None)
        if len(f.parts) == 2 and f.parts[0] not in ("tags", "params", "metrics")
        and f.parts[0] not in fleet.keys
    }  # fmt: skip
    owners.discard(target)
    return owners.pop() if len(owners) == 1 else "latest"


def scope_for(fleet: FleetRef) -> Scope:
    return Scope(fleet.tenant)
