"""The fault suite: a real process killed with ``kill -9`` at named points, then the invariants.

Each case runs a Shoal call in a child process with ``SHOAL_FAULT`` naming a point (see
:mod:`shoal.faults`), so the child SIGKILLs itself exactly there: no ``finally``, no
flush, no polite unlock. Then, from a fresh process's point of view:

- the store is unchanged or fully changed, never half-written;
- ``shoal gc`` (grace 0) leaves no orphan, and ``shoal verify`` finds every blob whole;
- a killed run reads ``interrupted`` once its lease expires, and resuming it trains each
  missing key exactly once;
- a server under load stopped with SIGTERM has every acknowledged row on disk; one killed
  with SIGKILL leaves only whole log files and starts again on the same store.

``SHOAL_FAULT_REPEAT`` (default 1) repeats each kill with fresh data; docs/reliability.md
records a run with more.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from tests.monitor_world import DAY, write_logs
from tests.monitor_world import keys as world_keys
from tests.monitor_world import register as world_register

import shoal
from shoal.flavors.linear import LinearModel
from shoal.http.server import free_port

REPEAT = int(os.environ.get("SHOAL_FAULT_REPEAT", "1"))
TESTS = Path(__file__).parent
KILLED = -signal.SIGKILL


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """The environment a child process needs to reach this test's store."""
    return {
        **os.environ,
        "SHOAL_STORE_URL": f"sqlite:///{tmp_path / 'shoal.db'}",
        "SHOAL_ARTIFACTS_URL": str(tmp_path / "artifacts"),
        "SHOAL_RUN_LEASE_SECONDS": "1",
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")]),
    }


def _connect(env: dict[str, str]) -> shoal.Client:
    return shoal.connect(env["SHOAL_STORE_URL"], env["SHOAL_ARTIFACTS_URL"])


def _run(tmp_path: Path, env: dict[str, str], body: str, fault: str | None) -> int:
    """Run ``body`` (after a common header) in a child; its exit status."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent("""\
        import pandas as pd
        import shoal
        from shoal.flavors.linear import LinearModel

        def fit(frame):
            return LinearModel(float(frame["y"].mean()), {})

        if __name__ == "__main__":
            client = shoal.connect()
            fleet = client.fleet("grocer/demand")
        """) + textwrap.indent(textwrap.dedent(body), "    "))  # fmt: skip
    child_env = {**env, **({"SHOAL_FAULT": fault} if fault else {})}
    done = subprocess.run([sys.executable, str(script)], env=child_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    if fault is None:
        assert done.returncode == 0, done.stderr[-3000:]
    return done.returncode


def _clean_after_gc(client: shoal.Client) -> None:
    """gc (no grace) removes every orphan; after it nothing is left to find, all verifies."""
    client.gc(apply=True, grace_seconds=0)
    again = client.gc(grace_seconds=0)
    assert again.packs + again.objects + again.temporary + again.rows == 0, again.items
    assert client.verify().bad == []


def _records(n: int, start: int = 0, bias: float = 0.0) -> list[dict[str, Any]]:
    return [{"key": {"store": f"s{i:03d}"}, "model": LinearModel(i + bias, {"x": 0.5}),
             "metrics": {"mape": 0.1}} for i in range(start, start + n)]  # fmt: skip


def _snapshot(fleet: shoal.Fleet) -> tuple[int, int, dict[str, int]]:
    """What a reader sees: models, versions, alias coverage."""
    return fleet.count(), fleet.count(versions="all"), fleet.coverage()


@pytest.mark.parametrize("point", ["register.artifacts_written", "register.before_commit"])
def test_a_register_killed_leaves_the_store_unchanged_and_gc_takes_its_packs(
    tmp_path: Path, home: dict[str, str], point: str
) -> None:
    client = _connect(home)
    fleet = client.fleet("grocer/demand", keys=["store"])
    fleet.register(_records(20))
    for attempt in range(REPEAT):
        before = _snapshot(fleet)
        body = (
            f"fleet.register([{{'key': {{'store': f's{{i:03d}}'}}, "
            f"'model': LinearModel(i + {attempt + 0.5}, {{'x': 0.5}})}} for i in range(200)])"
        )
        assert _run(tmp_path, home, body, point) == KILLED
        assert _snapshot(fleet) == before  # unchanged: nothing half-written
    _clean_after_gc(client)
    fleet.register(_records(200, bias=0.25))  # and the store takes the same call again
    assert fleet.count() == 200


def test_a_promotion_killed_before_commit_moves_no_model(
    tmp_path: Path, home: dict[str, str]
) -> None:
    client = _connect(home)
    fleet = client.fleet("grocer/demand", keys=["store"])
    fleet.register(_records(30))
    fleet.register(_records(30, bias=0.5))
    fleet.set_alias("production", {f"s{i:03d}": 1 for i in range(30)}, create=True)
    moves = len(fleet.alias_moves().items)
    for _ in range(REPEAT):
        body = "fleet.promote('production', 'mape < 1')"
        assert _run(tmp_path, home, body, "promote.before_commit") == KILLED
        assert _at_production(fleet) == {1}
        assert len(fleet.alias_moves().items) == moves
    _run(tmp_path, home, "fleet.promote('production', 'mape < 1')", None)
    assert _at_production(fleet) == {2}  # fully changed, all at once


def _at_production(fleet: shoal.Fleet) -> set[int]:
    return {fleet.get({"store": f"s{i:03d}"}, alias="production").version for i in range(30)}


def test_a_training_run_killed_mid_way_resumes_each_missing_key_exactly_once(
    tmp_path: Path, home: dict[str, str]
) -> None:
    client = _connect(home)
    fleet = client.fleet("grocer/demand", keys=["store"])
    for attempt in range(REPEAT):
        body = f"""\
            stores = [f"s{{i:02d}}" for i in range(40)]
            data = pd.DataFrame({{"store": stores * 2, "y": [{attempt} + i for i in range(80)]}})
            data.to_parquet("data.parquet")
            fleet.train(data, fit, workers=1, batch_size=5, max_retries=0, progress=False)
            """
        assert _run(tmp_path, home, body, "train.batch_registered@3") == KILLED
        run = fleet.runs(limit=1).items[0]
        kept = fleet.count(versions="all")
        _wait(lambda run_id=run.id: client.run(run_id).status == "interrupted")
        fleet.resume(run.id, data=pd.read_parquet(tmp_path / "data.parquet"), fn=_fit,
                     progress=False)  # fmt: skip
        resumed = client.run(run.id)
        assert resumed.status == "succeeded", resumed.to_dict()
        assert fleet.count(versions="all") == kept + (40 - 15)  # the 3 batches kept, once
        assert fleet.count(versions="all") == 40 * (attempt + 1)  # one version per key a run
    _clean_after_gc(client)


@pytest.mark.parametrize("point", ["score.part_written@2", "score.part_logged@3"])
def test_a_scoring_killed_mid_way_resumes_each_part_once_and_logs_it_once(
    tmp_path: Path, home: dict[str, str], point: str
) -> None:
    """Killed after its second part is recorded, or after its third part's logs were
    written but before its output and record: the rerun scores each missing part once and
    replaces what the dead attempt logged for them, so every row is logged exactly once."""
    client = _connect(home)
    fleet = client.fleet("grocer/demand", keys=["store"])
    stores = [f"s{i:02d}" for i in range(6)]
    fleet.register([{"key": s, "model": LinearModel(float(i), {"x": 0.5})}
                    for i, s in enumerate(stores)])  # fmt: skip
    fleet.set_alias("production", {s: 1 for s in stores}, create=True)
    data = pd.DataFrame({"store": stores * 5, "x": [float(i) for i in range(30)]})
    data.to_parquet(tmp_path / "in", partition_cols=["store"])
    logs = tmp_path / "logs"
    for attempt in range(REPEAT):
        out = tmp_path / f"out{attempt}"
        body = f"""\
            fleet.predict("in", out="{out.name}", logs="{logs}", workers=1, progress=False)
            """
        assert _run(tmp_path, home, body, point) == KILLED
        assert not out.exists() and Path(f"{out}.partial").is_dir()
        run = fleet.runs(limit=1).items[0]
        _wait(lambda run_id=run.id: client.run(run_id).status == "interrupted")
        scores = fleet.predict(tmp_path / "in", out=out, logs=str(logs), workers=1,
                               progress=False)  # fmt: skip
        assert scores.resumed_parts == 2 and scores.rows_scored == 30  # the figures of all
        written = pd.read_parquet(out)
        assert len(written) == 30 and not Path(f"{out}.partial").exists()
        logged = pd.read_parquet(logs / "predictions")
        assert len(logged) == 30 * (attempt + 1)  # every row logged once a run, none twice
        assert logged.groupby(["request_id", "row"]).size().max() == 1
        assert written["request_id"].str.startswith(f"batch-{run.id}-").all()  # the origin's


def test_an_evaluation_killed_before_commit_records_nothing(
    tmp_path: Path, home: dict[str, str]
) -> None:
    client = _connect(home)
    fleet = client.fleet("grocer/demand", keys=["store"])
    fleet.register(_records(10))
    fleet.set_alias("candidate", {f"s{i:03d}": 1 for i in range(10)}, create=True)
    body = """\
        holdout = pd.DataFrame({"store": [f"s{i:03d}" for i in range(10)] * 3,
                                "x": [1.0, 2.0, 3.0] * 10, "y": [2.0, 3.0, 4.0] * 10})
        fleet.evaluate(holdout, alias="candidate", target="y", progress=False)
        """
    for _ in range(REPEAT):
        assert _run(tmp_path, home, body, "evaluate.before_commit") == KILLED
        assert set(fleet.get({"store": "s003"}).metrics) == {"mape"}
    _run(tmp_path, home, body, None)
    assert len(fleet.get({"store": "s003"}).metrics) > 1  # fully recorded


@pytest.mark.parametrize("point", ["monitor.before_commit", "monitor.results_stored"])
def test_a_monitoring_pass_killed_stores_a_whole_window_or_none_and_reads_interrupted(
    tmp_path: Path, home: dict[str, str], point: str
) -> None:
    client = _connect(home)
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    keys = world_keys(3, 4)
    write_logs(tmp_path / "logs", world_register(fleet, keys), keys)
    body = f"""\
        import datetime as dt
        from tests.monitor_world import DAY
        fleet.monitor("1d", logs={str(tmp_path / "logs")!r}, since=DAY,
                      until=DAY + dt.timedelta(days=1))
        """
    for _ in range(REPEAT):
        assert _run(tmp_path, home, body, point) == KILLED
        stored = _stored(fleet)
        assert stored in (0, len(keys))  # a whole window or none
        assert (stored == len(keys)) == (point == "monitor.results_stored")
        run = fleet.runs(limit=1).items[0]
        _wait(lambda run_id=run.id: client.run(run_id).status == "interrupted")
    _run(tmp_path, home, body, None)
    assert _stored(fleet) == len(keys)  # the window once, not twice


def _stored(fleet: shoal.Fleet) -> int:
    """How many models a stored 1-day window holds (0: no window)."""
    try:
        return len(fleet.monitoring.worst("mape", n=1000, window="1d", at=DAY))
    except shoal.NotFound:
        return 0


def _fit(frame: pd.DataFrame) -> LinearModel:
    """The child's ``fit``, for the resume (a function in ``__main__`` has no name to load)."""
    return LinearModel(float(frame["y"].mean()), {})


def _wait(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


# -- a server under load -------------------------------------------------------------------


def _report(**figures: Any) -> None:
    """Append a case's figures to ``SHOAL_FAULT_REPORT`` (a JSON-lines file), when set."""
    target = os.environ.get("SHOAL_FAULT_REPORT")
    if target:
        with open(target, "a") as out:
            out.write(json.dumps(figures) + "\n")


def _serve(home: dict[str, str], logs: Path, port: int, *flush: str) -> subprocess.Popen[str]:
    with open(f"{logs}.server.log", "w") as out:  # the child keeps its own copy of the fd
        server = subprocess.Popen(
            [sys.executable, "-m", "shoal", "serve", "--no-auth", "--port", str(port), "--logs-url",
             str(logs), "--refresh-seconds", "60", *flush],
            env=home, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    _wait(lambda: _ready(port), 60)
    return server


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _post(port: int, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            answer: dict[str, Any] = json.loads(reply.read())
            return answer
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return None  # not acknowledged: the server was stopping (or killed mid-answer)


def _load(port: int, stop: threading.Event, acknowledged: list[tuple[str, str]]) -> None:
    """Predictions and feedback until ``stop``; records what the server acknowledged."""
    n = 0
    while not stop.is_set():
        n += 1
        rows = [{"store": f"s{i:03d}", "x": float(n)} for i in range(5)]
        answer = _post(port, "/api/v1/fleets/grocer/demand/predict", {"rows": rows})
        if answer is None:
            continue
        acknowledged.append(("prediction", answer["request_id"]))
        feedback = {"items": [{"request_id": answer["request_id"], "row": 0, "actual": 1.0}]}
        if _post(port, "/api/v1/fleets/grocer/demand/feedback", feedback) is not None:
            acknowledged.append(("feedback", answer["request_id"]))


def _on_disk(logs: Path) -> dict[str, set[str]]:
    """Request ids in every log file, reading each whole (a torn file fails here)."""
    found: dict[str, set[str]] = {"prediction": set(), "feedback": set()}
    for kind, folder in (("prediction", "predictions"), ("feedback", "feedback")):
        for path in (logs / folder).rglob("*.parquet"):
            found[kind] |= set(pq.read_table(path, columns=["request_id"]).column(0).to_pylist())
    return found


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGKILL])
def test_a_server_stopped_under_load_keeps_what_it_acknowledged(
    tmp_path: Path, home: dict[str, str], stop_with: signal.Signals
) -> None:
    client = _connect(home)
    fleet = client.fleet("grocer/demand", keys=["store"])
    fleet.register(_records(5))
    fleet.set_alias("production", {f"s{i:03d}": 1 for i in range(5)}, create=True)
    before = _snapshot(fleet)
    for attempt in range(REPEAT):
        logs, port = tmp_path / f"logs{attempt}", free_port()
        server = _serve(home, logs, port, "--log-flush-rows", "200", "--log-flush-seconds", "0.5")
        stop, acknowledged = threading.Event(), list[tuple[str, str]]()
        workers = [threading.Thread(target=_load, args=(port, stop, acknowledged))
                   for _ in range(4)]  # fmt: skip
        for worker in workers:
            worker.start()
        _wait(lambda seen=acknowledged: len(seen) > 200)
        server.send_signal(stop_with)
        server.wait(timeout=60)
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        found = _on_disk(logs)  # every file reads whole, after either signal
        lost = [(kind, rid) for kind, rid in acknowledged if rid not in found[kind]]
        _report(signal=stop_with.name, acknowledged=len(acknowledged), lost=len(lost))
        if stop_with == signal.SIGTERM:
            for kind, request_id in acknowledged:
                assert request_id in found[kind], f"acknowledged {kind} {request_id} lost"
        assert _snapshot(fleet) == before  # serving writes nothing to the store
    restarted = _serve(home, tmp_path / "logs-again", free_port())  # starts on the same store
    restarted.terminate()
    restarted.wait(timeout=60)
