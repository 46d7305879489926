"""Run leases: one process trains a run at a time; a run whose process died reads
``interrupted``, and resuming it trains each missing key once.

A live holder is a resume training in a background thread, stopped inside its
training function until the test lets it go; a dead one is a training process killed
with SIGKILL. Each waits on an event or polls the store, never on a fixed sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from typer.testing import CliRunner

import shoal
from shoal.cli import app

STORES = [f"s{i:02d}" for i in range(30)]
TRAINERS = """
import time
from pathlib import Path

from sklearn.linear_model import LinearRegression


def fit(frame):
    return {"model": LinearRegression().fit(frame[["price"]], frame["units"])}


def fit_or_hang(frame):
    if frame["store"].iloc[0] == "s10" and Path("hang").exists():
        Path("hanging").write_text("")
        time.sleep(600)
    return fit(frame)
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The cwd: lease_trainers.py (importable by name) and sales.parquet."""
    (tmp_path / "lease_trainers.py").write_text(textwrap.dedent(TRAINERS))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"store": np.repeat(STORES, 10), "price": rng.uniform(1, 5, 300)})
    frame["units"] = 10 - 2 * frame["price"] + rng.normal(0, 0.1, len(frame))
    frame.to_parquet(tmp_path / "sales.parquet")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("lease_trainers", None)


def fit(frame: pd.DataFrame) -> dict[str, Any]:
    return {"model": LinearRegression().fit(frame[["price"]], frame["units"])}


def store_of(frame: pd.DataFrame) -> str:
    return str(frame["store"].iloc[0])


def failed_run(fleet: shoal.Fleet) -> shoal.Run:
    """A run that trained s00..s19 and failed s20..s29: a resume has ten keys to train."""

    def first_twenty(frame: pd.DataFrame) -> Any:
        if store_of(frame) >= "s20":
            raise RuntimeError("feed missing")
        return fit(frame)

    run = fleet.train("sales.parquet", first_twenty, workers=1, max_retries=0, progress=False)
    assert (run.status, run.done, run.failed) == ("failed", 20, 10)
    return run


class Holder:
    """A resume of ``run`` training in a background thread, stopped at key s20 (after
    reopening the run, so holding its lease) until :meth:`release`."""

    def __init__(self, fleet: shoal.Fleet, run: shoal.Run, **train: Any) -> None:
        self.inside = threading.Event()
        self.go = threading.Event()
        self.result: shoal.Run | None = None
        self.error: BaseException | None = None

        def stops_at_s20(frame: pd.DataFrame) -> Any:
            if store_of(frame) == "s20":
                self.inside.set()
                assert self.go.wait(120), "the test never released the holder"
            return fit(frame)

        def work() -> None:
            try:
                self.result = fleet.train("sales.parquet", stops_at_s20, resume=run, workers=1,
                                          progress=False, **train)  # fmt: skip
            except BaseException as exc:  # kept for the test to look at
                self.error = exc

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()
        assert self.inside.wait(120), f"the holder never reached s20: {self.error!r}"

    def release(self) -> None:
        self.go.set()
        self.thread.join(120)
        assert not self.thread.is_alive()


def cli(store_url: str, folder: Path, *args: str) -> Any:
    base = ["--store", store_url, "--artifacts", str(folder / "artifacts")]
    return CliRunner().invoke(app, [*base, *args])


def one_version_per_model(fleet: shoal.Fleet) -> None:
    assert fleet.count() == fleet.count(versions="all") == len(STORES)


def test_a_second_resume_is_refused_while_the_first_holds_the_run(
    client: shoal.Client, store_url: str, folder: Path
) -> None:
    demand = client.fleet("grocer/demand", keys=["store"])
    run = failed_run(demand)
    holder = Holder(demand, run)
    other = shoal.connect(store_url, str(folder / "artifacts"))
    try:
        held = other.run(run.id)
        assert held.status == "running" and held.lease_holder
        assert held.lease_holder.split(":")[1] == str(os.getpid())
        with pytest.raises(shoal.Conflict) as refused:
            other.fleet("grocer/demand").resume(run.id, data="sales.parquet", fn=fit,
                                                workers=1, progress=False)  # fmt: skip
        message = str(refused.value)
        assert f"held by {held.lease_holder}" in message
        assert f"shoal run resume {run.id} --take-over" in message and "take_over=True" in message

        result = cli(store_url, folder, "run", "resume", str(run.id), "--data", "sales.parquet",
                     "--fn", "lease_trainers:fit", "-q")  # fmt: skip
        assert result.exit_code == 4, result.output
        assert held.lease_holder in result.output and "--take-over" in result.output
        shown = cli(store_url, folder, "run", "show", str(run.id))
        assert "running" in shown.stdout and "held by" in shown.stdout
    finally:
        other.close()
        holder.release()
    assert holder.error is None and holder.result is not None
    done = client.run(run.id)
    assert (done.status, done.done, done.failed, done.skipped) == ("succeeded", 30, 0, 20)
    assert done.lease_holder is None and done.lease_expires_at is None
    one_version_per_model(demand)


def test_take_over_moves_the_run_and_the_old_holder_stops_at_its_next_write(
    client: shoal.Client, store_url: str, folder: Path
) -> None:
    demand = client.fleet("grocer/demand", keys=["store"])
    run = failed_run(demand)
    holder = Holder(demand, run, batch_size=1)
    first = client.run(run.id).lease_holder
    other = shoal.connect(store_url, str(folder / "artifacts"))
    try:
        taken = other.fleet("grocer/demand").resume(
            run.id, data="sales.parquet", fn=fit, workers=1, progress=False, take_over=True
        )
        assert (taken.status, taken.done, taken.skipped) == ("succeeded", 30, 20)
    finally:
        other.close()
        holder.release()
    # The old holder finished training s20, then was refused at its next write: its
    # version of s20 is not registered, and it did not mark the run failed on its way out.
    assert isinstance(holder.error, shoal.Conflict), holder.error
    assert f"no longer held by this process ({first})" in str(holder.error)
    after = client.run(run.id)
    assert (after.status, after.done, after.resumes) == ("succeeded", 30, 2)
    one_version_per_model(demand)


def test_take_over_applies_to_a_resume_only(client: shoal.Client, folder: Path) -> None:
    demand = client.fleet("grocer/demand", keys=["store"])
    with pytest.raises(shoal.InvalidInput, match="take_over applies to a resume"):
        demand.train("sales.parquet", fit, take_over=True, progress=False)


def wait_for(check: Callable[[], bool], what: str, seconds: float = 120) -> None:
    """Poll until ``check()`` (a bound on a wait, not an assertion about timing)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_the_lease_is_renewed_while_one_long_key_trains(
    client: shoal.Client, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_RUN_LEASE_SECONDS", "1")
    demand = client.fleet("grocer/demand", keys=["store"])
    run = failed_run(demand)
    holder = Holder(demand, run)
    try:
        seen = client.run(run.id).lease_expires_at
        assert seen is not None
        # No progress write happens while s20 trains: only the keeper can renew it.
        wait_for(lambda: (client.run(run.id).lease_expires_at or 0) > seen, "a renewal")
    finally:
        holder.release()
    assert holder.error is None
    one_version_per_model(demand)


SCRIPT = """
import sys

import shoal

fleet = shoal.connect(sys.argv[1], sys.argv[2]).fleet("grocer/demand", keys=["store"])
fleet.train("sales.parquet", "lease_trainers:fit_or_hang", workers=1, batch_size=4,
            progress=False)
"""


def test_a_killed_run_reads_interrupted_and_resume_trains_each_missing_key_once(
    client: shoal.Client, store_url: str, folder: Path
) -> None:
    demand = client.fleet("grocer/demand", keys=["store"])
    (folder / "hang").write_text("")
    env = {**os.environ, "SHOAL_RUN_LEASE_SECONDS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, store_url, str(folder / "artifacts")],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: (folder / "hanging").exists() or process.poll() is not None, "s10")
        assert process.poll() is None, process.communicate()[0].decode()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()  # reaps it and closes its pipe
    (folder / "hang").unlink()
    [row] = demand.runs()
    wait_for(lambda: client.run(row.id).status == "interrupted", "the lease to expire")
    dead = client.run(row.id)
    assert dead.finished_at is None and dead.lease_holder  # nobody closed it: it expired
    assert dead.done % 4 == 0 and dead.done < 10  # whole batches of 4 only
    kept = dead.done

    listed = cli(store_url, folder, "runs", "grocer/demand", "--json")
    assert json.loads(listed.stdout)["items"][0]["status"] == "interrupted"
    shown = cli(store_url, folder, "run", "show", str(row.id))
    assert "interrupted" in shown.stdout and "stopped renewing" in shown.stdout

    result = cli(store_url, folder, "run", "resume", str(row.id), "-q", "--json")
    assert result.exit_code == 0, result.output
    resumed = json.loads(result.stdout)
    assert (resumed["status"], resumed["done"], resumed["skipped"]) == ("succeeded", 30, kept)
    assert resumed["resumes"] == 1 and resumed["lease_holder"] is None
    one_version_per_model(demand)


def test_runs_opened_by_hand_hold_no_lease(client: shoal.Client) -> None:
    demand = client.fleet("grocer/demand", keys=["store"])
    run_id = demand.start_run("train")
    run = client.run(run_id)
    assert (run.status, run.lease_holder, run.lease_expires_at) == ("running", None, None)
    client.finish_run(run_id)
    assert client.run(run_id).status == "succeeded"


def test_a_bad_lease_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal import config

    monkeypatch.setenv("SHOAL_RUN_LEASE_SECONDS", "0")
    with pytest.raises(shoal.InvalidInput, match="SHOAL_RUN_LEASE_SECONDS"):
        config.run_lease_seconds()
    monkeypatch.setenv("SHOAL_RUN_LEASE_SECONDS", "2.5")
    assert config.run_lease_seconds() == 2.5
