"""Versions: bulk registration, search, counts, facets, resolution, loading.

Registration keeps three promises together: artifacts are written (content addressed,
packed) before the metadata transaction, the metadata is one transaction per call, and
when that transaction fails the packs this call wrote are deleted again, so a failed
bulk call leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from shoal import faults
from shoal.artifacts import ArtifactStore, BlobRef
from shoal.errors import Conflict, InvalidInput, NotFound
from shoal.flavors import get_flavor
from shoal.registry._guards import check_id
from shoal.registry._part import Part, actor_of
from shoal.registry.lineage import code_ref as current_code_ref
from shoal.registry.lineage import lineage as store_lineage
from shoal.registry.records import Prepared, Preparer
from shoal.registry.runs import Lease, renew_in
from shoal.store import (
    aggregates,
    audit,
    distributions,
    facet_pages,
    reads,
    requests,
    search,
    serving,
    writes,
)
from shoal.store import blobs as stored_blobs
from shoal.store.engine import Store, lock_fleet
from shoal.store.query import Where
from shoal.store.schema import blobs as blobs_table
from shoal.store.schema import datasets as datasets_table
from shoal.store.schema import runs as runs_table
from shoal.store.schema import versions as versions_table
from shoal.store.tenancy import FleetRef, Scope
from shoal.store.vocabulary import names as vocabulary_names
from shoal.store.writes import Inserted

Row = dict[str, Any]


class Versions(Part):
    """A fleet's versions: written in bulk, read by query, loaded verified."""

    def __init__(self, store: Store, artifacts: Callable[[], ArtifactStore]) -> None:
        super().__init__(store)
        self._open_artifacts = artifacts

    @cached_property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, opened on first use."""
        return self._open_artifacts()

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
        if isinstance(items, str | bytes | dict) or not hasattr(items, "__iter__"):
            raise InvalidInput(
                f"register takes a list (or any iterable) of version dicts, got "
                f"{type(items).__name__}; wrap one version in a list",
                field="items",
            )
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
        lease: Lease | None = None,
    ) -> list[Inserted]:
        """Register records already validated by ``preparer(fleet)``, all or nothing.

        For callers that validate each record as it arrives (training checks every key's
        result on its own, so one bad metric fails its key, not its batch) and would
        otherwise validate and serialise every record twice. With ``lease`` (a training
        run's), the same transaction renews it, and registers nothing (raising
        :class:`~shoal.errors.Conflict`) once another process has taken the run over.
        """
        actor = actor_of(actor)
        if request_id is not None:
            requests.check_request_id(request_id)
        if not prepared:
            return []
        payloads = [p.payload for p in prepared]
        hashes = [hashlib.sha256(data).hexdigest() for data in payloads]
        call_digest = ""
        if request_id is not None:
            call_digest = requests.digest([p.row.key for p in prepared], hashes)
        with self._store.read() as conn:
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
        faults.point("register.artifacts_written")
        new_packs = {ref.pack for ref in refs if ref.pack and ref.sha256 not in known}
        for item, ref in zip(prepared, refs, strict=True):
            item.row.sha256 = ref.sha256
        try:
            with self._store.write() as conn:
                stored_blobs.lock_artifacts(conn, exclusive=False)  # first: see store.blobs
                if lease is not None:
                    renew_in(conn, lease)  # a take-over waits for this batch, or wins first
                if request_id is not None:
                    lock_fleet(conn, fleet.id)  # a concurrent retry waits here, then finds
                    earlier = requests.find(conn, fleet, request_id, call_digest)
                    if earlier is not None:  # a concurrent retry committed first
                        self._forget_packs(new_packs)
                        return earlier
                self._check_reused(conn, known, refs)
                writes.insert_blobs(conn, [ref for ref in refs if ref.sha256 not in known])
                placed = writes.insert_versions(conn, fleet, [p.row for p in prepared], actor=actor)
                if request_id is not None:
                    requests.record(conn, fleet, request_id, call_digest, placed)
                audit.record(
                    conn, fleet.tenant_id, actor, "register", fleet.path,
                    {"versions": len(placed), "models": len({p.model_id for p in placed}),
                     "request_id": request_id},
                )  # fmt: skip
                faults.point("register.before_commit")
        except BaseException:
            self._forget_packs(new_packs)
            raise
        self._store.refresh_statistics()
        return placed

    def _check_reused(self, conn: Any, known: dict[str, BlobRef], refs: list[BlobRef]) -> None:
        """Under the artifact lock: the blobs this call reuses rather than writes are still
        there (a ``shoal gc`` or a version delete may have removed them since it looked)."""
        gone = stored_blobs.missing_rows(conn, known) if known else set()
        singles = {ref.key for ref in refs if ref.pack is None and ref.sha256 not in known}
        if singles:
            gone |= singles - self.artifacts.backend.exists_many(singles)
        if gone:
            raise Conflict(
                f"{len(gone)} artifact(s) this call reuses were removed by a concurrent "
                "'shoal gc --apply' or version delete while it uploaded; nothing was "
                "registered: register again"
            )

    def _forget_packs(self, packs: set[str]) -> None:
        """Remove packs that only a rolled-back call referenced."""
        if not packs:
            return
        with self._store.read() as conn:
            still_used = {
                row.pack
                for row in conn.execute(
                    sa.select(blobs_table.c.pack).where(blobs_table.c.pack.in_(list(packs)))
                )
            }
        self.artifacts.delete_packs(packs - still_used)

    def _check_references(self, conn: Any, fleet: FleetRef, prepared: Sequence[Any]) -> None:
        """Runs, datasets and parents named by the records must exist in this tenant."""
        for table, attr, what in (
            (runs_table, "run_id", "run"),
            (datasets_table, "dataset_id", "dataset"),
            (versions_table, "parent_version_id", "parent version"),
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

    def search(
        self,
        fleet: FleetRef,
        *,
        where: Where = None,
        sort: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        versions: str = "latest",
    ) -> tuple[list[Row], str | None]:
        """One page of versions matching ``where`` in ``sort`` order, and the next cursor."""
        with self._store.read() as conn:
            return search.search(
                conn, fleet, where=where, sort=sort, limit=limit, cursor=cursor,
                versions_scope=versions,
            )  # fmt: skip

    def count(self, fleet: FleetRef, *, where: Where = None, versions: str = "latest") -> int:
        with self._store.read() as conn:
            return aggregates.count(conn, fleet, where=where, versions_scope=versions)

    def facets(
        self,
        fleet: FleetRef,
        dim: str,
        *,
        where: Where = None,
        limit: int = 100,
        versions: str = "latest",
    ) -> dict[str, int]:
        with self._store.read() as conn:
            return aggregates.facets(
                conn, fleet, dim, where=where, limit=limit, versions_scope=versions
            )

    def facet_page(
        self, fleet: FleetRef, dim: str, *, where: Where = None, limit: int = 10,
        search: str | None = None, cursor: str | None = None, order: str = "count",
        versions: str = "latest",
    ) -> tuple[list[tuple[str, int]], str | None]:  # fmt: skip
        """A page of a key's or tag's values with their model counts, and the next cursor."""
        with self._store.read() as conn:
            return facet_pages.facet_page(
                conn, fleet, dim, where=where, limit=limit, search=search, cursor=cursor,
                order=order, versions_scope=versions,
            )  # fmt: skip

    def tag_values(self, fleet: FleetRef, tag: str, limit: int) -> list[str]:
        """A tag's distinct values, sorted (one index seek per value, no counting)."""
        with self._store.read() as conn:
            return facet_pages.tag_values(conn, fleet, tag, limit)

    def names(self, fleet: FleetRef) -> dict[str, list[str]]:
        """The fleet's vocabulary: ``metrics`` (any version), ``latest_metrics`` (some
        model's latest version) and ``tags``, each sorted; index seeks, no scan."""
        with self._store.read() as conn:
            return {"metrics": vocabulary_names(conn, fleet.id, "metric"),
                    "latest_metrics": facet_pages.latest_metrics(conn, fleet),
                    "tags": vocabulary_names(conn, fleet.id, "tag")}  # fmt: skip

    def histogram(
        self, fleet: FleetRef, metric: str, *, bins: int, where: Where = None,
        versions: str = "latest",
    ) -> dict[str, Any]:  # fmt: skip
        """Equal-width bins of a metric over the versions ``where`` selects, counted in SQL."""
        with self._store.read() as conn:
            return distributions.filtered_histogram(
                conn, fleet, metric, where, bins=bins, versions_scope=versions
            )

    def resolve(
        self, fleet: FleetRef, key: Any, *, alias: str | None = None, version: int | None = None
    ) -> Row:
        with self._store.read() as conn:
            return reads.resolve(
                conn, fleet, reads.normalize_key(fleet, key), alias=alias, version=version
            )

    def history(
        self, fleet: FleetRef, key: Any, *, limit: int | None = None, before: int | None = None
    ) -> list[Row]:
        """One model's versions, newest first (``limit`` of them numbered below ``before``)."""
        with self._store.read() as conn:
            return reads.model_versions(
                conn, fleet, reads.normalize_key(fleet, key), limit=limit, before=before
            )

    def get(self, scope: Scope, version_id: int) -> tuple[FleetRef, Row]:
        """A version by id, with the fleet it belongs to (NotFound outside ``scope``)."""
        check_id(version_id, "version_id")
        with self._store.read() as conn:
            return reads.get_version(conn, scope, version_id)

    def baseline(self, scope: Scope, version_id: int) -> dict[str, Any] | None:
        with self._store.read() as conn:
            return reads.baseline(conn, scope, version_id)

    def lineage(self, scope: Scope, version_id: int) -> dict[str, Any]:
        """Which dataset snapshot, key slice, run and code produced a version."""
        with self._store.read() as conn:
            return store_lineage(conn, scope, version_id)

    def model_id(self, fleet: FleetRef, key: Any) -> int:
        """The id of the model ``key`` names (NotFound when the fleet has none)."""
        with self._store.read() as conn:
            return reads.model_id(conn, fleet, reads.normalize_key(fleet, key))

    def at_alias(self, fleet: FleetRef, alias: str) -> dict[tuple[str, ...], Row]:
        """Every model's version at ``alias``, by key, with its blob's location: one query."""
        with self._store.read() as conn:
            return reads.versions_at_alias(conn, fleet, alias)

    def for_keys(
        self,
        fleet: FleetRef,
        keys: Sequence[tuple[str, ...]],
        *,
        alias: str | None = None,
        numbers: Sequence[int] | None = None,
    ) -> dict[tuple[str, ...], Row]:
        """Each key's version at ``alias`` (or numbered ``numbers[i]``), with its location."""
        with self._store.read() as conn:
            return serving.versions_for_keys(conn, fleet, keys, alias=alias, numbers=numbers)

    def alias_generation(self, fleet: FleetRef) -> int:
        """The fleet's newest alias move id: a server's cache is stale when it grows."""
        with self._store.read() as conn:
            return serving.alias_generation(conn, fleet)

    def record_evaluation(
        self,
        fleet: FleetRef,
        rows: Sequence[tuple[int, int, dict[str, float]]],
        names: Sequence[str],
        *,
        alias: str,
    ) -> None:
        """Replace the evaluation metrics ``names`` of the scored versions: one transaction."""
        with self._store.write() as conn:
            writes.replace_metrics(conn, fleet, list(rows), list(names))
            audit.record(
                conn, fleet.tenant_id, actor_of(), "evaluate", fleet.path,
                {"alias": alias, "versions": len(rows), "metrics": list(names)},
            )  # fmt: skip
            faults.point("evaluate.before_commit")

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
        with self._store.read() as conn:
            found = writes.blob_locations(conn, [sha256]).get(sha256)
        ref = (
            BlobRef(sha256, found.size, found.pack, found.offset)
            if found is not None
            else self.artifacts.locate(sha256)
        )
        return self.artifacts.get(ref)
