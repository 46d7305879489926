"""schemathesis against both servers' OpenAPI schemas, with every check it has.

Each server runs for real on a free loopback port over a small seeded store; the
fuzzer reads the schema the server publishes and sends what it generates from it. What
must hold: no 5xx, no response outside its schema (status, shape, headers), and no
request that the schema calls valid refused. The budget is bounded (examples per
operation, a fixed seed so a failure reproduces); ``SHOAL_FUZZ_EXAMPLES`` and
``SHOAL_FUZZ_SEED`` widen or move it for a longer local run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import shoal
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.serve import create_app
from shoal.testing import ThreadServer
from shoal.web import create_web_app

pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("SHOAL_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("SHOAL_FUZZ_SEED", "20261206"))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[shoal.Client]:
    """grocer/demand, the fleet the schemas' examples name, with a production alias."""
    home = tmp_path_factory.mktemp("fuzz")
    client = shoal.connect(f"sqlite:///{home / 'shoal.db'}", str(home / "artifacts"))
    demand = client.fleet("grocer/demand", keys=["store", "sku"])
    demand.register(
        {"key": {"store": f"s{i:03d}", "sku": sku}, "model": LinearModel(1.0, {"price": -0.5}),
         "metrics": {"mape": 0.1 + i / 100}}
        for i in range(10) for sku in ("A77", "B12")
    )  # fmt: skip
    demand.set_alias("production", {(f"s{i:03d}", s): 1 for i in range(10) for s in ("A77", "B12")},
                     create=True)  # fmt: skip
    yield client
    client.close()


def _fuzz(url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert exe, "schemathesis is a test extra: make install-dev"
    env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    return subprocess.run(
        [exe, "run", url, "--checks", "all", "--max-examples", str(EXAMPLES),
         "--seed", str(SEED), "--generation-database", "none", "--no-color"],
        capture_output=True, text=True, cwd=workdir, env=env, timeout=900,
    )  # fmt: skip


def _verdict(result: subprocess.CompletedProcess[str]) -> str:
    """The failures part of schemathesis' report (its whole output can be long)."""
    text = result.stdout + result.stderr
    start = text.find("FAILURES")
    return text[start : start + 6000] if start >= 0 else text[-3000:]


def test_the_web_api_holds_its_schema_under_fuzzing(seeded: shoal.Client, tmp_path: Path) -> None:
    with ThreadServer(create_web_app(seeded, auth=Auth.off())) as server:
        result = _fuzz(f"{server.url}/api/v1/openapi.json", tmp_path)
    assert result.returncode == 0, _verdict(result)


def test_the_prediction_server_holds_its_schema_under_fuzzing(
    seeded: shoal.Client, tmp_path: Path
) -> None:
    app = create_app(seeded, auth=Auth.off(), logs_url=str(tmp_path / "logs"), refresh_seconds=60)
    with ThreadServer(app) as server:
        result = _fuzz(f"{server.url}/openapi.json", tmp_path)
    assert result.returncode == 0, _verdict(result)
