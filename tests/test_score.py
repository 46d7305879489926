"""fleet.predict and ``shoal predict``: batch scoring on real files, a real store, real models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LinearRegression
from typer.testing import CliRunner

import shoal
from shoal.cli import app
from shoal.errors import InvalidInput

STORES = [f"s{i:02d}" for i in range(4)]
SKUS = [f"k{j}" for j in range(3)]
MISSING = ("s00", "k0")  # trained, never given the production alias
WIDE = ("s03", "k2")  # its version takes a column the data lacks


def sales(rows: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for i, store in enumerate(STORES):
        for j, sku in enumerate(SKUS):
            price = rng.uniform(1, 5, rows)
            parts.append(pd.DataFrame({
                "store": store, "sku": sku, "price": price,
                "y": 10 + i + j - 2 * price + rng.normal(0, 0.1, rows),
            }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def fit(data: pd.DataFrame) -> LinearRegression:
    return LinearRegression().fit(data[["price"]], data["y"])


@pytest.fixture
def demand(client: shoal.Client) -> shoal.Fleet:
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    fleet.train(sales(), fit, workers=1, progress=False)
    wide = sales(seed=3).assign(promo=1.0)
    wide = wide[(wide.store == WIDE[0]) & (wide.sku == WIDE[1])]
    model = LinearRegression().fit(wide[["price", "promo"]], wide["y"])
    takes = {
        "inputs": [{"name": "price", "dtype": "float64"}, {"name": "promo", "dtype": "float64"}],
        "output": "float64",
    }
    fleet.register([{"key": WIDE, "model": model, "signature": takes}])
    targets = {(s, k): None for s in STORES for k in SKUS if (s, k) != MISSING}
    fleet.set_alias("production", targets, create=True)
    return fleet


def future(seed: int = 7) -> pd.DataFrame:
    """Rows to score: every key, shuffled, one with a NaN price."""
    data = sales(rows=5, seed=seed).drop(columns="y").sample(frac=1, random_state=seed)
    data = data.reset_index(drop=True)
    data.loc[data.index[(data.store == "s01") & (data.sku == "k1")][0], "price"] = np.nan
    return data


def expected(fleet: shoal.Fleet, frame: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """Each key's predictions by ``load_model(...).predict``: what batch scoring must equal."""
    out = {}
    for (store, sku), rows in frame.groupby(["store", "sku"], sort=False):
        out[(store, sku)] = fleet.load_model((store, sku), alias="production").predict(
            rows[["price"]]
        )
    return out


def test_a_frame_is_scored_in_input_order_equal_to_each_models_predict(
    demand: shoal.Fleet, tmp_path: Path
) -> None:
    data = future()
    scores = demand.predict(data, logs=str(tmp_path / "logs"), progress=False)
    frame = scores.frame
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["store", "sku", "price", "prediction", "version",
                                   "request_id", "row"]  # fmt: skip
    # 12 keys x 5 rows; one key has no version (5 rows), one needs a column the data lacks
    # (5 rows), one row has a NaN price: 60 - 11 scored.
    assert (scores.rows_in, scores.rows_scored, scores.keys_scored) == (60, 49, 10)
    assert dict(scores.problem_rows) == {"no version": 5, "signature": 5, "non-finite": 1}
    by_reason = {p.reason: p for p in scores.problems}
    assert by_reason["no version"].key == {"store": "s00", "sku": "k0"}
    assert by_reason["signature"].key == {"store": "s03", "sku": "k2"}
    assert "promo" in by_reason["signature"].detail
    assert by_reason["non-finite"].key == {"store": "s01", "sku": "k1"}
    assert frame["row"].is_monotonic_increasing  # the input's order
    assert (frame[["store", "sku", "price"]].to_numpy()
            == data.loc[frame["row"], ["store", "sku", "price"]].to_numpy()).all()  # fmt: skip
    for key, want in expected(demand, frame).items():
        got = frame[(frame.store == key[0]) & (frame.sku == key[1])]
        np.testing.assert_allclose(got["prediction"].to_numpy(), want)
        assert set(got["version"]) == {demand.get(key, alias="production").version}
    assert scores.versions_loaded == 10


def test_polars_and_arrow_come_back_as_they_went_in(demand: shoal.Fleet) -> None:
    pl = pytest.importorskip("polars")
    data = future().dropna()
    as_arrow = demand.predict(pa.Table.from_pandas(data, preserve_index=False), log=False,
                              progress=False).frame  # fmt: skip
    as_polars = demand.predict(pl.from_pandas(data), log=False, progress=False).frame
    assert isinstance(as_arrow, pa.Table) and isinstance(as_polars, pl.DataFrame)
    np.testing.assert_allclose(as_arrow.column("prediction").to_numpy(),
                               as_polars["prediction"].to_numpy())  # fmt: skip


def test_a_folder_partitioned_by_store_comes_out_partitioned_by_store(
    demand: shoal.Fleet, tmp_path: Path
) -> None:
    data = future()
    pq.write_to_dataset(pa.Table.from_pandas(data, preserve_index=False),
                        tmp_path / "in", partition_cols=["store"])  # fmt: skip
    out = tmp_path / "out"
    scores = demand.predict(tmp_path / "in", out=out, workers=2, log=False, progress=False)
    assert scores.frame is None and scores.rows_scored == 49
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [f"store={s}" for s in STORES]
    assert (out / "_SUCCESS").is_file()  # written last: readers of object stores wait for it
    assert not Path(f"{out}.partial").exists()  # renamed when complete
    written = ds.dataset(out, partitioning="hive").to_table().to_pandas()
    assert "store" in written.columns and len(written) == 49
    for file in out.rglob("*.parquet"):
        assert "store" not in pq.read_schema(file).names  # the path carries it, as in the input
    written["store"] = written["store"].astype(str)
    for (store, sku), got in written.groupby(["store", "sku"]):
        model = demand.load_model((store, sku), alias="production")
        np.testing.assert_allclose(got["prediction"], model.predict(got[["price"]]))
    with pytest.raises(InvalidInput, match="already holds files") as refused:
        demand.predict(tmp_path / "in", out=out, log=False, progress=False)
    assert refused.value.field == "out"
    again = demand.predict(tmp_path / "in", out=out, overwrite=True, log=False, progress=False)
    assert again.rows_scored == 49


def test_a_file_that_is_not_parquet_is_refused_before_anything_runs(
    demand: shoal.Fleet, tmp_path: Path
) -> None:
    pq.write_to_dataset(pa.Table.from_pandas(future(), preserve_index=False),
                        tmp_path / "in", partition_cols=["store"])  # fmt: skip
    last = sorted((tmp_path / "in" / "store=s03").iterdir())[0]
    last.write_bytes(last.read_bytes()[:100])  # truncated
    before = len(demand.runs(limit=100).items)
    with pytest.raises(InvalidInput, match="as Parquet") as refused:
        demand.predict(tmp_path / "in", out=tmp_path / "out", progress=False)
    assert refused.value.field == "data"
    assert len(demand.runs(limit=100).items) == before
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_predictions_are_logged_with_their_event_time_and_the_run_records_them(
    demand: shoal.Fleet, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    data = future().dropna()
    data["date"] = pd.to_datetime(np.where(data.index % 2 == 0, "2026-11-24", "2026-11-25"))
    scores = demand.predict(data, time_column="date", logs=str(logs), progress=False)
    days = sorted(p.name for p in (logs / "predictions/tenant=grocer/fleet=demand").iterdir())
    assert days == ["day=2026-11-24", "day=2026-11-25"]
    logged = ds.dataset(logs / "predictions", partitioning="hive").to_table().to_pandas()
    assert len(logged) == scores.rows_scored
    assert {"request_id", "row", "at", "event_at", "version_id", "version", "prediction",
            "key.store", "key.sku", "feature.price"} <= set(logged.columns)  # fmt: skip
    assert "feature.date" not in logged.columns and "feature.y" not in logged.columns
    joined = logged.merge(scores.frame, on=["request_id", "row"], suffixes=("", "_out"))
    assert len(joined) == scores.rows_scored
    np.testing.assert_allclose(joined["prediction"], joined["prediction_out"])
    assert (joined["event_at"].dt.strftime("%Y-%m-%d")
            == joined["date"].dt.strftime("%Y-%m-%d")).all()  # fmt: skip
    run = demand.runs(limit=1).items[0]
    assert (run.id, run.kind, run.status) == (scores.run_id, "score", "succeeded")
    assert run.params["alias"] == "production" and run.params["time_column"] == "date"
    assert run.counts["scored"] == scores.rows_scored
    assert run.counts["data_fingerprint"] == scores.data_fingerprint
    assert len(run.counts["versions_used"]) == 10
    assert run.counts["not_scored"] == {"no version": 5, "signature": 5}


def test_bad_input_is_refused_by_name_before_anything_is_recorded(
    demand: shoal.Fleet, tmp_path: Path
) -> None:
    data = future()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"by": ["store"]}, "by"),
        ({"by": ["store", "item"]}, "by"),
        ({"alias": "prodution"}, "alias"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"time_column": "when"}, "time_column"),
        ({"time_column": "price"}, "time_column"),
        ({"as_of": "2026-11-24", "time_column": "store"}, "as_of"),
        ({"executor": "spark"}, "executor"),
        ({"workers": 0}, "workers"),
        ({"alias": None}, "alias"),
    ]
    before = len(demand.runs(limit=100).items)
    for options, field in cases:
        with pytest.raises(InvalidInput) as caught:
            demand.predict(data, log=False, progress=False, **options)
        assert caught.value.field == field, (options, caught.value)
    with pytest.raises(InvalidInput, match="did you mean 'production'"):
        demand.predict(data, alias="prodution", progress=False)
    with pytest.raises(InvalidInput, match="no file or folder"):
        demand.predict(tmp_path / "nope", progress=False)
    assert len(demand.runs(limit=100).items) == before


def test_a_version_number_scores_instead_of_an_alias(demand: shoal.Fleet) -> None:
    scores = demand.predict(future().dropna(), alias=None, version=1, log=False, progress=False)
    assert set(scores.frame["version"]) == {1}
    assert scores.problem_rows == {}  # every key has a version 1 (trained on price alone)
    assert scores.rows_scored == 59


def test_the_cli_scores_a_folder_and_reports_bad_input(
    demand: shoal.Fleet, store_url: str, tmp_path: Path
) -> None:
    pq.write_to_dataset(pa.Table.from_pandas(future(), preserve_index=False),
                        tmp_path / "in", partition_cols=["store"])  # fmt: skip
    base = ["--store", store_url, "--artifacts", str(tmp_path / "artifacts")]
    env = {"SHOAL_LOGS_URL": str(tmp_path / "logs")}
    runner = CliRunner()
    done = runner.invoke(app, [*base, "predict", "grocer/demand", str(tmp_path / "in"),
                               "--out", str(tmp_path / "out"), "--as-of", "2026-11-26", "-q",
                               "--json"], env=env)  # fmt: skip
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["scored"] == 49 and len(report["files"]) == 4
    assert (tmp_path / "logs/predictions/tenant=grocer/fleet=demand/day=2026-11-26").is_dir()
    quiet = ["-q", "--no-log"]
    shown = runner.invoke(app, [*base, "predict", "grocer/demand", str(tmp_path / "in"),
                                "--out", str(tmp_path / "out2"), *quiet], env=env)  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "49 of 60 scored" in shown.output and "no version" in shown.output
    for args, message in [
        (["--out", str(tmp_path / "out")], "already holds files"),
        (["--out", str(tmp_path / "o3"), "--alias", "nosuch"], "alias 'nosuch' is on no model"),
        (["--out", str(tmp_path / "o3"), "--as-of", "soon"], "as_of 'soon' is not a time"),
        (["--out", str(tmp_path / "o3"), "--executor", "spark"], "executor must be"),
    ]:
        bad = runner.invoke(app, [*base, "predict", "grocer/demand", str(tmp_path / "in"),
                                  "-q", *args], env=env)  # fmt: skip
        assert bad.exit_code != 0 and message in bad.output, (args, bad.output)
        assert "Traceback" not in bad.output
    missing = runner.invoke(app, [*base, "predict", "grocer/demand", str(tmp_path / "none"),
                                  "--out", str(tmp_path / "o4"), "-q"], env=env)  # fmt: skip
    assert missing.exit_code != 0 and "no file or folder" in missing.output


def test_a_backfilled_week_scored_in_batch_is_monitored_in_its_own_days(
    client: shoal.Client, demand: shoal.Fleet, tmp_path: Path
) -> None:
    """Batch predictions for a past week, made today, with actuals sent through the server
    by request id and row or by key and day: monitoring by event time gives seven windows."""
    import datetime as dt

    from fastapi.testclient import TestClient

    from shoal.http.auth import Auth
    from shoal.serve import create_app

    logs = tmp_path / "logs"
    week = [dt.date(2025, 3, 3) + dt.timedelta(days=i) for i in range(7)]
    data = pd.concat(
        [sales(rows=1, seed=i).drop(columns="y").assign(date=pd.Timestamp(day))
         for i, day in enumerate(week)], ignore_index=True,
    )  # fmt: skip
    scores = demand.predict(data, time_column="date", logs=str(logs), progress=False)
    scored = scores.frame
    assert scores.rows_scored == 7 * 10  # 12 keys a day; s00/k0 and s03/k2 not scored
    app = create_app(client, auth=Auth.off(), logs_url=str(logs), log_flush_seconds=3600)
    by_id = scored.iloc[::2]
    by_key = scored.iloc[1::2]
    items = [{"request_id": r.request_id, "row": int(r.row), "actual": r.prediction * 1.1}
             for r in by_id.itertuples()]  # fmt: skip
    items += [{"key": {"store": r.store, "sku": r.sku}, "actual": r.prediction * 1.1,
               "time": (r.date + pd.Timedelta(hours=12)).isoformat()}
              for r in by_key.itertuples()]  # fmt: skip
    with TestClient(app, base_url="http://127.0.0.1") as http:
        reply = http.post("/api/v1/fleets/grocer/demand/feedback", json={"items": items})
        assert reply.status_code == 200, reply.text
        for log in app.state.logs:
            log.flush()
    start = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)
    outcome = demand.monitor("1d", logs=str(logs), time="event", since=start,
                             until=start + dt.timedelta(days=7))  # fmt: skip
    assert len(outcome.windows) == 7
    assert (outcome.predictions, outcome.labelled) == (70, 70)
    for day in week:
        rows = demand.monitoring.results(window="1d", at=dt.datetime(*day.timetuple()[:3]))
        assert sum(r["predictions"] for r in rows) == 10
        assert all(r["mape"] == pytest.approx(0.1 / 1.1) for r in rows)


def test_partition_values_are_key_text_and_times_may_carry_offsets(
    client: shoal.Client, tmp_path: Path
) -> None:
    """``store=001`` is the key "001", never the number 1; ``store=a%20b`` is "a b"; a text
    time column may say Z or an offset; a column of non-times is an error naming it."""
    from shoal.flavors.linear import LinearModel

    fleet = client.fleet("grocer/padded", keys=["store"])
    stores = ["001", "1", "a b"]
    fleet.register([{"key": s, "model": LinearModel(float(i), {"x": 1.0})}
                    for i, s in enumerate(stores)])  # fmt: skip
    fleet.set_alias("production", {s: 1 for s in stores}, create=True)
    for store in stores:
        folder = tmp_path / "in" / f"store={store.replace(' ', '%20')}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"x": [10.0, 20.0], "when": ["2026-11-24T00:00:00Z",
                                                             "2026-11-24T01:00:00+01:00"]}),
                       folder / "part-0.parquet")  # fmt: skip
    logs = tmp_path / "logs"
    scores = fleet.predict(tmp_path / "in", time_column="when", logs=str(logs), progress=False)
    assert scores.rows_scored == 6 and not scores.problems
    frame = scores.frame.sort_values(["store", "x"])
    by_store = dict(zip(frame["store"], frame["prediction"], strict=False))
    assert by_store == {"001": 20.0, "1": 21.0, "a b": 22.0}  # 0, 1, 2 + 1.0 * x (last row)
    logged = pd.read_parquet(logs / "predictions")
    assert set(logged["key.store"]) == set(stores)
    assert set(logged["event_at"].dt.strftime("%Y-%m-%dT%H:%M")) == {"2026-11-24T00:00"}
    bad = tmp_path / "bad" / "store=001"
    bad.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1.0], "when": ["24/11/2026"]}), bad / "part-0.parquet")
    with pytest.raises(InvalidInput, match="'24/11/2026' is not an ISO 8601 time") as refused:
        fleet.predict(tmp_path / "bad", time_column="when", log=True, logs=str(logs),
                      progress=False)  # fmt: skip
    assert refused.value.field == "time_column"
