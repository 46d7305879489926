"""A bounded load test: ``shoal serve`` as its own process, concurrent clients for 30 s.

What must hold: zero errors, and no upward trend in the server's resident memory once
warm (the cache is bounded, the logs are flushed, nothing else may grow with traffic).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

import shoal
from shoal.flavors.linear import LinearModel
from shoal.testing import free_port

pytestmark = pytest.mark.slow

STORES = [f"s{i:03d}" for i in range(300)]
SECONDS = 30.0
CLIENTS = 8


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_thirty_seconds_of_concurrent_traffic_without_errors_or_memory_growth(tmp_path) -> None:
    store, artifacts = f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts")
    client = shoal.connect(store, artifacts)
    fleet = client.fleet("grocer/demand", keys=["store"])
    fleet.register(
        {"key": {"store": s}, "model": LinearModel(10.0 + i, {"price": -0.5, "promo": 2.0})}
        for i, s in enumerate(STORES)
    )
    fleet.set_alias("production", {(s,): 1 for s in STORES}, create=True)
    client.close()

    port = free_port()
    env = {**os.environ, "SHOAL_STORE_URL": store, "SHOAL_ARTIFACTS_URL": artifacts,
           "SHOAL_LOGS_URL": str(tmp_path / "logs")}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "shoal", "serve", "--no-auth", "--port", str(port), "--cache-models",
         "100", "--log-flush-seconds", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "server did not start in 30 s"
            time.sleep(0.1)

        errors: list[str] = []
        done = [0]
        stop = threading.Event()

        def traffic(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(base_url=base, timeout=10) as http:
                while not stop.is_set():
                    rows = [
                        {
                            "store": rng.choice(STORES),
                            "price": rng.uniform(1, 5),
                            "promo": rng.randint(0, 1),
                        }
                        for _ in range(rng.choice((1, 20)))
                    ]
                    reply = http.post("/api/v1/fleets/grocer/demand/predict", json={"rows": rows})
                    if reply.status_code != 200:
                        errors.append(f"{reply.status_code} {reply.text[:200]}")
                    done[0] += 1  # fmt: skip

        threads = [threading.Thread(target=traffic, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        samples: list[tuple[float, int]] = []
        started = time.monotonic()
        while time.monotonic() - started < SECONDS:
            time.sleep(0.5)
            samples.append((time.monotonic() - started, rss_bytes(server.pid)))
        stop.set()
        for thread in threads:
            thread.join(15)
        assert errors == [], errors[:5]
        assert done[0] > 100
        warm = [(t, rss) for t, rss in samples if t >= SECONDS / 3]
        times, sizes = np.array(warm).T
        slope = np.polyfit(times, sizes, 1)[0]  # bytes per second over the warm two thirds
        growth = slope * (times[-1] - times[0])
        # The cache holds 100 of 300 models and evicts the rest: memory must plateau.
        print(f"{done[0]} requests, warm RSS {sizes[0] / 2**20:.0f} -> {sizes[-1] / 2**20:.0f} MiB")
        assert growth < 8 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB while warm"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        if server.stderr is not None:
            server.stderr.close()
    logs = list((tmp_path / "logs" / "predictions").rglob("*.parquet"))
    assert logs, "the predictions were not logged"
