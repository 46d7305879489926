"""The training input as a registered dataset: what every version of the run names.

A frame or a Parquet file is fingerprinted and profiled whole (``shoal.data``), exactly as
``client.datasets.register`` does, so registering the same frame by hand finds the same
record. A Parquet folder is read one file at a time: its fingerprint is the SHA-256 of the
files' fingerprints in path order (any changed cell still changes it, but it differs from
``fingerprint()`` of the concatenated table), and its profile records rows and files only;
the per-key baselines stored with each version are exact either way.
"""

from __future__ import annotations

import hashlib

from shoal import config, data
from shoal.registry import FleetRef, Registry, Scope
from shoal.train._source import Source, TableSource

_MAGIC = b"shoal.partitions.v1\0"


def register_input(registry: Registry, fleet: FleetRef, source: Source, name: str) -> int:
    """Record the input as dataset ``name`` of the fleet's tenant; returns its id."""
    if isinstance(source, TableSource):
        table = source.table
        fingerprint = data.fingerprint(table)
        rows, profile = table.num_rows, data.profile(table)
    else:
        digest = hashlib.sha256(_MAGIC)
        rows = files = 0
        for part in source.files():
            digest.update(bytes.fromhex(data.fingerprint(part)))
            rows += part.num_rows
            files += 1
        fingerprint = digest.hexdigest()
        profile = {"version": 1, "rows": rows, "files": files, "columns": {}}
    schema = [
        {"name": f.name, "type": str(f.type), "nullable": bool(f.nullable)} for f in source.schema
    ]
    dataset_id, _ = registry.datasets.register(
        Scope(fleet.tenant), fleet.tenant, name, fingerprint=fingerprint, schema=schema,
        row_count=rows, profile=profile, location=source.location, actor=config.actor(),
    )  # fmt: skip
    return dataset_id
