"""The demo end to end: the quick world through Python and through the CLI, then checked
through the SDK the way a user would look at it (runs, lineage, evaluation, aliases,
loading), with every figure recomputed here rather than trusted from the builder."""

from __future__ import annotations

import io
import os
import pickle
import re
import shlex
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import typer
from rich.console import Console
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

import shoal
from shoal.cli import demo as cli_demo
from shoal.cli.demo import demo_command
from shoal.data import fingerprint, slice_fingerprints
from shoal.demo import DemoResult, WorldSpec, build_demo, features, make_world
from shoal.demo.apparel import FLEET as APPAREL
from shoal.demo.apparel import fit_category
from shoal.demo.customers import FEATURES
from shoal.demo.forecast import DOW, PromoRidge, SeasonalNaive, design, fit_ridge
from shoal.demo.grocer import FLEET as DEMAND
from shoal.demo.grocer import PROMOTE_WHERE, key_tags, pilot_stores, split
from shoal.demo.progress import ConsoleReporter
from shoal.demo.server import DemoServer
from shoal.demo.summary import collect, curl_command, python_snippet, render
from shoal.demo.traffic import (
    DRIFT_SALES,
    PREDICT,
    drifted_stores,
    replay_days,
    replay_week,
    week_of_sales,
)
from shoal.errors import InvalidInput
from shoal.flavors import get_flavor
from shoal.http.auth import Auth
from shoal.serve import create_app
from shoal.testing import free_port

QUICK = WorldSpec.quick()
KEYS = QUICK.stores * QUICK.skus
PILOT = len(range(0, QUICK.stores, 3)) * QUICK.skus


def _connect(root: Path) -> shoal.Client:
    return shoal.connect(f"sqlite:///{root / 'shoal.db'}", str(root / "artifacts"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[shoal.Client, DemoResult]]:
    client = _connect(tmp_path_factory.mktemp("demo"))
    # Two worker processes, whatever the machine: the training functions must pickle.
    yield client, build_demo(client, QUICK, workers=2)
    client.close()


def _by_run(client: shoal.Client, run_id: int | None) -> dict[tuple[str, str], shoal.ModelVersion]:
    demand = client.fleet(DEMAND)
    found = demand.iter_search(f"run = {run_id}", versions="all")
    return {(v.key["store"], v.key["sku"]): v for v in found}


def test_world_is_deterministic_and_sized_by_its_spec() -> None:
    one, two = make_world(QUICK), make_world(QUICK)
    assert fingerprint(one.sales) == fingerprint(two.sales)
    assert fingerprint(one.orders) == fingerprint(two.orders)
    assert fingerprint(make_world(replace(QUICK, seed=8)).sales) != fingerprint(one.sales)
    assert len(one.sales) == KEYS * QUICK.days
    assert one.orders["category"].nunique() == QUICK.categories
    assert (one.sales["sales"] >= 0).all() and one.sales["promo"].any()
    assert one.stores["competitor_from"].notna().sum() >= 1


def test_spec_names_the_bad_field() -> None:
    with pytest.raises(InvalidInput, match="days must leave") as info:
        WorldSpec(days=30, holdout_days=14)
    assert info.value.field == "days"


def test_reporters_pass_progress_to_the_sdk() -> None:
    console = Console(file=io.StringIO(), width=80)
    reporter = ConsoleReporter(console)
    reporter.note("grocer/demand: run 1 trained 60 baselines")
    assert reporter.progress is True
    assert console.file.getvalue() == "grocer/demand: run 1 trained 60 baselines\n"


def test_training_functions_pickle_and_split_train_from_holdout() -> None:
    world = make_world(QUICK)
    tags = key_tags(world)
    for fn in (SeasonalNaive(tags), PromoRidge(QUICK.start, tags=tags)):
        assert pickle.loads(pickle.dumps(fn)) == fn
    sales, holdout = split(world)
    cut = QUICK.dates[QUICK.train_days]
    assert len(sales) == KEYS * QUICK.train_days and (sales["date"] < cut).all()
    assert len(holdout) == KEYS * QUICK.holdout_days
    assert holdout["sales"].sum() == world.sales.loc[world.sales["date"] >= cut, "sales"].sum()
    # features() is the frame form of design(), which the training functions use.
    X = features(QUICK.dates, QUICK.start, promo=np.ones(QUICK.days))
    assert X.to_numpy().tolist() == design(QUICK.dates, QUICK.start, np.ones(QUICK.days)).tolist()
    assert X.loc[0, "trend"] == 0.0 and X.loc[7, "trend"] == 1.0
    assert X.iloc[:7, :6].to_numpy().sum() == 6  # Monday is the intercept


def test_both_tenants_and_fleets_with_expected_counts(built) -> None:
    client, result = built
    fleets = {f.path: f for f in client.fleets()}
    assert result.candidate is not None and result.candidate.registered == PILOT
    assert fleets[DEMAND].models == KEYS
    assert fleets[DEMAND].versions == KEYS + PILOT
    assert fleets[DEMAND].keys == ("store", "sku")
    assert fleets[APPAREL].models == fleets[APPAREL].versions == QUICK.categories
    assert client.fleet(DEMAND).coverage() == {"production": KEYS, "candidate": PILOT}
    assert client.fleet(APPAREL).coverage() == {"production": QUICK.categories}


def test_every_fleet_was_trained_by_a_successful_train_run(built) -> None:
    client, result = built
    expected = [
        (result.demand, DEMAND, KEYS, "seasonal_naive"),
        (result.candidate, DEMAND, PILOT, "ridge"),
        (result.apparel, APPAREL, QUICK.categories, "logistic_regression"),
    ]
    for build, path, keys, estimator in expected:
        run = client.run(build.run_id)
        assert (run.fleet, run.status, run.keys, run.done, run.failed) == (
            path, "succeeded", keys, keys, 0
        )  # fmt: skip
        assert run.dataset_id == build.dataset.id and build.registered == keys
        found = client.fleet(path).search(f"run = {run.id}", versions="all", limit=1000)
        assert len(found) == keys
        assert {v.params["estimator"] for v in found} == {estimator}
    assert [r.kind for r in client.fleet(DEMAND).runs()] == ["train", "train"]


def test_every_version_has_dataset_slice_and_baseline_lineage(built) -> None:
    client, result = built
    sales, _ = split(result.world)
    pilot = sales[sales["store"].isin(pilot_stores(result.world))].reset_index(drop=True)
    checks = [
        (result.demand, sales, ["store", "sku"]),
        (result.candidate, pilot, ["store", "sku"]),
        (result.apparel, result.world.orders, ["category"]),
    ]
    for build, frame, keys in checks:
        dataset = client.datasets.get(build.dataset.id)
        assert dataset.fingerprint == fingerprint(frame) and dataset.row_count == len(frame)
        slices = slice_fingerprints(frame, keys)
        rows = {
            k if isinstance(k, tuple) else (k,): n for k, n in frame.groupby(keys).size().items()
        }
        fleet = client.fleet(build.fleet)
        versions = list(fleet.iter_search(f"run = {build.run_id}", versions="all"))
        assert len(versions) == len(slices)
        for v in versions:
            key = tuple(v.key[k] for k in keys)
            assert v.dataset_id == dataset.id and v.slice_fingerprint == slices[key]
            assert client.baseline(v)["rows"] == rows[key]
        lineage = client.lineage(versions[0])
        assert lineage.dataset.fingerprint == fingerprint(frame)
        assert lineage.run.status == "succeeded"
    # A pilot key's rows are the same rows in both datasets, so its slice is the same.
    full = slice_fingerprints(sales, ["store", "sku"])
    assert all(
        full[k] == v.slice_fingerprint for k, v in _by_run(client, result.candidate.run_id).items()
    )


def test_evaluation_scored_every_version_on_the_holdout(built) -> None:
    client, result = built
    _, holdout = split(result.world)
    assert result.demand.evaluation.evaluated == KEYS
    assert result.candidate.evaluation.evaluated == PILOT
    flavor = get_flavor("linear")
    for run_id in (result.demand.run_id, result.candidate.run_id):
        versions = _by_run(client, run_id)
        for (store, sku), v in list(versions.items())[:: max(1, len(versions) // 7)]:
            rows = holdout[(holdout["store"] == store) & (holdout["sku"] == sku)]
            model = client.load_model(DEMAND, v.key, version=v.version)
            predicted = flavor.predict(model, rows)
            actual = rows["sales"].to_numpy(dtype=float)
            sold = actual > 0
            mape = np.mean(np.abs(predicted[sold] - actual[sold]) / actual[sold])
            assert v.metrics["eval_mape"] == pytest.approx(mape)
            assert v.metrics["eval_mae"] == pytest.approx(np.mean(np.abs(predicted - actual)))


def test_promotion_moved_exactly_the_keys_where_the_candidate_won(built) -> None:
    client, result = built
    demand = client.fleet(DEMAND)
    baselines = _by_run(client, result.demand.run_id)
    candidates = _by_run(client, result.candidate.run_id)
    assert len(candidates) == PILOT and set(candidates) <= set(baselines)
    wins = {
        key
        for key, v in candidates.items()
        if v.metrics["eval_mape"] < baselines[key].metrics["eval_mape"]
    }
    move = result.promotion
    assert move is not None and not move.dry_run and move.moved == len(wins) > 0
    assert len(wins) < PILOT  # the baseline keeps some keys: the comparison is real
    production = {(v.key["store"], v.key["sku"]): v.run_id
                  for v in demand.iter_search("alias = 'production'")}  # fmt: skip
    assert len(production) == KEYS
    assert {k for k, run in production.items() if run == result.candidate.run_id} == wins
    assert demand.alias_moves(limit=1)[0].where == PROMOTE_WHERE
    assert collect(client, result).promotion.moved == len(wins)


def test_seasonal_naive_repeats_the_last_week(built) -> None:
    client, result = built
    world = result.world
    store, sku = world.stores["store"].iloc[1], world.skus["sku"].iloc[1]  # not in the pilot
    model = client.load_model(DEMAND, {"store": store, "sku": sku}, alias="production")
    rows = world.sales[(world.sales["store"] == store) & (world.sales["sku"] == sku)]
    train = QUICK.train_days
    last_week = rows["sales"].to_numpy()[train - 7 : train].astype(float)
    X = features(rows["date"].iloc[train:], origin=QUICK.start)
    predicted = get_flavor("linear").predict(model, X)
    assert predicted.tolist() == np.resize(last_week, QUICK.holdout_days).tolist()


def test_candidate_is_a_ridge_fit_on_the_training_days(built) -> None:
    client, result = built
    world = result.world
    store, sku = pilot_stores(world)[0], world.skus["sku"].iloc[2]
    model = client.load_model(DEMAND, {"store": store, "sku": sku}, alias="candidate")
    rows = world.sales[(world.sales["store"] == store) & (world.sales["sku"] == sku)]
    rows = rows.iloc[: QUICK.train_days]
    X = features(rows["date"], origin=QUICK.start, promo=rows["promo"])
    fitted = get_flavor("linear").predict(model, X)
    actual = rows["sales"].to_numpy(dtype=float)
    # An unpenalised intercept: the training residuals sum to zero.
    assert fitted.mean() == pytest.approx(actual.mean(), rel=1e-4)
    coef = fit_ridge(X.to_numpy(), actual)
    assert model.intercept == pytest.approx(coef[0], abs=1e-5)
    assert model.coef["promo"] == pytest.approx(coef[-1], abs=1e-5)


def test_classifier_loads_via_skops_and_predicts(built) -> None:
    client, result = built
    fleet = client.fleet(APPAREL)
    version = fleet.get("dresses", alias="production")
    assert version.flavor == "sklearn" and version.tags == {"department": "womenswear"}
    data = client.registry.versions.read_artifact(version.artifact_sha256)
    raw = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    model = client.load_model(APPAREL, "dresses", alias="production")
    assert isinstance(model, Pipeline) and isinstance(raw, Pipeline)
    orders = result.world.orders
    rows = orders[orders["category"] == "dresses"]
    test = rows.iloc[int(len(rows) * 0.8) :]
    predicted = model.predict(test[list(FEATURES)])
    assert set(np.unique(predicted)) <= {0, 1}
    assert (predicted == raw.predict(test[list(FEATURES)])).all()
    accuracy = float((predicted == test["returned"].to_numpy()).mean())
    assert accuracy == pytest.approx(version.metrics["accuracy"])
    assert {"accuracy", "f1", "log_loss"} <= version.metrics.keys()


def test_a_category_with_one_class_is_refused() -> None:
    rows = make_world(QUICK).orders.query("category == 'dresses'").assign(returned=0)
    with pytest.raises(InvalidInput, match="needs both classes"):
        fit_category(rows)


def test_summary_reads_a_realistic_minority(built) -> None:
    client, result = built
    summary = collect(client, result)
    assert 0 < summary.over < KEYS / 2
    assert sum(summary.facet.values()) == summary.over
    worst = summary.worst[0].metrics["eval_mape"]
    assert all(v.metrics["eval_mape"] <= worst for v in summary.worst)
    assert summary.worst[0].id and len(summary.classifiers) == QUICK.categories
    console = Console(file=io.StringIO(), width=200)
    render(summary, console)
    text = console.file.getvalue()
    assert f"{result.promotion.moved:,} of {PILOT:,} pilot keys moved" in text
    assert f"{summary.over:,} of {KEYS:,} production models" in text


def test_the_printed_python_tour_runs(built) -> None:
    client, result = built
    summary = collect(client, result)
    namespace: dict = {}
    exec(python_snippet(summary), namespace)
    assert isinstance(namespace["page"][0], shoal.ModelVersion)
    assert np.isfinite(namespace["model"].predict_one(namespace["X"].iloc[0]))
    namespace["client"].close()


def test_a_second_build_finds_the_world_built(built) -> None:
    client, first = built
    again = build_demo(client, QUICK)
    assert again.demand.already_built and again.apparel.already_built
    assert again.candidate is None and again.promotion is None
    assert client.fleet(DEMAND).count(versions="all") == KEYS + PILOT
    summary, before = collect(client, again), collect(client, first)
    assert summary.promotion is not None and summary.promotion.moved == first.promotion.moved
    assert [d.id for d in summary.datasets] == [d.id for d in before.datasets]
    assert len(before.datasets) == 3  # sales, the pilot's sales, orders


def test_retrain_trains_new_runs_on_top(tmp_path: Path) -> None:
    spec = replace(QUICK, stores=2, skus=3, categories=2, orders_per_category=100)
    client = _connect(tmp_path)
    first = build_demo(client, spec, workers=1)
    again = build_demo(client, spec, retrain=True, workers=1)
    assert not again.demand.already_built and again.demand.run_id != first.demand.run_id
    assert again.demand.dataset.id == first.demand.dataset.id  # same data, same record
    demand = client.fleet(DEMAND)
    assert demand.count(versions="all") == 2 * (6 + 3)
    assert demand.count(f"alias = 'candidate' and run = {again.candidate.run_id}") == 3
    assert demand.count("alias = 'production'") == 6
    fresh = demand.count(f"alias = 'production' and run = {again.demand.run_id}")
    assert fresh + again.promotion.moved == 6
    client.close()


def test_cli_quick_demo_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOAL_STORE_URL", raising=False)
    monkeypatch.delenv("SHOAL_ARTIFACTS_URL", raising=False)
    app = typer.Typer()
    app.command()(demo_command)
    runner = CliRunner()
    first = runner.invoke(app, ["--quick", "--no-serve"])
    assert first.exit_code == 0, first.output
    assert f"grocer/demand: run 1 trained {KEYS} seasonal-naive baselines" in first.output
    assert f"run 2 trained {PILOT} promo-aware ridge candidates" in first.output
    assert f"evaluated production on {KEYS} keys" in first.output
    assert "Try next" in first.output and "shoal lineage" in first.output
    promoted = next(line for line in first.output.splitlines() if line.startswith("Promoted"))
    # The replay's summary: what was sent and measured, the drift, the logs, a curl.
    lines = first.stdout.splitlines()
    sent = next(line for line in lines if "requests sent" in line)
    assert f"{KEYS * 7:,} rows predicted ({KEYS} keys x 7 days)" in sent
    assert re.search(r"^  7 requests sent, .*p50 \d+ ms, p99 \d+ ms", sent)
    assert f"  {KEYS * 7:,} actuals sent as feedback" in first.stdout
    drifted = ", ".join(drifted_stores(make_world(QUICK)))
    assert f"Drift injected into {drifted}:" in first.stdout
    logs = tmp_path / "home" / "logs"
    for kind in ("predictions", "feedback"):
        folder = logs / kind / "tenant=grocer" / "fleet=demand"
        assert f"  {kind:<12} {folder}" in lines and list(folder.rglob("*.parquet"))
    assert "(stopped with the demo: 'shoal serve --port " in first.stdout
    assert any(line.startswith("  curl -s http://127.0.0.1:") for line in lines)
    assert "Ctrl-C" not in first.output
    # Monitoring over the replayed week by event time: a window per day, and the drift of
    # the week, where the injected store tops the stores.
    assert "Monitoring: by event time (the day each forecast is for)" in first.stdout
    days = [f"{d:%Y-%m-%d}" for d in replay_days(QUICK)]
    assert (f"  7 daily windows, {days[0]} to {days[-1]}: {KEYS} models, {KEYS * 7:,} "
            f"predictions ({KEYS * 7:,} with actuals)") in first.stdout  # fmt: skip
    daily = next(line for line in lines if line.startswith("  Median MAPE per day"))
    pairs = re.findall(r"(\d+\.\d+) vs (\d+\.\d+)", daily)
    assert len(pairs) == 7 and all(float(hit) > float(rest) for hit, rest in pairs), daily
    assert "  One weekly window for drift: " in first.stdout
    ranked = lines[lines.index("  Stores by share of drifting models (* = drift injected by the "
                               "replay):") + 1 :]  # fmt: skip
    top = ranked[0].split()
    assert top[0] == "*" and top[1] in drifted, ranked[:3]
    assert "unresolved alerts of rule 'psi > 0.2 on any feature'" in first.stdout
    # The night's batch: every key's forecast for the day after the week, partitioned by store.
    tomorrow = f"{replay_days(QUICK)[-1] + pd.Timedelta(days=1):%Y-%m-%d}"
    assert (f"Batch scoring: tomorrow's forecast ({tomorrow}) for every store and SKU in one "
            "fleet.predict call") in first.stdout  # fmt: skip
    assert f"  {KEYS} of {KEYS} rows scored by {KEYS} versions (0 not scored)" in first.stdout
    forecast = tmp_path / "home" / "forecasts" / tomorrow
    assert (forecast / "_SUCCESS").is_file()
    assert len(pd.read_parquet(forecast)) == KEYS
    # The fleet report: written under SHOAL_HOME, its drifting stores and promotion in it.
    report_line = next(line for line in lines if line.startswith("Fleet report ("))
    page = Path(report_line.split(": ", 1)[1])
    assert page == tmp_path / "home" / "reports" / "grocer-demand-report.html"
    html = page.read_text()
    assert "drifting stores first in it: " + drifted.split(",")[0] in first.stdout
    assert f"<tr><td>{drifted.split(',')[0]}</td>" in html
    assert re.search(r'data-figure="moved.production">[1-9]', html)
    assert (page.parent / "grocer-demand-report.tables" / "models.parquet").exists()

    # Again, as on a terminal: found built, replayed again, served until SIGTERM (Ctrl-C).
    monkeypatch.setattr(cli_demo, "_interactive", lambda: True)
    port = free_port()
    before = signal.getsignal(signal.SIGTERM)
    answered: list[int] = []
    done = threading.Event()
    watcher = threading.Thread(target=_ask_then_stop, args=(port, before, answered, done))
    watcher.start()
    second = runner.invoke(app, ["--quick", "--port", str(port)])
    done.set()
    watcher.join()
    assert second.exit_code == 0, second.output
    assert "already built" in second.output and "trained" not in second.output
    assert promoted in second.output.splitlines()
    assert f"serving on http://127.0.0.1:{port} — Ctrl-C to stop" in second.output
    assert answered == [200] and "stopped with the demo" not in second.output
    # Each run: the replayed week's forecasts and actuals, and the night's batch for the day
    # after it (forecasts only: its actuals have not happened yet).
    assert len(_logged(logs, "feedback")) == 2 * KEYS * 7
    assert len(_logged(logs, "predictions")) == 2 * KEYS * (7 + 1)
    client = shoal.connect()
    try:
        fleets = {f.path: f for f in client.fleets()}
        assert fleets[DEMAND].models == KEYS
        assert fleets[APPAREL].models == QUICK.categories
        assert client.fleet(DEMAND).coverage()["production"] == KEYS
        assert Path(client.store_url.removeprefix("sqlite:///")).is_relative_to(tmp_path)
    finally:
        client.close()


def _ask_then_stop(port: int, before: object, answered: list[int], done: threading.Event) -> None:
    """Once the demo waits for Ctrl-C (its SIGTERM handler is set), ask it, then stop it."""
    while signal.getsignal(signal.SIGTERM) == before:
        if done.wait(0.05):
            return  # the demo returned without serving: the test fails on its assertions
    with httpx.Client(timeout=10) as http:
        answered.append(http.get(f"http://127.0.0.1:{port}/healthz").status_code)
    os.kill(os.getpid(), signal.SIGTERM)


def test_cli_sizes_and_store_options(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(demo_command)
    store, blobs = f"sqlite:///{tmp_path / 'other.db'}", str(tmp_path / "blobs")
    args = ["--quick", "--stores", "2", "--skus", "3", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "--store", store, "--artifacts", blobs])
    assert result.exit_code == 0, result.output
    assert f"shoal --store {store} --artifacts {blobs} fleets" in result.output
    client = shoal.connect(store, blobs)
    try:
        assert client.fleet(DEMAND).count() == 6
        run = client.run(client.fleet(DEMAND).runs()[-1].id)
        assert run.status == "succeeded" and run.done == 6
    finally:
        client.close()


def test_every_printed_command_runs_in_the_shoal_cli(tmp_path: Path) -> None:
    from shoal.cli import app

    store, blobs = f"sqlite:///{tmp_path / 'cli.db'}", str(tmp_path / "blobs")
    runner = CliRunner()
    built = runner.invoke(app, ["--store", store, "--artifacts", blobs, "demo", "--quick"])
    assert built.exit_code == 0, built.output
    printed = [
        shlex.split(line)[1:]
        for line in built.stdout.splitlines()
        if line.startswith(f"  shoal --store {store}")
    ]
    assert len(printed) == 7
    for args in printed:
        done = runner.invoke(app, args)
        assert done.exit_code == 0, (args, done.output)


def test_holdout_frame_has_what_every_model_reads(built) -> None:
    client, result = built
    _, holdout = split(result.world)
    for alias in ("production", "candidate"):
        v = next(iter(client.fleet(DEMAND).iter_search(f"alias = '{alias}'")))
        inputs = {i["name"] for i in v.signature["inputs"]}
        assert inputs <= set(holdout.columns)
    assert isinstance(holdout, pd.DataFrame) and holdout["sales"].dtype.kind == "i"


# ---------------------------------------------------------------- the replayed week


def _logged(root: Path, kind: str) -> pd.DataFrame:
    """Every row of one log; file by file, since files need not share their columns."""
    files = sorted((root / kind).rglob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def replayed(built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """The week replayed through a real server on the built store; the printed curl, sent."""
    client, result = built
    logs = tmp_path_factory.mktemp("logs")
    app = create_app(client, auth=Auth.off(), logs_url=str(logs))
    with DemoServer(app, port=0) as server:
        replay = replay_week(client, result.world, server.url, logs=app.state.logs)
        body = shlex.split(curl_command(replay))[-1]
        with httpx.Client(base_url=server.url, timeout=10) as http:
            answer = http.post(PREDICT, content=body, headers={"content-type": "application/json"})
    yield replay, logs, answer


def test_replay_predicts_every_key_once_a_day_at_production(built, replayed) -> None:
    client, result = built
    replay, logs, _ = replayed
    days = [f"{d:%Y-%m-%d}" for d in replay_days(QUICK)]
    holdout = QUICK.dates[QUICK.train_days :]
    assert days[0] >= f"{holdout[0]:%Y-%m-%d}" and days[-1] <= f"{holdout[-1]:%Y-%m-%d}"
    assert pd.Timestamp(days[0], tz="UTC").timestamp() % (7 * 86400) == 0  # a 1w window
    assert replay.days == days and replay.keys == KEYS
    table = _logged(logs, "predictions")
    table["day"] = table["request_id"].map(replay.request_days)
    table = table[table["day"].notna()]  # not the printed curl's request, sent afterwards
    assert len(table) == replay.rows == KEYS * 7
    # Each request's as_of is logged as its rows' event time, and files them under that day.
    assert (table["event_at"].dt.strftime("%Y-%m-%d") == table["day"]).all()
    for day in days:
        folder = logs / "predictions" / "tenant=grocer" / "fleet=demand" / f"day={day}"
        assert list(folder.glob("*.parquet")), day
    assert not table.duplicated(["key.store", "key.sku", "day"]).any()
    assert sorted(set(table["day"])) == days
    for request_id, day in replay.request_days.items():  # the id names the day it stands for
        assert request_id.startswith(f"demo-{replay.replay_id}-{day}-")
    sizes = table.groupby("request_id").agg(rows=("row", "size"), keys=("key.sku", "nunique"))
    assert (sizes["rows"] <= 500).all() and (sizes["keys"] > 1).all()
    assert replay.requests == len(sizes) and 0 < replay.percentile(50) <= replay.percentile(99)
    production = {(v.key["store"], v.key["sku"]): v
                  for v in client.fleet(DEMAND).iter_search("alias = 'production'")}  # fmt: skip
    expected = [production[k].id for k in zip(table["key.store"], table["key.sku"], strict=True)]
    assert table["version_id"].tolist() == expected
    promoted = {k for k, v in production.items() if v.run_id == result.candidate.run_id}
    by_candidate = table[table["version"] == 2]
    assert set(zip(by_candidate["key.store"], by_candidate["key.sku"], strict=True)) == promoted
    # Each key's rows carry what its production version reads, and it answered with them.
    store, sku = sorted(promoted)[0]
    rows = table[(table["key.store"] == store) & (table["key.sku"] == sku)].sort_values("day")
    model = client.load_model(DEMAND, {"store": store, "sku": sku}, alias="production")
    X = rows[[f"feature.{n}" for n in model.coef]].set_axis(list(model.coef), axis=1)
    assert get_flavor("linear").predict(model, X).tolist() == pytest.approx(
        rows["prediction"].tolist()
    )


def test_replay_sends_the_actuals_as_feedback(built, replayed) -> None:
    _, result = built
    replay, logs, _ = replayed
    predictions, feedback = _logged(logs, "predictions"), _logged(logs, "feedback")
    assert len(feedback) == replay.actuals == KEYS * 7
    both = predictions.merge(feedback, on=["request_id", "row"], suffixes=("", "_truth"))
    assert len(both) == KEYS * 7
    assert (both["key.store"] == both["key.store_truth"]).all()
    assert (both["key.sku"] == both["key.sku_truth"]).all()
    day = both["request_id"].map(replay.request_days)
    assert (pd.to_datetime(both["for_time"]).dt.strftime("%Y-%m-%d") == day).all()
    week = week_of_sales(result.world, replay.drifted)
    week["day"] = week["date"].dt.strftime("%Y-%m-%d")
    both["day"] = day
    truth = both.merge(week, left_on=["key.store", "key.sku", "day"],
                       right_on=["store", "sku", "day"])  # fmt: skip
    assert len(truth) == KEYS * 7 and (truth["actual"] == truth["sales"]).all()


def test_replay_drifts_a_few_stores_apart_from_the_others(built, replayed) -> None:
    _, result = built
    replay, logs, _ = replayed
    assert replay.drifted == drifted_stores(result.world) == drifted_stores(make_world(QUICK))
    hit_by_competitor = result.world.stores.loc[result.world.stores["competitor_from"].notna()]
    assert not set(replay.drifted) & set(hit_by_competitor["store"])
    both = _logged(logs, "predictions").merge(_logged(logs, "feedback"), on=["request_id", "row"])
    both["date"] = pd.to_datetime(both["request_id"].map(replay.request_days))
    sales = result.world.sales.rename(columns={"store": "key.store_x", "sku": "key.sku_x"})
    both = both.merge(sales, on=["key.store_x", "key.sku_x", "date"])
    assert len(both) == KEYS * 7
    hit = both["key.store_x"].isin(replay.drifted).to_numpy()
    assert hit.any() and not hit.all()
    # The features the models read: a promotion every day in the drifted stores only.
    promo = both["feature.promo"]
    assert promo[hit].notna().any() and (promo[hit].dropna() == 1.0).all()
    assert promo[~hit].dropna().mean() < 0.3
    assert (
        both.loc[~hit, "feature.promo"].dropna()
        == both.loc[~hit, "promo"][both.loc[~hit, "feature.promo"].notna()].astype(float)
    ).all()
    # The actuals: twice what the world sold there, as sold everywhere else.
    assert (both.loc[hit, "actual"] == np.rint(both.loc[hit, "sales"] * DRIFT_SALES)).all()
    assert (both.loc[~hit, "actual"] == both.loc[~hit, "sales"]).all()
    ratio = both["actual"] / both["prediction"].clip(lower=1.0)
    assert ratio[hit].median() > 1.5 * ratio[~hit].median()


def test_the_printed_curl_is_answered(replayed) -> None:
    replay, _, answer = replayed
    assert answer.status_code == 200, answer.text
    keys = [a["key"] for a in answer.json()["predictions"]]
    assert keys == [{"store": r["store"], "sku": r["sku"]} for r in replay.example]
    assert len(replay.example) == 2 and len({frozenset(r) for r in replay.example}) == 2


def test_a_taken_port_moves_the_server_and_sigterm_stops_it_with_its_logs(built, tmp_path):
    client, _ = built
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = create_app(
            client, auth=Auth.off(), logs_url=str(tmp_path / "logs"), log_flush_seconds=3600
        )
        server = DemoServer(app, port=port)
        assert server.moved and server.port != port
        server.start()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        row = {"store": "s002", "sku": make_world(QUICK).skus["sku"].iloc[0]}
        row.update(features([QUICK.dates[-1]], origin=QUICK.start)[list(DOW)].iloc[0].to_dict())
        reply = http.post(PREDICT, json={"rows": [row]}, headers={"X-Request-ID": "r-1"})
        assert reply.status_code == 200, reply.text
    before = signal.getsignal(signal.SIGTERM)
    killer = threading.Thread(target=_sigterm_once_handled, args=(before, server))
    killer.start()
    server.wait()  # returns on SIGTERM (or Ctrl-C), after a graceful stop
    killer.join()
    assert not server._thread.is_alive() and signal.getsignal(signal.SIGTERM) == before
    # Nothing was due by time or size: the graceful stop wrote the log.
    assert _logged(tmp_path / "logs", "predictions")["request_id"].tolist() == ["r-1"]


def _sigterm_once_handled(before: object, server: DemoServer) -> None:
    """SIGTERM this process once ``server.wait`` handles it (never while it would kill)."""
    deadline = time.monotonic() + 10
    while signal.getsignal(signal.SIGTERM) == before:
        if time.monotonic() > deadline:
            server._server.should_exit = True  # let the test fail on its assertion instead
            return
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
