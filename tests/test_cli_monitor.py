"""``shoal monitor``, ``shoal alerts`` and ``shoal retrain`` on real logs and a real store."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests import monitor_world as world
from typer.testing import CliRunner

import shoal
from shoal.cli import app

TRAINERS = """
from sklearn.linear_model import LinearRegression


def fit(frame):
    return LinearRegression().fit(frame[["x1", "x2"]], frame["y"])
"""
DRIFT = frozenset({"s01/k02", "s02/k00"})


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "trainers.py").write_text(textwrap.dedent(TRAINERS))
    rng = np.random.default_rng(4)
    frames = []
    for key in world.keys(3, 4):
        part = world.training_slice(rng, 50)
        frames.append(part.assign(store=key["store"], sku=key["sku"]))
    pd.concat(frames).to_parquet(tmp_path / "sales.parquet")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("trainers", None)


def test_monitor_alert_and_retrain_from_the_shell(folder: Path) -> None:
    fleet = shoal.connect().fleet("grocer/demand", keys=["store", "sku"])
    keys = world.keys(3, 4)
    versions = world.register(fleet, keys)
    world.write_logs(folder / "logs", versions, keys, drift=DRIFT)
    cli("alerts", "add", "grocer/demand", "drift", "psi > 0.2 on any feature")
    assert "psi > 0.2" in cli("alerts", "rules", "grocer/demand")

    span = ["--since", "2026-11-20", "--until", "2026-11-21"]
    ran = json.loads(cli("monitor", "run", "grocer/demand", "-w", "1d", *span, "--logs", "logs",
                         "--json"))  # fmt: skip
    # drift, and the built-in quality rule (the drifted keys' MAPE is 3x the recorded one)
    assert ran["versions"] == 12 and ran["drifting_models"] >= 2 and ran["alerts_opened"] == 4
    [listed] = json.loads(cli("runs", "grocer/demand", "--json"))["items"]
    shown = cli("run", "show", str(listed["id"]))  # a monitor run times its stages: no traceback
    assert listed["kind"] == "monitor" and "alerts_opened" in shown and "monitor" in shown
    refused = CliRunner().invoke(app, ["run", "resume", str(listed["id"])])
    assert refused.exit_code != 0 and "is a 'monitor' run; resume takes a training run" in (
        refused.output
    )
    worst = json.loads(cli("monitor", "worst", "grocer/demand", "--by", "max_psi", "-n", "2",
                           "--json"))  # fmt: skip
    assert {f"{r['key']['store']}/{r['key']['sku']}" for r in worst} == DRIFT
    table = cli("monitor", "rollup", "grocer/demand", "--by", "store")
    assert "s01" in table and "25%" in table
    trend = json.loads(cli("monitor", "trend", "grocer/demand", "-k", "store=s01", "-k", "sku=k02",
                           "--json"))  # fmt: skip
    assert len(trend) == 1 and trend[0]["drifted_features"] == 1

    alerts = json.loads(cli("alerts", "list", "grocer/demand", "--json"))
    assert {a["rule"] for a in alerts} == {"drift", "quality"}  # two of each, on two models
    assert len(alerts) == 4 and len({a["model_id"] for a in alerts}) == 2
    assert "acknowledged" in cli("alerts", "ack", "grocer/demand", str(alerts[0]["id"]))

    run = json.loads(cli("retrain", "grocer/demand", "sales.parquet", "trainers:fit", "-q",
                         "--json"))  # fmt: skip
    assert run["keys"] == 2 and run["done"] == 2
    assert fleet.coverage().get("candidate") == 2
    for key in ({"store": "s01", "sku": "k02"}, {"store": "s02", "sku": "k00"}):
        assert fleet.get(key, alias="candidate").version == 2


def test_monitor_refuses_a_bad_window_with_a_clear_error(folder: Path) -> None:
    shoal.connect().fleet("grocer/demand", keys=["store", "sku"])
    result = CliRunner().invoke(app, ["monitor", "run", "grocer/demand", "--window", "1y"])
    assert result.exit_code == 2
    assert "window" in result.stderr and "1d" in result.stderr


def test_retrain_takes_data_and_fn_from_the_last_training_run(folder: Path) -> None:
    fleet = shoal.connect().fleet("grocer/demand", keys=["store", "sku"])
    trained = json.loads(cli("train", "grocer/demand", "sales.parquet", "trainers:fit", "-q",
                             "--json"))  # fmt: skip
    assert trained["done"] == 12
    versions = {f"{v.key['store']}/{v.key['sku']}": v.id for v in fleet.search(limit=100)}
    world.write_logs(folder / "logs", versions, world.keys(3, 4), drift=frozenset({"s02/k03"}))
    fleet.alerts.add_rule("drift", "psi > 0.2 on any feature")
    cli("monitor", "run", "grocer/demand", "--since", "2026-11-20", "--until", "2026-11-21",
        "--logs", "logs", "-q")  # fmt: skip
    assert fleet.alerts.keys() == [{"store": "s02", "sku": "k03"}]
    run = json.loads(cli("retrain", "grocer/demand", "-q", "--json"))
    assert (run["keys"], run["done"], run["params"]["fn"]) == (1, 1, "trainers:fit")
    assert fleet.get({"store": "s02", "sku": "k03"}, alias="candidate").version == 2
