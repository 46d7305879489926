"""``gc`` and ``verify``: the artifact store checked against the metadata, store-wide.

Both are operator commands (the artifact store is shared by every tenant: identical
bytes are stored once).

**gc** removes what no version needs: packs none of whose blobs a version uses (a pack
with one used blob is kept whole: packs are never rewritten), single objects no version
uses, partial writes a killed process left (local folders), and ``blobs`` rows no version
uses. Nothing younger than the grace period is removed, because a registration writes
its packs first and its metadata after (``Versions.register``): a pack that no row names
yet may be one a live registration is about to reference. The grace period
(``SHOAL_GC_GRACE_SECONDS``, a day by default) must be longer than any registration
takes. Removal re-checks references under the artifact lock (``store.blobs``), in
batches, so a registration that reuses a blob meanwhile either lands first (its blob is
kept) or fails cleanly and can be retried.

**verify** re-reads every blob the store records, each pack front to back in a few
ranged reads, and hashes it; it reports the blobs that are missing or changed, with the
versions that use them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shoal import config
from shoal.artifacts import (
    ArtifactStore,
    BlobRef,
    Inventory,
    Problem,
    check_group,
    delete_objects,
    inventory,
)
from shoal.errors import InvalidInput, NotFound
from shoal.registry._part import Part, actor_of
from shoal.store import audit
from shoal.store import blobs as stored
from shoal.store.engine import Store
from shoal.store.tenancy import Scope

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``: a stage's name, its count so far, and its total
(None while unknown); called as the work advances, from the calling thread."""

BATCH = 1000
"""Files removed per transaction: short holds of the artifact lock."""
READERS = 8
"""Packs read at once by verify (object stores answer ranged reads in parallel)."""


@dataclass
class GcReport:
    """What gc found and removed (or, unless ``applied``, would remove): counts by kind,
    ``bytes`` in all, and every file in ``items`` (kind, key, bytes, age). Unused files
    younger than ``grace_seconds`` are kept (``kept_young``); packs with any blob in use
    are kept whole (``packs_in_use``). ``client.gc`` returns it."""

    applied: bool
    grace_seconds: float
    packs: int = 0
    objects: int = 0
    temporary: int = 0
    rows: int = 0
    bytes: int = 0
    kept_young: int = 0
    """Unused files younger than the grace period (or of unknown age): kept."""
    kept_young_bytes: int = 0
    kept_in_use: int = 0
    """Files removal found in use when it re-checked (a registration reused them)."""
    packs_in_use: int = 0
    objects_in_use: int = 0
    files: int = 0
    """Files listed."""
    items: list[dict[str, Any]] = field(default_factory=list)
    """Every file removed (or to remove): kind, key, bytes, age in seconds."""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class VerifyReport:
    """What verify read (``blobs``, ``bytes``, ``packs``, ``objects``) and each blob that
    failed, in ``bad``: its sha256, ``problem`` (``missing`` or ``corrupt``), where it
    lies, and up to 20 ``versions`` that use it. ``client.verify`` returns it."""

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


class Housekeeping(Part):
    """Store-wide maintenance of the artifact store against the metadata."""

    def __init__(self, store: Store, artifacts: Callable[[], ArtifactStore]) -> None:
        super().__init__(store)
        self._open_artifacts = artifacts

    # -- gc -----------------------------------------------------------------------------------

    def gc(
        self,
        scope: Scope,
        *,
        grace_seconds: float | None = None,
        apply: bool = False,
        actor: str | None = None,
        progress: Progress | None = None,
    ) -> GcReport:
        """Find, and with ``apply`` remove, what no version uses and is older than grace."""
        stored.require_operator(scope, "gc")
        grace = config.gc_grace_seconds() if grace_seconds is None else _check_grace(grace_seconds)
        report = progress or _quiet
        started = time.time()
        cutoff = started - grace
        artifacts = self._open_artifacts()
        report("listing", 0, None)
        found = inventory(artifacts)
        report("listing", found.files, found.files)
        with self._store.read() as conn:
            in_packs = stored.referenced_packs(conn, scope)
            in_objects = stored.used(conn, found.objects)
            orphans = stored.orphan_rows(conn, scope, cutoff)
        outcome = GcReport(apply, grace, files=found.files)
        outcome.packs_in_use = len(in_packs & set(found.packs))
        outcome.objects_in_use = len(in_objects)
        candidates = _candidates(found, in_packs, in_objects, cutoff, started, outcome)
        doomed = {r[0] for r in orphans}
        if apply:
            removed = self._remove(scope, artifacts, candidates, doomed, report)
            outcome.kept_in_use = len(candidates) - len(removed)
            candidates = removed
            with self._store.write() as conn:
                audit.record(
                    conn, None, actor_of(actor), "gc", "artifacts",
                    {"grace_seconds": grace, "packs": sum(c["kind"] == "pack" for c in removed),
                     "objects": sum(c["kind"] == "object" for c in removed),
                     "temporary": sum(c["kind"] == "temporary" for c in removed),
                     "rows": len(doomed), "bytes": sum(c["bytes"] for c in removed)},
                )  # fmt: skip
        outcome.items = candidates
        outcome.rows = len(doomed)
        for kind in ("pack", "object", "temporary"):
            n = sum(item["kind"] == kind for item in candidates)
            setattr(outcome, {"pack": "packs", "object": "objects"}.get(kind, kind), n)
        outcome.bytes = sum(item["bytes"] for item in candidates)
        outcome.seconds = time.time() - started
        return outcome

    def _remove(
        self,
        scope: Scope,
        artifacts: ArtifactStore,
        candidates: list[dict[str, Any]],
        doomed: set[str],
        report: Progress,
    ) -> list[dict[str, Any]]:
        """Remove the candidates in batches, each re-checked under the artifact lock;
        then the unused rows. Returns the candidates removed. ``doomed`` ends up holding
        every row removed."""
        removed: list[dict[str, Any]] = []
        report("removing", 0, len(candidates))
        rows_dropped: set[str] = set()
        for start in range(0, len(candidates), BATCH):
            batch = candidates[start : start + BATCH]
            packs = [c["id"] for c in batch if c["kind"] == "pack"]
            objects = [c["id"] for c in batch if c["kind"] == "object"]
            with self._store.write() as conn:
                stored.lock_artifacts(conn, exclusive=True)
                rows = stored.rows_for(conn, shas=objects, packs=packs)
                busy = stored.used(conn, [r.sha256 for r in rows] + objects)
                held = {r.pack for r in rows if r.sha256 in busy and r.pack} | (busy & set(objects))
                stored.drop_rows(conn, [r.sha256 for r in rows if r.sha256 not in busy])
                rows_dropped.update(r.sha256 for r in rows if r.sha256 not in busy)
                going = [c for c in batch if c["id"] not in held]
                artifacts.delete_packs([c["id"] for c in going if c["kind"] == "pack"])
                delete_objects(artifacts, [c["id"] for c in going if c["kind"] == "object"])
                artifacts.backend.delete_temporary(
                    [c["key"] for c in going if c["kind"] == "temporary"]
                )
            removed += going
            report("removing", start + len(batch), len(candidates))
        leftover = sorted(doomed - rows_dropped)
        for start in range(0, len(leftover), BATCH * 5):
            with self._store.write() as conn:
                stored.lock_artifacts(conn, exclusive=True)
                unused = stored.unused(conn, leftover[start : start + BATCH * 5])
                stored.drop_rows(conn, unused)
                rows_dropped.update(unused)
        doomed.clear()
        doomed.update(rows_dropped)
        return removed

    # -- verify -------------------------------------------------------------------------------

    def verify(self, scope: Scope, *, progress: Progress | None = None) -> VerifyReport:
        """Re-read and hash every blob the store records; report the ones that fail."""
        stored.require_operator(scope, "verify")
        report = progress or _quiet
        started = time.time()
        artifacts = self._open_artifacts()
        outcome = VerifyReport()
        problems: list[Problem] = []
        with self._store.read() as conn:
            _, total_bytes = stored.stored_totals(conn, scope)
            report("verifying", 0, total_bytes)
            groups = (_refs(rows) for rows in stored.stored_by_pack(conn, scope))
            for refs, found in _checked(artifacts, groups):
                problems += found
                outcome.blobs += len(refs)
                outcome.bytes += sum(r.size for r in refs)
                if refs[0].pack is None:
                    outcome.objects += len(refs)
                else:
                    outcome.packs += 1
                report("verifying", outcome.bytes, total_bytes)
            unrecorded = stored.unrecorded(conn, scope)
        for sha in unrecorded:  # versions whose blob has no row: look for it in the packs
            try:
                ref = artifacts.locate(sha)
            except NotFound:
                problems.append(Problem(BlobRef(sha, 0), "missing", "(not in any pack or object)"))
                continue
            problems += check_group(artifacts, [ref])
            outcome.blobs += 1
            outcome.bytes += ref.size
        if problems:
            with self._store.read() as conn:
                using = stored.users(conn, scope, [p.ref.sha256 for p in problems])
            outcome.bad = [
                {"sha256": p.ref.sha256, "problem": p.kind, "where": p.key, "size": p.ref.size,
                 "pack": p.ref.pack, "offset": p.ref.offset, "versions": using[p.ref.sha256]}
                for p in problems
            ]  # fmt: skip
        outcome.seconds = time.time() - started
        return outcome


def _candidates(
    found: Inventory,
    in_packs: set[str],
    in_objects: set[str],
    cutoff: float,
    now: float,
    outcome: GcReport,
) -> list[dict[str, Any]]:
    """Unused files old enough to remove, as report items; counts the young ones kept."""
    unused: list[tuple[str, str, str, int, float | None]] = [
        ("pack", pack.id, pack.keys[-1], pack.size, pack.modified)
        for pack in found.packs.values()
        if pack.id not in in_packs
    ]
    unused += [
        ("object", sha, info.key, info.size, info.modified)
        for sha, info in found.objects.items()
        if sha not in in_objects
    ]
    unused += [("temporary", i.key, i.key, i.size, i.modified) for i in found.temporary]
    out = []
    for kind, ident, key, size, modified in unused:
        if modified is None or modified >= cutoff:
            outcome.kept_young += 1
            outcome.kept_young_bytes += size
            continue
        out.append({"kind": kind, "id": ident, "key": key, "bytes": size,
                    "age_seconds": round(now - modified, 1)})  # fmt: skip
    return out


def _refs(rows: Sequence[Any]) -> list[BlobRef]:
    return [BlobRef(r.sha256, int(r.size), r.pack, int(r.offset)) for r in rows]


def _checked(
    artifacts: ArtifactStore, groups: Iterator[list[BlobRef]]
) -> Iterator[tuple[list[BlobRef], list[Problem]]]:
    """Check groups on a few threads, at most ``2 * READERS`` in flight, in order."""
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        pending: list[tuple[list[BlobRef], Future[list[Problem]]]] = []
        for refs in groups:
            pending.append((refs, pool.submit(check_group, artifacts, refs)))
            if len(pending) >= 2 * READERS:
                refs, job = pending.pop(0)
                yield refs, job.result()
        for refs, job in pending:
            yield refs, job.result()


def _check_grace(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(
            f"grace_seconds must be a number of seconds >= 0, got {value!r}", field="grace"
        )
    if value < 0:
        raise InvalidInput(
            f"grace_seconds must be a number of seconds >= 0, got {value!r}", field="grace"
        )
    return float(value)


def _quiet(stage: str, done: int, total: int | None) -> None:
    return None
