"""``client.datasets``: register data snapshots and ask which models they trained."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shoal import config, data
from shoal.sdk.results import Dataset
from shoal.store import audit
from shoal.store import datasets as store_datasets
from shoal.store.fleets import ensure_tenant
from shoal.store.tenancy import check_name, split_fleet_path
from shoal.store.writes import split_key_text

if TYPE_CHECKING:
    from shoal.sdk.client import Client


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
        actor = config.actor()
        with self._client._store.write() as conn:
            tenant_id = ensure_tenant(conn, self._client.scope, tenant)
            dataset_id, created = store_datasets.upsert(
                conn, tenant_id, name=short, fingerprint=fingerprint, schema=schema,
                row_count=table.num_rows, profile=profile, location=location, actor=actor,
            )  # fmt: skip
            if created:
                audit.record(conn, tenant_id, actor, "dataset.register", f"{tenant}/{short}",
                             {"id": dataset_id, "rows": table.num_rows})  # fmt: skip
            row = store_datasets.get(conn, self._client.scope, dataset_id)
        return Dataset.from_row(row)

    def get(self, dataset_id: int) -> Dataset:
        with self._client._store.read() as conn:
            return Dataset.from_row(store_datasets.get(conn, self._client.scope, dataset_id))

    def find(self, ref: str) -> list[Dataset]:
        """Datasets by name or fingerprint prefix (8+ hex characters)."""
        with self._client._store.read() as conn:
            return [Dataset.from_row(r) for r in store_datasets.find(conn, self._client.scope, ref)]

    def list(self, limit: int = 100) -> list[Dataset]:
        with self._client._store.read() as conn:
            rows = store_datasets.list_datasets(conn, self._client.scope, limit)
        return [Dataset.from_row(r) for r in rows]

    def models(self, dataset: Dataset | int, limit: int = 1000) -> list[dict[str, Any]]:
        """Versions trained on this dataset: one indexed query."""
        dataset_id = dataset.id if isinstance(dataset, Dataset) else dataset
        with self._client._store.read() as conn:
            rows = store_datasets.trained_on(conn, self._client.scope, dataset_id, limit)
        return [
            {
                "fleet": f"{row['tenant']}/{row['fleet']}",
                "key": dict(zip(row["dims"], split_key_text(row["key_text"]), strict=True)),
                "version": row["number"],
                "version_id": row["version_id"],
            }
            for row in rows
        ]


def raise_name(name: str) -> None:
    from shoal.errors import InvalidInput

    raise InvalidInput(
        f"name {name!r} must be 'tenant/name', e.g. 'grocer/sales-2026'", field="name"
    )
