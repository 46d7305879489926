"""``client.datasets``: register data snapshots and ask which models they trained."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, NoReturn

from shoal import config, data
from shoal.registry import check_limit, check_name, split_fleet_path, split_key_text
from shoal.sdk.results import Dataset

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
