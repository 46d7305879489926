"""``shoal train``, ``shoal evaluate`` and ``shoal run resume`` on real Parquet and a real store.

The training functions live in a module written into the test's folder, named on the
command line as ``trainers:fit``, the way a user names their own.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import shoal
from shoal.cli import app

STORES = [f"s{i:02d}" for i in range(6)]

TRAINERS = """
from pathlib import Path

from sklearn.linear_model import LinearRegression


def fit(frame):
    model = LinearRegression().fit(frame[["price"]], frame["units"])
    return {"model": model, "metrics": {"r2": model.score(frame[["price"]], frame["units"])}}


def flaky(frame):
    if frame["store"].iloc[0] == "s01" and Path("broken").exists():
        raise RuntimeError("the s01 feed is broken")
    return fit(frame)
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder: trainers.py, sales.parquet and holdout.parquet; the cwd."""
    (tmp_path / "trainers.py").write_text(textwrap.dedent(TRAINERS))
    rng = np.random.default_rng(0)
    for name, rows in (("sales", 30), ("holdout", 10)):
        frame = pd.DataFrame({"store": np.repeat(STORES, rows),
                              "price": rng.uniform(1, 5, len(STORES) * rows)})  # fmt: skip
        frame["units"] = 10 - 2 * frame["price"] + rng.normal(0, 0.1, len(frame))
        frame.to_parquet(tmp_path / f"{name}.parquet")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("trainers", None)


def shoal_cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_train_then_evaluate_from_the_shell(folder: Path) -> None:
    shoal.connect().fleet("grocer/demand", keys=["store"])
    result = shoal_cli("train", "grocer/demand", "sales.parquet", "trainers:fit", "-q", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert (run["status"], run["done"], run["failed"]) == ("succeeded", 6, 0)
    assert run["params"]["fn"] == "trainers:fit"
    assert run["params"]["data"] == str(folder / "sales.parquet")
    fleet = shoal.connect().fleet("grocer/demand")
    assert fleet.get("s03").metrics["r2"] > 0.9

    fleet.promote("candidate", where="version = 1", create=True)
    result = shoal_cli("evaluate", "grocer/demand", "holdout.parquet", "--alias", "candidate",
                       "--target", "units", "-q", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    assert (scored["evaluated"], scored["skipped"], scored["failed"]) == (6, 0, 0)
    assert 0 < fleet.get("s03").metrics["eval_mae"] < 0.5

    table = shoal_cli("evaluate", "grocer/demand", "holdout.parquet", "--target", "units", "-q")
    assert table.exit_code == 0 and "evaluated" in table.stdout and "alias set" in table.stderr


def test_a_failed_run_exits_1_and_run_resume_trains_only_what_failed(folder: Path) -> None:
    shoal.connect().fleet("grocer/demand", keys=["store"])
    (folder / "broken").touch()
    result = shoal_cli("train", "grocer/demand", "sales.parquet", "trainers:flaky", "-q",
                       "--max-retries", "0")  # fmt: skip
    assert result.exit_code == 1
    assert "RuntimeError: the s01 feed is broken" in result.stdout
    assert "shoal run resume 1" in result.stderr

    (folder / "broken").unlink()
    result = shoal_cli("run", "resume", "1", "-q", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert (run["id"], run["status"], run["done"], run["skipped"]) == (1, "succeeded", 6, 5)
    assert run["resumes"] == 1


def test_bad_function_names_and_unresumable_runs_say_what_to_pass(folder: Path) -> None:
    fleet = shoal.connect().fleet("grocer/demand", keys=["store"])
    for fn, message in (
        ("trainers.fit", "not of the form 'package.module:function'"),
        ("nowhere:fit", "cannot import module 'nowhere'"),
        ("trainers:missing", "has no 'missing'"),
    ):
        result = shoal_cli("train", "grocer/demand", "sales.parquet", fn, "-q")
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert "Traceback" not in result.output
    frame = pd.read_parquet(folder / "sales.parquet")
    run = fleet.train(frame, lambda f: None, workers=1, max_retries=0, progress=False)
    result = shoal_cli("run", "resume", str(run.id), "-q")
    assert result.exit_code == 2 and "pass data= (--data)" in result.stderr
    result = shoal_cli("run", "resume", str(run.id), "--data", "sales.parquet", "-q")
    assert result.exit_code == 2 and "--fn package.module:function" in result.stderr
    result = shoal_cli("run", "resume", str(run.id), "--data", "sales.parquet", "--fn",
                       "trainers:fit", "-q", "--json")  # fmt: skip
    assert result.exit_code == 0 and json.loads(result.stdout)["done"] == 6
