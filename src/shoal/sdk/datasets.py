"""``client.datasets``: register data snapshots and ask which models they trained."""

from __future__ import annotations

import builtins
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from shoal import config, data
from shoal.registry import (
    check_before,
    check_id,
    check_limit,
    check_name,
    split_fleet_path,
    split_key_text,
)
from shoal.sdk.results import Dataset, Page
from shoal.sdk.times import iso

if TYPE_CHECKING:
    from shoal.sdk.client import Client


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset as a listing shows it: the snapshot, and how many versions trained on it
    (counted in the same query as the page, up to a cap: ``trained_exact`` is False when
    more than ``trained`` did; the dataset's page lists them all)."""

    dataset: Dataset
    trained: int
    trained_exact: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {**self.dataset.to_dict(), "trained": self.trained,
                "trained_exact": self.trained_exact}  # fmt: skip


@dataclass(frozen=True)
class TrainedVersion:
    """A version trained on a dataset (one row of its reverse lineage)."""

    fleet: str
    key: dict[str, str]
    version: int
    version_id: int
    created_at: float
    created_by: str
    run_id: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TrainedVersion:
        return cls(
            fleet=f"{row['tenant']}/{row['fleet']}",
            key=dict(zip(row["dims"], split_key_text(row["key_text"]), strict=True)),
            version=row["number"], version_id=row["version_id"], created_at=row["created_at"],
            created_by=row["created_by"], run_id=row["run_id"],
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["created_at"] = iso(self.created_at)
        return out


class Datasets:
    """Dataset snapshots of the client's tenants, reached as ``client.datasets``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def register(
        self, frame: Any, *, name: str, location: str | None = None, bins: int = 10
    ) -> Dataset:
        """Fingerprint and profile ``frame`` (pandas, polars or Arrow) and record it.

        ``name`` is ``"tenant/name"``. The fingerprint covers every row and column, so
        registering the same data again returns the same record, and any changed cell
        makes a new one.
        """
        tenant, short = split_fleet_path(name) if "/" in str(name) else (None, name)
        if tenant is None:
            tenant = self._client.scope.tenant
            if tenant is None:
                raise_name(name)
        check_name(short, "name")
        table = data.to_arrow(frame)
        fingerprint = data.fingerprint(table)
        schema = data.schema_of(table)
        profile = data.profile(table, bins=bins)
        registry, scope = self._client.registry, self._client.scope
        dataset_id, _ = registry.datasets.register(
            scope, tenant, short, fingerprint=fingerprint, schema=schema,
            row_count=table.num_rows, profile=profile, location=location, actor=config.actor(),
        )  # fmt: skip
        return Dataset.from_row(registry.datasets.get(scope, dataset_id))

    def get(self, dataset_id: int) -> Dataset:
        return Dataset.from_row(self._client.registry.datasets.get(self._client.scope, dataset_id))

    def find(self, ref: str) -> list[Dataset]:
        """Datasets by name or fingerprint prefix (8+ hex characters)."""
        rows = self._client.registry.datasets.find(self._client.scope, ref)
        return [Dataset.from_row(r) for r in rows]

    def list(self, limit: int = 100) -> list[Dataset]:
        rows = self._client.registry.datasets.list(self._client.scope, check_limit(limit))
        return [Dataset.from_row(r) for r in rows]

    def page(
        self, tenant: str | None = None, limit: int = 50, *, before: int | None = None
    ) -> Page[DatasetEntry]:
        """A page of datasets newest first (of ``tenant``; the client's scope decides whose
        it may see), each with how many versions trained on it: ``limit`` of them with an
        id below ``before``; ``next_cursor`` is the ``before`` of the next page."""
        if tenant is not None:
            check_name(tenant, "tenant")
        rows = self._client.registry.datasets.page(
            self._client.scope, tenant, check_limit(limit) + 1, check_before(before)
        )
        entries = [DatasetEntry(Dataset.from_row(r), r["trained"], r["trained_exact"])
                   for r in rows]  # fmt: skip
        return Page.read_ahead(entries, limit, lambda e: e.dataset.id)

    def trained(
        self, dataset: Dataset | int, limit: int = 50, *, before: int | None = None
    ) -> Page[TrainedVersion]:
        """A page of the versions trained on ``dataset``, newest first: one query on the
        versions' (dataset_id, id) index, whatever the fleet's size. ``next_cursor`` is
        the ``before`` (a version id) of the next page."""
        dataset_id = dataset.id if isinstance(dataset, Dataset) else check_id(dataset, "dataset")
        rows = self._client.registry.datasets.trained_page(
            self._client.scope, dataset_id, check_limit(limit) + 1, check_before(before)
        )
        found = [TrainedVersion.from_row(r) for r in rows]
        return Page.read_ahead(found, limit, lambda v: v.version_id)

    def models(self, dataset: Dataset | int, limit: int = 1000) -> builtins.list[dict[str, Any]]:
        """Versions trained on this dataset: one indexed query."""
        dataset_id = dataset.id if isinstance(dataset, Dataset) else dataset
        rows = self._client.registry.datasets.trained_on(
            self._client.scope, dataset_id, check_limit(limit)
        )
        return [
            {
                "fleet": f"{row['tenant']}/{row['fleet']}",
                "key": dict(zip(row["dims"], split_key_text(row["key_text"]), strict=True)),
                "version": row["number"],
                "version_id": row["version_id"],
            }
            for row in rows
        ]


def raise_name(name: str) -> NoReturn:
    from shoal.errors import InvalidInput

    raise InvalidInput(
        f"name {name!r} must be 'tenant/name', e.g. 'grocer/sales-2026'", field="name"
    )
