"""Every benchmark's ``--quick`` mode, end to end: a benchmark that breaks fails the build.

Each runs as ``python benchmarks/bench_<name>.py --quick`` in a subprocess (as a person runs
it), into a temporary work folder, and must exit 0, print its table, and record in its
``results.json`` the rows it exists for. Quick mode runs the comparator too (MLflow or
Evidently, each in its own venv under ``benchmarks/.envs`` or ``$SHOAL_BENCH_ENVS``,
built on first use: about a minute each, then reused), so that side cannot rot either.
When a comparator's venv cannot be built here (no package registry), Shoal's side is
still checked and the test is then reported as skipped, naming the comparator and why;
a comparator that installs but fails is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

# benchmark: (the first table's title, rows its tables must hold, its comparator's key)
EXPECTED = {
    "registry": (
        "Register: fleet.register on SQLite",
        ["2,000", "filter by one key value", "facets of one dimension", "count, whole fleet",
         "walk the whole fleet"],
        "mlflow",
    ),
    "training": (
        "Training: fleet.train against a bare loop",
        ["bare: joblib.Parallel", "Shoal: fleet.train(workers=", "bare: fit + skops.io.dump",
         "MLflow loop", "executor='local', workers=1", "executor='ray', workers=2"],
        "mlflow",
    ),
    "pages": (
        "Pages and API routes",
        ["fleet, no filter", "fleet, page 21 (next link x20)", "models, page 21 (cursor x20)",
         "facets store, alias filter", "model of 2,000 versions", "alerts",
         "champion: production against candidate", "dataset 1: the versions trained on it",
         "runs of tenant many", "a fleet of tenant many (50 fleets)"],
        None,
    ),
    "serving": (
        "Serving: shoal serve against mlflow models serve",
        ["warm, 1 row, sequential", "cold: a key's first request", "cold: model evicted",
         "Shoal's overhead, 1 row", "HTTP floor", "peak RSS", "mlflow models serve"],
        "mlflow",
    ),
    "monitoring": (
        "Monitoring: one fleet.monitor pass",
        ["one pass:", "query: the DuckDB pass", "injected models flagged", "false flags",
         "Evidently"],
        "evidently",
    ),
    "reports": (
        "Fleet reports: fleet.report on SQLite",
        ["report: read, compute, render and write the page", "report recorded (record=True)",
         "tables='parquet'", "the diff path", "the page's size", "chromium:",
         "collect: the snapshot's reads", "render: the page", "Evidently"],
        "evidently",
    ),
    "batch": (
        "Batch scoring: 20,000 rows over 200 models",
        ["bare loop: joblib.load + predict per key", "Shoal, log=False, workers=1",
         "Shoal, log=True, workers=1", "memory: Shoal's growth", "MLflow loop (sample of"],
        "mlflow",
    ),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED))
def test_quick_mode(name: str, tmp_path: Path) -> None:
    title, rows, comparator = EXPECTED[name]
    out = tmp_path / "results.json"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
           "RAY_USAGE_STATS_ENABLED": "0", "OTEL_SDK_DISABLED": "true",
           "AWS_EC2_METADATA_DISABLED": "true", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"bench_{name}.py"), "--quick",
         "--workdir", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True, text=True, timeout=540, env=env, cwd=tmp_path,
    )  # fmt: skip
    shown = done.stdout[-4000:] + done.stderr[-4000:]
    assert done.returncode == 0, shown
    assert title in done.stdout, shown
    results = json.loads(out.read_text())
    assert results["benchmark"] == name and results["args"]["quick"] is True
    assert results["errors"] == [] and not results["interrupted"], results["errors"]
    assert results["tables"] and results["tables"][0]["title"].startswith(title)
    text = "\n".join(" | ".join(row) for t in results["tables"] for row in t["rows"])
    for row in rows:
        assert row in text, f"no row with {row!r} in {name}'s tables:\n{text}"
    assert results["machine"]["cores"] and results["machine"]["shoal"]
    if comparator and (why := results.get(f"{comparator}_error")):
        assert "unavailable" in why, why
        pytest.skip(
            f"Shoal's side of bench_{name} passed; the {comparator} side was not run: {why}"
        )
    assert not comparator or results.get(comparator), f"no {comparator} result and no reason"
