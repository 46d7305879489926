"""fleet.train on Ray: a real local cluster (``ray.init(num_cpus=2)``), started once here."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import cloudpickle
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shoal
from shoal.data import to_arrow

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'shoal[ray]'")

pytestmark = pytest.mark.slow

sys.path.insert(0, str(Path(__file__).parent))
import test_train  # noqa: E402
from test_train import STORES, fit, sales, store_of  # noqa: E402

# Ray workers cannot import test modules by name: send their functions by value. Shoal
# ships fn with cloudpickle itself (the same way for Ray and the local pool).
cloudpickle.register_pickle_by_value(sys.modules[__name__])
cloudpickle.register_pickle_by_value(test_train)


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Any:
    """One local two-CPU cluster for the module: starting Ray takes seconds."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def demand(client: shoal.Client) -> shoal.Fleet:
    return client.fleet("grocer/demand", keys=["store"])


def test_ray_trains_the_same_models_as_a_local_run(client, demand) -> None:
    data = sales()
    on_ray = demand.train(data, fit, executor="ray", workers=2, progress=False)
    assert (on_ray.status, on_ray.done, on_ray.failed) == ("succeeded", 30, 0)
    local = client.fleet("grocer/local", keys=["store"])
    here = local.train(data, fit, workers=1, progress=False)
    assert here.done == 30
    for store in ("s00", "s17", "s29"):
        a, b = demand.get(store), local.get(store)
        # Same rows, same fit, same canonical bytes: the executor changes nothing.
        assert a.slice_fingerprint == b.slice_fingerprint
        assert a.artifact_sha256 == b.artifact_sha256
        assert a.run_id == on_ray.id and a.metrics["r2"] > 0.9
        assert client.baseline(a) == client.baseline(b)
    model = demand.load_model("s05")
    assert model.predict(pd.DataFrame({"price": [2.0]}))[0] == pytest.approx(6.0, abs=0.3)
    params = demand.runs()[0].params
    assert params["executor"] == "ray"


def test_ray_records_per_key_errors_and_resume_retrains_them(client, demand) -> None:
    broken = {"s03", "s11"}

    def sometimes(frame: pd.DataFrame) -> Any:  # a closure: Ray pickles it by value
        if store_of(frame) in broken:
            raise ValueError("bad data")
        return fit(frame)

    first = demand.train(sales(), sometimes, executor="ray", max_retries=0, progress=False)
    assert (first.status, first.done, first.failed) == ("failed", 28, 2)
    errors = {e.key["store"]: e for e in first.errors}
    assert set(errors) == broken
    assert errors["s03"].error == "ValueError: bad data"
    assert "in sometimes" in errors["s03"].traceback
    broken.clear()
    again = demand.train(sales(), sometimes, executor="ray", resume=first, progress=False)
    assert (again.status, again.done, again.skipped) == ("succeeded", 30, 28)
    assert demand.count() == 30


def slow_on_s02(frame: pd.DataFrame) -> Any:
    if store_of(frame) == "s02":
        time.sleep(5)
    return fit(frame)


def test_ray_enforces_timeout_per_key(client, demand) -> None:
    run = demand.train(
        sales(STORES[:4]), slow_on_s02, executor="ray", timeout_per_key=0.5, max_retries=0,
        progress=False,
    )  # fmt: skip
    assert (run.done, run.failed) == (3, 1)
    [error] = run.errors
    assert error.key == {"store": "s02"} and "timeout_per_key=0.5" in error.error


def test_ray_reads_a_parquet_folder_partition_by_partition(client, demand, tmp_path) -> None:
    data = to_arrow(sales(STORES[:9]))
    folder = tmp_path / "sales"
    folder.mkdir()
    for i in range(3):
        rows = data.filter(pa.compute.is_in(data["store"], pa.array(STORES[3 * i : 3 * i + 3])))
        pq.write_table(rows, folder / f"part-{i}.parquet")
    run = demand.train(folder, fit, executor="ray", progress=False)
    assert (run.status, run.done) == ("succeeded", 9)
    assert sorted(v.key["store"] for v in demand.iter_search()) == STORES[:9]
