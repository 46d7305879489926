"""What happened to a fleet, as records: runs, alias moves, and where a version came from.

Each record is built once here from the registry's row and printed everywhere through its
``to_dict()`` (the CLI's ``--json``, REST, the pages), with times as ISO 8601 UTC
(:mod:`shoal.sdk.times`), so the three entry points cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.sdk.times import iso


@dataclass(frozen=True)
class TrainFailure:
    """One key a training run could not train: the error, its traceback, the attempts made."""

    key: dict[str, str]
    error: str
    traceback: str
    attempts: int


def _number(value: Any) -> float | None:
    """A figure of the run's counts as a float; None when it is not a number."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(counts: dict[str, Any], name: str, kind: str) -> int | None:
    """A training run's key count (0 until it records one); None for a kind that trains
    no keys (a monitoring pass), so JSON says "not counted" rather than zero."""
    value = counts.get(name)
    if value is None:
        return 0 if kind == "train" else None
    return int(value)


def _seconds(value: Any) -> float | None:
    """A run's time in all: its ``seconds``, or the sum of its stages' (a monitoring pass
    times each stage, one after the other)."""
    if isinstance(value, dict):
        stages = [_number(v) for v in value.values()]
        return round(sum(s for s in stages if s is not None), 3) if value else None
    return _number(value)


@dataclass(frozen=True)
class Run:
    """A run over a fleet (``train``, ``evaluate``, ``monitor``, ...): status and counts.

    ``keys``, ``done``, ``failed`` and ``skipped`` are a training run's keys: with a version
    from this run, whose last attempt failed, found already done by a resume (None for a
    kind that trains none). ``seconds``
    is its time in all (the sum of the stages for a kind that times each, such as a
    monitoring pass); ``counts`` holds every figure the run recorded as it went.
    ``errors`` holds up to 100 per-key failures where they were asked for
    (``client.run(id)``), none in a listing.

    A run a process is working on is held by a lease: ``lease_holder`` names that process
    (``host:pid:token``), ``lease_expires_at`` says until when it holds the run unless it
    renews. A ``running`` run whose lease expired (its process died) reads as
    ``interrupted``, and a resume takes it up; a finished run holds no lease.
    """

    id: int
    fleet: str | None
    kind: str
    status: str
    keys: int | None
    done: int | None
    failed: int | None
    skipped: int | None
    seconds: float | None
    key_seconds_p50: float | None
    key_seconds_max: float | None
    dataset_id: int | None
    code_ref: str | None
    error: str | None
    created_by: str
    started_at: float
    finished_at: float | None
    resumes: int = 0
    errors: list[TrainFailure] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    """How it was started: for training ``by``, ``executor``, ``workers``, ``max_retries``,
    ``fn`` (its ``module:function`` name, None for a lambda or closure), ``data`` (the
    Parquet path, None for a frame in memory), ``dataset``."""
    counts: dict[str, Any] = field(default_factory=dict)
    lease_holder: str | None = None
    lease_expires_at: float | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any], errors: Sequence[TrainFailure] = ()) -> Run:
        counts = dict(row["counts"] or {})
        params = dict(row["params"] or {})
        fleet = f"{row['tenant']}/{row['fleet']}" if row.get("fleet") else None
        return cls(
            id=row["id"], fleet=fleet, kind=row["kind"], status=row["status"],
            keys=_count(counts, "keys", row["kind"]), done=_count(counts, "done", row["kind"]),
            failed=_count(counts, "failed", row["kind"]),
            skipped=_count(counts, "skipped", row["kind"]),
            seconds=_seconds(counts.get("seconds")),
            key_seconds_p50=_number(counts.get("key_seconds_p50")),
            key_seconds_max=_number(counts.get("key_seconds_max")),
            dataset_id=params.get("dataset"), code_ref=row["code_ref"], error=row["error"],
            created_by=row.get("created_by") or "", started_at=row["started_at"],
            finished_at=row["finished_at"], resumes=int(counts.get("resumes") or 0),
            errors=list(errors), params=params, counts=counts,
            lease_holder=row.get("lease_holder"), lease_expires_at=row.get("lease_expires_at"),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["started_at"] = iso(self.started_at)
        data["finished_at"] = iso(self.finished_at)
        data["lease_expires_at"] = iso(self.lease_expires_at)
        return data


@dataclass(frozen=True)
class MoveRecord:
    """One bulk alias move as the fleet's history keeps it; ``undo`` takes its ``id``."""

    id: int
    fleet: str
    alias: str
    moved: int
    source: str | None
    where: str | None
    """The filter that chose the models, as it was written."""
    undo_of: int | None
    undone_by: int | None
    actor: str
    at: float

    @classmethod
    def from_row(cls, fleet: str, row: dict[str, Any]) -> MoveRecord:
        return cls(
            id=row["id"], fleet=fleet, alias=row["alias"], moved=int(row["moved"]),
            source=row["source"], where=row["where_text"], undo_of=row["undo_of"],
            undone_by=row["undone_by"], actor=row["actor"], at=row["at"],
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["at"] = iso(self.at)
        return data


@dataclass(frozen=True)
class LineageRun:
    """The run that registered a version."""

    id: int
    kind: str
    status: str
    started_at: float
    finished_at: float | None
    code_ref: str | None
    created_by: str


@dataclass(frozen=True)
class LineageDataset:
    """The registered snapshot a version trained on."""

    id: int
    name: str
    fingerprint: str
    row_count: int
    location: str | None
    schema: list[dict[str, Any]]
    created_at: float


@dataclass(frozen=True)
class LineageParent:
    """The version a version was derived from; ``missing`` once it can no longer be read."""

    version_id: int
    version: int | None = None
    key: dict[str, str] | None = None
    missing: bool = False


@dataclass(frozen=True)
class Lineage:
    """Which dataset snapshot, key slice, run, code and parent produced one version.

    Fingerprints are content hashes: equal dataset and slice fingerprints mean the two
    versions trained on identical rows.
    """

    version_id: int
    fleet: str
    key: dict[str, str]
    version: int
    flavor: str
    artifact_sha256: str
    code_ref: str | None
    slice_fingerprint: str | None
    params: dict[str, Any]
    metrics: dict[str, float]
    created_at: float
    created_by: str
    run: LineageRun | None = None
    dataset: LineageDataset | None = None
    parent: LineageParent | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lineage:
        """From the registry's lineage read (``registry.versions.lineage``)."""
        run, dataset, parent = data["run"], data["dataset"], data["parent"]
        return cls(
            version_id=data["version_id"], fleet=data["fleet"], key=data["key"],
            version=data["version"], flavor=data["flavor"],
            artifact_sha256=data["artifact_sha256"], code_ref=data["code_ref"],
            slice_fingerprint=data["slice_fingerprint"], params=data["params"] or {},
            metrics=data["metrics"] or {}, created_at=data["created_at"],
            created_by=data["created_by"],
            run=LineageRun(**run) if run else None,
            dataset=LineageDataset(**dataset) if dataset else None,
            parent=LineageParent(**parent) if parent else None,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["created_at"] = iso(self.created_at)
        if data["run"]:
            data["run"]["started_at"] = iso(self.run.started_at if self.run else None)
            data["run"]["finished_at"] = iso(self.run.finished_at if self.run else None)
        if data["dataset"]:
            data["dataset"]["created_at"] = iso(self.dataset.created_at if self.dataset else None)
        return data
