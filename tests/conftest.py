"""Shared fixtures: real stores (SQLite always, PostgreSQL when CI provides one).

Store contract tests take the ``store_url`` fixture, parametrised over both engines:
one test spec, every backend. PostgreSQL tests run when ``SHOAL_TEST_POSTGRES_URL``
points at a server (``.ci/run`` starts a throwaway cluster); otherwise they are
skipped and the run says so in its header.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import shoal

PG_URL = os.environ.get("SHOAL_TEST_POSTGRES_URL")
pytest_plugins = ["tests.browser"]  # the `page` fixture of the browser tests

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        return "shoal: PostgreSQL tests against SHOAL_TEST_POSTGRES_URL"
    return (
        "shoal: PostgreSQL tests SKIPPED (set SHOAL_TEST_POSTGRES_URL=postgresql://... "
        "to run them; .ci/run starts a throwaway cluster)"
    )


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever touches a real ./.shoal: the default store lives in tmp_path."""
    monkeypatch.setenv("SHOAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOAL_STORE_URL", raising=False)
    monkeypatch.delenv("SHOAL_ARTIFACTS_URL", raising=False)
    monkeypatch.setenv("SHOAL_USER", "tester")


def _fresh_pg_database() -> tuple[str, str]:
    import psycopg

    name = f"shoal_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]  # type: ignore[union-attr]
    return f"{base}/{name}", name


def _drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="SHOAL_TEST_POSTGRES_URL is not set"),
            ],
        ),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty metadata store URL on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shoal.db'}"
        return
    url, name = _fresh_pg_database()
    try:
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture
def client(store_url: str, tmp_path: Path) -> Iterator[shoal.Client]:
    """A client on a fresh store (each engine) with artifacts in a local folder."""
    c = shoal.connect(store_url, str(tmp_path / "artifacts"))
    try:
        yield c
    finally:
        c.close()
