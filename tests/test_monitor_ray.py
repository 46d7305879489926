"""Monitoring parts as Ray tasks on a real local cluster (``ray.init(num_cpus=2)``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from tests import monitor_world as world

import shoal

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'shoal[ray]'")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Any:
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_a_pass_on_ray_equals_a_local_pass(client: shoal.Client, tmp_path: Path) -> None:
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    keys = world.keys(4, 5)
    versions = world.register(fleet, keys)
    world.write_logs(tmp_path / "logs", versions, keys, drift=frozenset({"s01/k02", "s03/k04"}),
                     rows=60)  # fmt: skip
    span = {"since": world.DAY, "until": world.DAY + dt.timedelta(days=1)}

    def figures() -> list[dict[str, Any]]:
        rows = fleet.monitoring.results()
        return sorted(({k: v for k, v in r.items() if k != "run_id"} for r in rows),
                      key=lambda r: r["version_id"])  # fmt: skip

    local = fleet.monitor("1d", logs=str(tmp_path / "logs"), **span)
    expected = figures()
    lines: list[str] = []
    on_ray = fleet.monitor("1d", logs=str(tmp_path / "logs"), executor="ray", workers=2,
                           progress=lines.append, **span)  # fmt: skip
    assert "part 2 of 2 done on Ray" in lines
    assert figures() == expected and len(expected) == 20
    assert (on_ray.labelled, on_ray.flagged, on_ray.drifting_models) == (
        local.labelled, local.flagged, local.drifting_models)  # fmt: skip
    assert ray.is_initialized(), "a cluster the caller started is left running"
