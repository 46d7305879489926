"""One timed ``fleet.monitor`` pass, in a process of its own so its peak memory is its own.

    .venv/bin/python benchmarks/_monitoring_pass.py --db DB --artifacts DIR --logs DIR \\
        --since UNIX --until UNIX [--threads N] [--memory-limit 3GB]

The benchmark builds the fleet and its logs in another process (and copies the store for
this pass), so nothing the build allocated is counted here. This process imports Shoal,
opens the store, then times one ``fleet.monitor("1d", since=..., until=..., logs=...)``
with ``time.perf_counter``; its peak resident memory is ``getrusage(RUSAGE_SELF)
.ru_maxrss`` at the end (interpreter, imports and the pass together: what a ``shoal monitor
run`` process would need), the memory before the pass is reported beside it, and a thread
samples this process's RSS (psutil) every 20 ms to tell which stage the peak came in.

The pass's progress lines go to stderr as ``STAGE <text>``; one JSON object, the outcome
and the figures, goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import psutil  # telemetry is off: this process inherits the benchmark's environment

SELF = psutil.Process()


def rss_mb() -> float:
    return float(SELF.memory_info().rss / 2**20)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Sampler(threading.Thread):
    """The highest RSS seen in each stage (a stage begins at each progress line)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stage = "start"
        self.peaks: dict[str, float] = {}
        self.done = threading.Event()

    def mark(self, stage: str) -> None:
        self.sample()
        self.stage = stage

    def sample(self) -> None:
        now = rss_mb()
        if now > self.peaks.get(self.stage, 0.0):
            self.peaks[self.stage] = now

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.sample()


def main() -> int:
    p = argparse.ArgumentParser(description="one timed fleet.monitor pass")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--artifacts", type=Path, required=True)
    p.add_argument("--logs", type=Path, required=True)
    p.add_argument("--fleet", default="bench/demand")
    p.add_argument("--since", type=float, required=True)
    p.add_argument("--until", type=float, required=True)
    p.add_argument("--window", default="1d")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--memory-limit", default=None)
    args = p.parse_args()

    import duckdb

    import shoal

    client = shoal.connect(f"sqlite:///{args.db}", str(args.artifacts))
    fleet = client.fleet(args.fleet)
    before = rss_mb()
    sampler = Sampler()
    sampler.start()

    def progress(text: str) -> None:
        sampler.mark(text)
        print(f"STAGE {text}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    cpu = time.process_time()
    outcome = fleet.monitor(
        args.window, since=args.since, until=args.until, logs=str(args.logs),
        threads=args.threads, progress=progress,
        **({"memory_limit": args.memory_limit} if args.memory_limit else {}),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    sampler.done.set()
    sampler.join()
    sampler.sample()
    peak = peak_mb()
    client.close()
    result = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak,
        "rss_before_mb": before,
        "stage_peak_rss_mb": sampler.peaks,
        "outcome": asdict(outcome),
        "threads": args.threads or os.cpu_count(),
        "memory_limit": args.memory_limit,
        "duckdb": duckdb.__version__,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
