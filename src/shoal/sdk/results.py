"""What the SDK hands back: small frozen records, easy to print, compare and serialise."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, overload

from shoal.sdk.times import iso


class Record(Protocol):
    """What every SDK record has: one ``to_dict()`` that JSON, REST and pages print."""

    def to_dict(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=Record)


@dataclass(frozen=True)
class ModelVersion:
    """One version of one model of a fleet, with its metrics, tags, aliases and lineage ids."""

    fleet: str
    key: dict[str, str]
    version: int
    id: int
    model_id: int
    status: str
    flavor: str
    artifact_sha256: str
    artifact_size: int
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    run_id: int | None = None
    dataset_id: int | None = None
    slice_fingerprint: str | None = None
    code_ref: str | None = None
    parent_version_id: int | None = None
    signature: dict[str, Any] | None = None
    created_by: str = ""
    created_at: float = 0.0

    @classmethod
    def from_row(cls, fleet: str, row: dict[str, Any]) -> ModelVersion:
        return cls(
            fleet=fleet, key=row["key"], version=row["number"], id=row["version_id"],
            model_id=row["model_id"], status=row["status"], flavor=row["flavor"],
            artifact_sha256=row["artifact_sha256"], artifact_size=row["artifact_size"],
            params=row["params"] or {}, metrics=row.get("metrics", {}),
            tags=row.get("tags", {}), aliases=row.get("aliases", []), run_id=row["run_id"],
            dataset_id=row["dataset_id"], slice_fingerprint=row["slice_fingerprint"],
            code_ref=row["code_ref"], parent_version_id=row["parent_version_id"],
            signature=row["signature"], created_by=row["created_by"],
            created_at=row["created_at"],
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["created_at"] = iso(self.created_at)
        return data


class Page(Sequence[T]):
    """One page of a listing: its records, and the cursor for the next page (or None).

    ``fleet.search`` answers ``Page[ModelVersion]`` with a text cursor, ``fleet.versions``
    the same with a version number as the cursor; ``to_dict()`` is what ``--json`` and
    REST print, ``{"items": [...], "next_cursor": ...}``.
    """

    def __init__(self, items: list[T], next_cursor: str | None) -> None:
        self.items = items
        self.next_cursor = next_cursor

    @classmethod
    def read_ahead(cls, items: list[T], limit: int, cursor: Callable[[T], Any]) -> Page[T]:
        """The first ``limit`` of ``items``, read ``limit + 1`` at a time from a keyset
        listing: the extra one says a next page exists, and ``cursor`` of the last one
        shown (an id, a version number) is where it starts."""
        shown = items[:limit]
        more = len(items) > limit and shown
        return cls(shown, str(cursor(shown[-1])) if more else None)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"Page({len(self.items)} items, next_cursor={self.next_cursor!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"items": [item.to_dict() for item in self.items], "next_cursor": self.next_cursor}


@dataclass(frozen=True)
class Registered:
    """Where one registered version landed."""

    key: dict[str, str]
    version: int
    id: int
    model_id: int


@dataclass(frozen=True)
class AliasMove:
    """The result of a bulk alias move: how many moved, and the id that undoes it."""

    fleet: str
    alias: str
    moved: int
    unchanged: int
    move_id: int | None
    dry_run: bool = False
    source: str | None = None
    skipped: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)
    creates: bool = False
    """The move starts an alias no model of the fleet carried (``create=True`` confirms it)."""
    notes: list[str] = field(default_factory=list)
    """What a person should read before confirming the move (a new alias, say)."""
    metric_change: list[dict[str, Any]] = field(default_factory=list)
    """A dry run's metric change, per metric: ``metric``, ``direction``, ``models``,
    ``mean_from``, ``mean_to``, ``mean_delta``, ``median_delta``, ``better``, ``worse``,
    ``same``, ``unmeasured``, ``new`` (each preview row has its own under ``metrics``), and
    ``sample``: True when the move selects too many models to compare them all in a dry
    run, so the figures cover only ``over`` (the first previewed models)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FleetInfo:
    """One fleet as listed: its path, key dimensions and the counts every write keeps."""

    tenant: str
    fleet: str
    keys: tuple[str, ...]
    models: int
    versions: int
    allow_pickle: bool = False
    description: str = ""
    created_at: float | None = None

    @property
    def path(self) -> str:
        return f"{self.tenant}/{self.fleet}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FleetInfo:
        return cls(
            tenant=row["tenant"], fleet=row["name"], keys=tuple(row["keys"] or ()),
            models=int(row["model_count"] or 0), versions=int(row["version_count"] or 0),
            allow_pickle=bool(row.get("allow_pickle")), description=row.get("description") or "",
            created_at=row.get("created_at"),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "tenant": self.tenant, "fleet": self.fleet,
            "keys": list(self.keys), "models": self.models, "versions": self.versions,
            "allow_pickle": self.allow_pickle, "description": self.description,
            "created_at": iso(self.created_at),
        }  # fmt: skip


@dataclass(frozen=True)
class TenantInfo:
    """One tenant rolled up over its fleets."""

    tenant: str
    fleets: int
    models: int
    versions: int

    @classmethod
    def roll_up(cls, fleets: Sequence[FleetInfo]) -> list[TenantInfo]:
        """Per tenant, sorted by name: how many fleets, models and versions it has."""
        totals: dict[str, list[int]] = {}
        for f in fleets:
            entry = totals.setdefault(f.tenant, [0, 0, 0])
            entry[0] += 1
            entry[1] += f.models
            entry[2] += f.versions
        return [cls(t, *totals[t]) for t in sorted(totals)]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Dataset:
    """A registered data snapshot: its fingerprint, schema, row count and profile."""

    id: int
    tenant: str
    name: str
    fingerprint: str
    row_count: int
    schema: list[dict[str, Any]]
    profile: dict[str, Any]
    location: str | None
    created_by: str
    created_at: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Dataset:
        return cls(
            id=row["id"], tenant=row["tenant"], name=row["name"],
            fingerprint=row["fingerprint"], row_count=row["row_count"], schema=row["schema"],
            profile=row["profile"], location=row["location"], created_by=row["created_by"],
            created_at=row["created_at"],
        )  # fmt: skip

    def to_dict(self, *, profile: bool = False) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["created_at"] = iso(self.created_at)
        if not profile:
            data.pop("profile")
        return data


@dataclass(frozen=True)
class EvalResult:
    """An evaluation of the versions at ``alias`` on a holdout (see :meth:`Fleet.evaluate`).

    ``evaluated`` counts keys scored (their metrics recorded on the version), ``skipped``
    keys of the data with no version at the alias, ``failed`` keys whose load or predict
    failed; ``errors`` holds up to 100 (key, error) pairs. ``summary`` is each metric's
    mean over the evaluated keys.
    """

    alias: str
    evaluated: int
    skipped: int
    failed: int
    errors: list[tuple[dict[str, str], str]] = field(default_factory=list)
    seconds: float = 0.0
    summary: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
