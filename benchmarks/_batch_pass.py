"""One timed scoring side in a process of its own, so its peak memory is its own.

    .venv/bin/python benchmarks/_batch_pass.py shoal --world DIR --flavor linear --db DB \\
        --out DIR [--log --logs DIR] [--workers N]
    .venv/bin/python benchmarks/_batch_pass.py bare --world DIR --flavor linear --out DIR

Both sides import what they use (pandas, pyarrow, LightGBM, scikit-learn, joblib; Shoal
and its scoring module) and Shoal's side opens its store (``shoal.connect``,
``client.fleet``) before the clock starts and before ``rss_before`` is read, so the time
and the growth are the scoring's own. Then one timed call:

- ``shoal``: ``fleet.predict(<the Parquet folder>, alias="production", out=DIR, log=...,
  workers=..., progress=False)`` on a copy of the world's store (the call records a run),
  its artifacts read from the world;
- ``bare``: for each partition folder in order, ``pyarrow.parquet.read_table`` and
  ``to_pandas``, the rows grouped by ``sku`` (``groupby(...).indices``), and for each key
  ``joblib.load`` of its file and ``model.predict`` on its rows' features as a numpy
  array (a booster with ``num_threads=1``: the fastest way to predict 100 rows); the
  partition with a ``prediction`` column written to ``DIR/store=.../`` as Parquet. One
  process, no tracking, no checks: the floor.

Peak memory: the larger of this process's high-water mark (``VmHWM``; not ``ru_maxrss``,
which a child inherits from its parent at the fork) and the RSS of this process plus any
children (a process pool's workers), sampled every 20 ms by psutil. The result, one JSON
object, goes to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

SELF = psutil.Process()


def tree_rss() -> int:
    total = SELF.memory_info().rss
    for child in SELF.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return int(total)


def vm_hwm() -> int:
    """This process image's peak RSS in bytes: ``VmHWM``. Not ``ru_maxrss``, which on Linux
    keeps the RSS of the parent at the fork (the benchmark that built the world)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.done = threading.Event()

    def sample(self) -> None:
        self.peak = max(self.peak, tree_rss())

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.sample()


def side_bare(args: argparse.Namespace) -> tuple[Callable[[], dict[str, Any]], Callable[[], None]]:
    import joblib
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from _batch_world import FEATURES

    parts = sorted(args.world.joinpath("data").glob("store=*"))
    models = args.world / args.flavor / "bare"
    # LightGBM predicts on all cores by default: on 100 rows that is pure overhead (and on
    # a busy machine, OpenMP's spinning threads cost ms a call). The floor asks for one.
    one_thread = {"num_threads": 1} if args.flavor == "lightgbm" else {}

    def call() -> dict[str, Any]:
        rows = keys = 0
        for part in parts:
            store = part.name.split("=", 1)[1]
            frame = pq.read_table(part).to_pandas()
            x = frame[FEATURES].to_numpy(dtype="float64")
            prediction = np.empty(len(frame))
            for sku, index in frame.groupby("sku", sort=False).indices.items():
                model = joblib.load(models / store / f"{sku}.joblib")
                prediction[index] = model.predict(x[index], **one_thread)
                keys += 1
            frame["prediction"] = prediction
            out = args.out / part.name
            out.mkdir(parents=True)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, out / "part-0.parquet")
            rows += len(frame)
        return {"rows_scored": rows, "keys_scored": keys, "problems": 0}

    return call, lambda: None


def side_shoal(args: argparse.Namespace) -> tuple[Callable[[], dict[str, Any]], Callable[[], None]]:
    import shoal as sh

    client = sh.connect(f"sqlite:///{args.db}", str(args.artifacts))
    fleet = client.fleet(f"bench/{args.flavor}")

    def call() -> dict[str, Any]:
        found = fleet.predict(
            str(args.world / "data"), alias="production", out=str(args.out), log=args.log,
            logs=str(args.logs) if args.logs else None, workers=args.workers, progress=False,
        )  # fmt: skip
        return {"rows_in": found.rows_in, "rows_scored": found.rows_scored,
                "keys_scored": found.keys_scored, "versions_loaded": found.versions_loaded,
                "problems": len(found.problems),
                "problem_examples": [str(p) for p in found.problems[:3]],
                "files": len(found.files or []), "run_id": found.run_id,
                "reported_seconds": found.seconds}  # fmt: skip

    return call, client.close


def main() -> int:
    p = argparse.ArgumentParser(description="one timed batch-scoring side")
    p.add_argument("side", choices=("shoal", "bare"))
    p.add_argument("--world", type=Path, required=True)
    p.add_argument("--flavor", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--db", type=Path, help="shoal: the store's database (a copy)")
    p.add_argument("--artifacts", type=Path, help="shoal: the artifact folder")
    p.add_argument("--log", action="store_true", help="shoal: log=True")
    p.add_argument("--logs", type=Path, help="shoal: where the prediction logs go")
    p.add_argument("--workers", type=int, default=None, help="shoal: workers (None: default)")
    p.add_argument("--profile", type=Path, help="run under cProfile, its stats to this file")
    p.add_argument(
        "--one-thread",
        action="store_true",
        help="OMP_NUM_THREADS=1 before LightGBM loads (a diagnosis, not a default)",
    )
    args = p.parse_args()
    if args.one_thread:
        os.environ["OMP_NUM_THREADS"] = "1"

    # What each side uses, imported before the clock and the memory baseline.
    import joblib  # noqa: F401
    import lightgbm  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.dataset
    import pyarrow.parquet  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    if args.side == "shoal":
        import shoal.score  # noqa: F401

    call, close = {"shoal": side_shoal, "bare": side_bare}[args.side](args)  # not timed
    before = tree_rss()
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    cpu = time.process_time()
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(call)
        profiler.dump_stats(str(args.profile))
    else:
        result = call()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    sampler.done.set()
    sampler.join()
    sampler.sample()
    close()
    own_peak = vm_hwm()
    result |= {
        "side": args.side, "flavor": args.flavor, "seconds": seconds, "cpu_seconds": cpu,
        "rss_before_mb": before / 2**20,
        "peak_rss_mb": max(own_peak, sampler.peak) / 2**20,
        "own_peak_rss_mb": own_peak / 2**20,
        "tree_peak_rss_mb": sampler.peak / 2**20,
        "workers": args.workers, "log": args.log, "one_thread": args.one_thread,
    }  # fmt: skip
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
