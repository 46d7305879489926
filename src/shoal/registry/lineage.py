"""Where a version came from: run, dataset snapshot, its key's slice, code, parent."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from shoal.errors import NotFound
from shoal.store import datasets, reads, runs
from shoal.store.tenancy import Scope


def code_ref(path: str | None = None) -> str | None:
    """``git:<commit>`` of the working directory, ``+dirty`` with uncommitted changes."""
    return _code_ref(str(Path(path or ".").resolve()))


@lru_cache(maxsize=8)
def _code_ref(path: str) -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path, capture_output=True, text=True, timeout=5,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    suffix = "+dirty" if dirty.stdout.strip() else ""
    return f"git:{head.stdout.strip()}{suffix}"


def lineage(conn: Connection, scope: Scope, version_id: int) -> dict[str, Any]:
    """Everything recorded about how one version was made, in a handful of point reads."""
    fleet, version = reads.get_version(conn, scope, version_id)
    out: dict[str, Any] = {
        "version_id": version["version_id"],
        "fleet": fleet.path,
        "key": version["key"],
        "version": version["number"],
        "flavor": version["flavor"],
        "artifact_sha256": version["artifact_sha256"],
        "code_ref": version["code_ref"],
        "slice_fingerprint": version["slice_fingerprint"],
        "params": version["params"],
        "metrics": version["metrics"],
        "created_at": version["created_at"],
        "created_by": version["created_by"],
        "run": None,
        "dataset": None,
        "parent": None,
    }
    if version["run_id"] is not None:
        run = runs.get(conn, scope, version["run_id"])
        out["run"] = {k: run[k] for k in ("id", "kind", "status", "started_at", "finished_at",
                                          "code_ref", "created_by")}  # fmt: skip
    if version["dataset_id"] is not None:
        data = datasets.get(conn, scope, version["dataset_id"])
        out["dataset"] = {k: data[k] for k in ("id", "name", "fingerprint", "row_count",
                                               "location", "schema", "created_at")}  # fmt: skip
    if version["parent_version_id"] is not None:
        try:
            _, parent = reads.get_version(conn, scope, version["parent_version_id"])
            out["parent"] = {"version_id": parent["version_id"], "version": parent["number"],
                             "key": parent["key"]}  # fmt: skip
        except NotFound:
            out["parent"] = {"version_id": version["parent_version_id"], "missing": True}
    return out
