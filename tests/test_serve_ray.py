"""``shoal serve --ray``: the same API as a Ray Serve app on a local two-CPU Ray."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import shoal

serve = pytest.importorskip("ray.serve", reason="Ray Serve is an optional extra")
ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow

sys.path.insert(0, str(Path(__file__).parent))
from shoal.flavors.linear import LinearModel  # noqa: E402
from shoal.http.auth import Auth  # noqa: E402
from shoal.serve import ray_serve  # noqa: E402
from shoal.testing import free_port  # noqa: E402
from test_serve import STORES, URL, coefficients, expected, logged  # noqa: E402


@pytest.fixture
def deployed(tmp_path) -> Any:
    store, artifacts = f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts")
    client = shoal.connect(store, artifacts)
    fleet = client.fleet("grocer/demand", keys=["store"])
    for version in (1, 2):
        fleet.register(
            {"key": {"store": s},
             "model": LinearModel(coefficients(s, version)[0],
                                  {"price": coefficients(s, version)[1]})}
            for s in STORES
        )  # fmt: skip
    fleet.set_alias("production", {(s,): 1 for s in STORES}, create=True)
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()
    try:
        ray_serve.run(store, artifacts, host="127.0.0.1", port=port, blocking=False,
                      auth=Auth.off(), models_per_replica=8, refresh_seconds=0.2,
                      logs_url=str(tmp_path / "logs"), log_flush_seconds=0.5)  # fmt: skip
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http, client, tmp_path / "logs"
    finally:
        serve.shutdown()
        ray.shutdown()
        client.close()


def test_ray_serve_answers_multi_key_requests_and_follows_alias_moves(deployed) -> None:
    http, client, logs = deployed
    rows = [{"store": STORES[i % 12], "price": 1.0 + i} for i in range(24)]  # 12 > 8 per replica
    for _ in range(2):
        reply = http.post(URL, json={"rows": rows}, headers={"X-Request-ID": "ray-1"})
        assert reply.status_code == 200, reply.text
        answers = reply.json()["predictions"]
        assert [a["key"]["store"] for a in answers] == [r["store"] for r in rows]
        for row, answer in zip(rows, answers, strict=True):
            assert answer["prediction"] == pytest.approx(expected(row["store"], row["price"]))

    bad = http.post(URL, json={"rows": [{"store": "s01", "price": "cheap"}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "rows[0].price"

    client.fleet("grocer/demand").set_alias("production", {("s03",): 2}, create=True)
    one = [{"store": "s03", "price": 1.0}]
    moved_at = time.monotonic()
    while http.post(URL, json={"rows": one}).json()["predictions"][0]["version"] != 2:
        assert time.monotonic() - moved_at < 2.0, "the alias move was not served in 2 s"
        time.sleep(0.05)

    deadline = time.monotonic() + 10
    while "ray-1" not in set(logged(logs, "predictions").get("request_id", [])):
        assert time.monotonic() < deadline, "predictions served by Ray were not logged"
        time.sleep(0.2)
    assert "shoal_requests_total" in http.get("/metrics").text
