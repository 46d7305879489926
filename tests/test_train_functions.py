"""Training functions travel to worker processes the way joblib and Ray send them.

Real processes, tiny data: a lambda, a closure and a function of a ``__main__`` script
train with ``workers=2`` and give the same models as ``workers=1``, under ``spawn`` and
``forkserver``; a function that cannot be pickled is refused before anything runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import shoal
from shoal.train import ProcessExecutor
from shoal.train._functions import ship
from shoal.train._work import Work

sys.path.insert(0, str(Path(__file__).parent))
from test_train import STORES, fit, sales

pytestmark = pytest.mark.slow

KEYS = STORES[:6]


def same_models(client: shoal.Client, run: Any, name: str, fn: Any) -> None:
    """``run`` (workers=2) trained what ``fn`` trains in this process, key for key."""
    assert (run.status, run.done, run.failed) == ("succeeded", len(KEYS), 0), run.errors
    here = client.fleet(name, keys=["store"]).train(sales(KEYS), fn, workers=1, progress=False)
    assert here.done == len(KEYS)
    for store in KEYS:
        a = client.fleet("grocer/demand").get(store)
        b = client.fleet(name).get(store)
        assert a.run_id == run.id
        assert (a.artifact_sha256, a.metrics) == (b.artifact_sha256, b.metrics)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_lambda_trains_on_worker_processes(client, method, monkeypatch) -> None:
    monkeypatch.setenv("SHOAL_START_METHOD", method)
    demand = client.fleet("grocer/demand", keys=["store"])
    run = demand.train(sales(KEYS), lambda frame: fit(frame), workers=2, progress=False)
    same_models(client, run, "grocer/here", fit)
    assert run.params["workers"] == 2 and run.params["fn"] is None  # no name to resume by


def test_a_closure_over_a_local_variable_trains_on_worker_processes(client) -> None:
    scale = 3.0

    def scaled(frame: pd.DataFrame) -> Any:
        frame = frame.assign(units=frame["units"] * scale)
        return fit(frame)

    demand = client.fleet("grocer/demand", keys=["store"])
    run = demand.train(sales(KEYS), scaled, workers=2, progress=False)
    same_models(client, run, "grocer/here", scaled)
    assert demand.get("s01").metrics["r2"] > 0.9


class Counted:
    """Counts how often this process unpickled it: once per worker, not once per task."""

    loads = 0

    def __init__(self) -> None:
        self.state = "some"  # pickled with it, so unpickling calls __setstate__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        Counted.loads += 1


def test_each_worker_loads_the_function_once(client) -> None:
    counted = Counted()

    def loads(frame: pd.DataFrame) -> Any:
        assert counted is not None
        return {**fit(frame), "metrics": {"loads": Counted.loads, "pid": os.getpid()}}

    demand = client.fleet("grocer/demand", keys=["store"])
    run = demand.train(sales(STORES), loads, workers=2, progress=False)
    assert run.done == len(STORES)
    metrics = [v.metrics for v in demand.iter_search()]
    assert {m["loads"] for m in metrics} == {1}  # 30 keys in many tasks, one load a worker
    assert os.getpid() not in {m["pid"] for m in metrics}  # trained in the workers


def test_a_function_defined_in_a_main_script_trains_on_worker_processes(tmp_path) -> None:
    script = tmp_path / "train_here.py"
    script.write_text(
        textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import shoal
        from test_train import STORES, sales
        from sklearn.linear_model import LinearRegression

        def fit_here(frame):  # defined in __main__: no name a worker could import
            return LinearRegression().fit(frame[["price"]], frame["units"])

        if __name__ == "__main__":
            client = shoal.connect(sys.argv[1], sys.argv[2])
            hashes = {{}}
            for workers in (1, 2):
                fleet = client.fleet(f"grocer/w{{workers}}", keys=["store"])
                run = fleet.train(sales(STORES[:6]), fit_here, workers=workers,
                                  progress=False)
                assert run.status == "succeeded", run.errors
                hashes[workers] = {{v.key["store"]: v.artifact_sha256
                                   for v in fleet.iter_search()}}
            print(json.dumps(hashes))
        """)
    )
    done = subprocess.run(
        [sys.executable, str(script), f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "a")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "SHOAL_START_METHOD": "forkserver"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    hashes = json.loads(done.stdout.strip().splitlines()[-1])
    assert hashes["1"] == hashes["2"] and len(hashes["2"]) == 6


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_a_script_that_trains_unguarded_gets_one_failed_run_and_the_fix(tmp_path, method) -> None:
    """Workers import the main script: training at its top level must not start a run of
    its own in each importing process; the driver's one run fails and says what to do."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import shoal
        from test_train import STORES, sales
        from sklearn.linear_model import LinearRegression

        client = shoal.connect({f"sqlite:///{tmp_path / 's.db'}"!r}, {str(tmp_path / "a")!r})
        fleet = client.fleet("grocer/demand", keys=["store"])
        fleet.train(sales(STORES[:4]), lambda f: LinearRegression().fit(f[["price"]], f["units"]),
                    workers=2, progress=False)
        """)
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300,
        cwd=tmp_path, env={**os.environ, "SHOAL_START_METHOD": method},
    )  # fmt: skip
    assert done.returncode != 0 and 'if __name__ == "__main__":' in done.stderr
    client = shoal.connect(f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "a"))
    try:
        assert [run.status for run in client.fleet("grocer/demand").runs()] == ["failed"]
    finally:
        client.close()


def test_a_function_that_cannot_be_pickled_is_refused_before_anything_runs(
    client, tmp_path
) -> None:
    demand = client.fleet("grocer/demand", keys=["store"])
    lock = threading.Lock()

    def locked(frame: pd.DataFrame) -> Any:
        with lock:
            return fit(frame)

    with pytest.raises(shoal.InvalidInput, match=r"'.*locked' cannot be sent to worker") as info:
        demand.train(sales(KEYS), locked, workers=2, progress=False)
    assert info.value.field == "fn"
    assert "lock" in str(info.value) and "workers=1" in str(info.value)
    with (
        open(tmp_path / "log.txt", "w") as log,  # a file being written: no way to ship it
        pytest.raises(shoal.InvalidInput, match="not opened for reading"),
    ):
        demand.train(sales(KEYS), lambda f: log.write("x") and fit(f), workers=2, progress=False)
    assert list(demand.runs()) == []
    # In this process nothing needs pickling: the same closure trains with workers=1.
    assert demand.train(sales(KEYS), locked, workers=1, progress=False).done == len(KEYS)


def test_an_importable_function_travels_by_name() -> None:
    shipped = ship(Work(json.dumps))
    assert len(shipped.payload) < 300 and b"json" in shipped.payload
    assert shipped.load().fn is json.dumps  # the module's own object: imported, not rebuilt
    assert ship(Work(json.dumps)).digest == shipped.digest


def test_an_unknown_start_method_is_refused(client, monkeypatch) -> None:
    monkeypatch.setenv("SHOAL_START_METHOD", "teleport")
    demand = client.fleet("grocer/demand", keys=["store"])
    with pytest.raises(shoal.InvalidInput, match="start method 'teleport' is not available"):
        demand.train(sales(KEYS), fit, workers=2, progress=False)
    assert list(demand.runs()) == []
    with pytest.raises(shoal.InvalidInput, match="teleport"):
        ProcessExecutor(2, start_method="teleport").check(Work(fit))


EDITED = """
from sklearn.linear_model import LinearRegression


def fit(frame):
    model = LinearRegression().fit(frame[["price"]], frame["units"])
    return {{"model": model, "metrics": {{"edition": {edition}}}}}
"""


def test_a_module_edited_between_two_runs_trains_as_edited(client, tmp_path, monkeypatch) -> None:
    """The fork server outlives a run; a user's module edited and reloaded between two runs
    of one process (a notebook) must train as edited, in the workers as in the driver."""
    import importlib

    monkeypatch.chdir(tmp_path)  # as `shoal train DATA edited_trainer:fit` finds it
    monkeypatch.syspath_prepend(str(tmp_path))
    demand = client.fleet("grocer/demand", keys=["store"])
    try:
        for edition in (1.0, 22.0):  # different sizes: no stale bytecode by equal mtime
            (tmp_path / "edited_trainer.py").write_text(EDITED.format(edition=edition))
            sys.modules.pop("edited_trainer", None)
            importlib.invalidate_caches()
            fit_edited = importlib.import_module("edited_trainer").fit
            run = demand.train(sales(STORES[:4]), fit_edited, workers=2, progress=False)
            assert run.status == "succeeded", run.errors
            assert {v.metrics["edition"] for v in demand.iter_search()} == {edition}
    finally:
        sys.modules.pop("edited_trainer", None)
