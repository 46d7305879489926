"""The demo end to end: the quick world through Python and through the CLI, then checked
through the SDK the way a user would look at it (counts, lineage, aliases, loading)."""

from __future__ import annotations

import io
import shlex
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
import typer
from rich.console import Console
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

import shoal
from shoal.cli.demo import demo_command
from shoal.data import fingerprint, slice_fingerprints
from shoal.demo import DemoResult, WorldSpec, build_demo, features, make_world
from shoal.demo.apparel import FLEET as APPAREL
from shoal.demo.customers import FEATURES
from shoal.demo.grocer import FLEET as DEMAND
from shoal.demo.progress import ConsoleReporter
from shoal.demo.summary import collect, python_snippet
from shoal.demo.world import demand_keys, sales_matrix
from shoal.errors import InvalidInput
from shoal.flavors import get_flavor

QUICK = WorldSpec.quick()
KEYS = QUICK.stores * QUICK.skus


def _connect(root: Path) -> shoal.Client:
    return shoal.connect(f"sqlite:///{root / 'shoal.db'}", str(root / "artifacts"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[shoal.Client, DemoResult]]:
    client = _connect(tmp_path_factory.mktemp("demo"))
    yield client, build_demo(client, QUICK)
    client.close()


def test_world_is_deterministic_and_sized_by_its_spec() -> None:
    one, two = make_world(QUICK), make_world(QUICK)
    assert fingerprint(one.sales) == fingerprint(two.sales)
    assert fingerprint(one.orders) == fingerprint(two.orders)
    assert fingerprint(make_world(replace(QUICK, seed=8)).sales) != fingerprint(one.sales)
    assert len(one.sales) == KEYS * QUICK.days
    assert one.orders["category"].nunique() == QUICK.categories
    assert (one.sales["sales"] >= 0).all() and one.sales["promo"].any()
    assert one.stores["competitor_from"].notna().sum() >= 1


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere(terminal: bool) -> None:
    console = Console(file=io.StringIO(), force_terminal=terminal, width=80)
    with ConsoleReporter(console).task("fitting", 8) as advance:
        for _ in range(8):
            advance(1)
    text = console.file.getvalue()
    assert ("\x1b[" in text) is terminal
    assert "8/8" in text
    if not terminal:
        lines = text.splitlines()
        assert lines[:3] == ["fitting: 2/8", "fitting: 4/8", "fitting: 6/8"]
        assert len(lines) == 4 and lines[3].startswith("fitting: 8/8 done in ")


def test_spec_names_the_bad_field() -> None:
    with pytest.raises(InvalidInput, match="days must leave") as info:
        WorldSpec(days=30, holdout_days=14)
    assert info.value.field == "days"


def test_both_tenants_and_fleets_with_expected_counts(built) -> None:
    client, result = built
    fleets = {f"{f['tenant']}/{f['name']}": f for f in client.fleets()}
    candidates = result.candidate.registered
    assert fleets[DEMAND]["model_count"] == KEYS
    assert fleets[DEMAND]["version_count"] == KEYS + candidates
    assert fleets[DEMAND]["keys"] == ["store", "sku"]
    assert fleets[APPAREL]["model_count"] == fleets[APPAREL]["version_count"] == QUICK.categories
    assert candidates == QUICK.skus * len(range(0, QUICK.stores, 3))
    assert client.fleet(DEMAND).coverage() == {"production": KEYS, "candidate": candidates}
    assert client.fleet(APPAREL).coverage() == {"production": QUICK.categories}


def test_every_version_has_lineage(built) -> None:
    client, result = built
    sales, orders = result.world.sales, result.world.orders
    checks = [
        (DEMAND, sales, ["store", "sku"], result.demand.dataset.id),
        (APPAREL, orders, ["category"], result.apparel.dataset.id),
    ]
    for path, frame, keys, dataset_id in checks:
        dataset = client.datasets.get(dataset_id)
        assert dataset.fingerprint == fingerprint(frame)
        assert dataset.row_count == len(frame)
        slices = slice_fingerprints(frame, keys)
        versions = list(client.fleet(path).iter_search(versions="all"))
        assert versions
        runs = {}
        for v in versions:
            assert v.dataset_id == dataset.id
            assert v.slice_fingerprint == slices[tuple(v.key[k] for k in keys)]
            run = runs.setdefault(v.run_id, client.get_run(v.run_id))
            assert run["status"] == "succeeded"
            assert run["counts"]["registered"] >= 1 and run["counts"]["failed"] == 0
        lineage = client.lineage(versions[0])
        assert lineage["dataset"]["fingerprint"] == fingerprint(frame)
        assert lineage["run"]["status"] == "succeeded"
    assert len(client.fleet(DEMAND).runs()) == 2


def test_candidates_name_their_production_parent(built) -> None:
    client, _ = built
    demand = client.fleet(DEMAND)
    for v in demand.iter_search("alias = 'candidate'"):
        parent = demand.get(v.key, alias="production")
        assert v.parent_version_id == parent.id
        assert v.params["features"].endswith("+promo")
        assert "promo" in {i["name"] for i in v.signature["inputs"]}


def test_dry_run_promote_selects_winning_candidates_and_moves_nothing(built) -> None:
    client, result = built
    demand = client.fleet(DEMAND)
    wins = sum(
        v.metrics["mape"] < demand.get(v.key, alias="production").metrics["mape"]
        for v in demand.iter_search("alias = 'candidate'")
    )
    assert result.dry_run.dry_run and result.dry_run.moved == wins > 0
    assert demand.count("alias = 'production' and version = 1") == KEYS


def test_demand_model_loads_and_predicts_sensibly(built) -> None:
    client, result = built
    world, spec = result.world, result.world.spec
    row = 1  # second SKU of the first store
    store, sku = demand_keys(world)[row]
    version = client.fleet(DEMAND).get({"store": store, "sku": sku}, alias="production")
    model = client.load_model(DEMAND, {"store": store, "sku": sku}, alias="production")
    X = features(spec.dates, origin=version.params["trend_origin"])
    predicted = get_flavor("linear").predict(model, X)
    actual = sales_matrix(world)[row].astype(float)
    train = spec.train_days
    # Least squares with an intercept: residuals over the training days sum to zero.
    assert predicted[:train].mean() == pytest.approx(actual[:train].mean(), rel=1e-4)
    held, truth = predicted[train:], actual[train:]
    sold = truth > 0
    mape = float(np.mean(np.abs(held[sold] - truth[sold]) / truth[sold]))
    assert mape == pytest.approx(version.metrics["mape"], rel=1e-3)
    assert model.predict_one(X.iloc[0]) == pytest.approx(predicted[0])


def test_classifier_loads_via_skops_and_predicts(built) -> None:
    client, result = built
    fleet = client.fleet(APPAREL)
    version = fleet.get("dresses", alias="production")
    assert version.flavor == "sklearn"
    data = client.registry.read_artifact(version.artifact_sha256)
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


def test_summary_reads_a_realistic_minority(built) -> None:
    client, result = built
    summary = collect(client, result)
    assert 0 < summary.over < KEYS / 2
    assert sum(summary.facet.values()) == summary.over
    worst = summary.worst[0].metrics["mape"]
    assert all(v.metrics["mape"] <= worst for v in summary.worst)
    assert summary.worst[0].id and len(summary.classifiers) == QUICK.categories


def test_the_printed_python_tour_runs(built) -> None:
    client, result = built
    summary = collect(client, result)
    namespace: dict = {}
    exec(python_snippet(summary), namespace)
    assert isinstance(namespace["page"][0], shoal.ModelVersion)
    assert namespace["model"].predict_one(namespace["X"].iloc[0]) > 0
    namespace["client"].close()


def test_a_second_build_finds_the_world_built(built) -> None:
    client, _ = built
    again = build_demo(client, QUICK)
    assert again.demand.already_built and again.apparel.already_built
    assert again.candidate is None
    assert client.fleet(DEMAND).count(versions="all") == KEYS + QUICK.skus * 2


def test_retrain_registers_new_versions_on_top(tmp_path: Path) -> None:
    spec = replace(QUICK, stores=2, skus=3, categories=2, orders_per_category=100)
    client = _connect(tmp_path)
    build_demo(client, spec)
    again = build_demo(client, spec, retrain=True)
    assert not again.demand.already_built
    demand = client.fleet(DEMAND)
    assert demand.count(versions="all") == 2 * (6 + 3)
    assert demand.count(f"alias = 'production' and run = {again.demand.run_id}") == 6
    assert demand.count(f"alias = 'candidate' and run = {again.candidate.run_id}") == 3
    client.close()


def test_cli_quick_demo_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOAL_STORE_URL", raising=False)
    monkeypatch.delenv("SHOAL_ARTIFACTS_URL", raising=False)
    app = typer.Typer()
    app.command()(demo_command)
    runner = CliRunner()
    first = runner.invoke(app, ["--quick"])
    assert first.exit_code == 0, first.output
    assert "fitting grocer/demand (baseline): 60/60 done" in first.output
    assert "Try next" in first.output and "shoal lineage" in first.output
    second = runner.invoke(app, ["--quick"])
    assert second.exit_code == 0, second.output
    assert "already built" in second.output
    client = shoal.connect()
    try:
        fleets = {f"{f['tenant']}/{f['name']}": f for f in client.fleets()}
        assert fleets[DEMAND]["model_count"] == KEYS
        assert fleets[APPAREL]["model_count"] == QUICK.categories
        assert client.fleet(DEMAND).coverage()["production"] == KEYS
        assert Path(client.store_url.removeprefix("sqlite:///")).is_relative_to(tmp_path)
    finally:
        client.close()


def test_cli_sizes_and_store_options(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(demo_command)
    store, blobs = f"sqlite:///{tmp_path / 'other.db'}", str(tmp_path / "blobs")
    args = ["--quick", "--stores", "2", "--skus", "3", "--store", store, "--artifacts", blobs]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"shoal --store {store} --artifacts {blobs} fleets" in result.output
    client = shoal.connect(store, blobs)
    try:
        assert client.fleet(DEMAND).count() == 6
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
    assert len(printed) == 6
    for args in printed:
        done = runner.invoke(app, args)
        assert done.exit_code == 0, (args, done.output)
