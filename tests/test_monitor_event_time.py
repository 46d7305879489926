"""Monitoring windows cut by event time: a week backfilled today lands in its own days.

Real parts throughout: the prediction server (FastAPI's TestClient) logs a week of
forecasts sent today, each day's request with ``as_of`` = that day, and the actuals by key
and day; the monitoring pass reads those files from disk. ``time="event"`` gives the
week's seven windows with each day's counts; ``time="at"`` gives all of it in today's
window, and both join the actuals to the backfilled predictions by key and event time.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from tests import monitor_world as world
from typer.testing import CliRunner

import shoal
from shoal.cli import app as cli_app
from shoal.errors import InvalidInput
from shoal.http.auth import Auth
from shoal.monitor import _logs
from shoal.serve import create_app

PREDICT = "/api/v1/fleets/grocer/demand/predict"
ONE_MODEL = "/api/v1/fleets/grocer/demand/models/predict"
FEEDBACK = "/api/v1/fleets/grocer/demand/feedback"
KEYS = world.keys(2, 3)
WEEK = [dt.datetime(2025, 3, 3, tzinfo=dt.UTC) + dt.timedelta(days=i) for i in range(7)]
"""The backfilled week (a Monday to a Sunday), long before the day the tests run."""
DAY = 86400.0


def _rows_per_key(i: int) -> int:
    """Day ``i`` of the week forecasts each key ``i + 1`` times: each window's count differs."""
    return i + 1


def _features(i: int) -> dict[str, Any]:
    """Every row of day ``i`` carries the same features: one prediction per key and day."""
    return {"x1": 10.0 + i, "x2": 0.5, "promo": i % 2 == 0}


def _prediction(key_index: int, i: int) -> float:
    f = _features(i)
    return 3.0 + 2.0 * f["x1"] + 5.0 * f["x2"] + 4.0 * f["promo"]


def _actual(i: int, prediction: float) -> float:
    """Day ``i``'s actual: its error names the day (MAPE = 0.1 (i+1) / (1 + 0.1 (i+1)))."""
    return prediction * (1 + 0.1 * (i + 1))


def _ape(i: int) -> float:
    return 0.1 * (i + 1) / (1 + 0.1 * (i + 1))


@pytest.fixture
def fleet(client: shoal.Client) -> shoal.Fleet:
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    world.register(fleet, KEYS)
    fleet.set_alias("production", {(k["store"], k["sku"]): 1 for k in KEYS}, create=True)
    return fleet


@pytest.fixture
def backfilled(client: shoal.Client, fleet: shoal.Fleet, tmp_path: Path) -> Iterator[Path]:
    """The week sent through the server today (as_of each day), with its actuals by key and
    day; the logs written to disk before the test reads them."""
    logs = tmp_path / "logs"
    app = create_app(client, auth=Auth.off(), logs_url=str(logs), log_flush_seconds=3600)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        for i, day in enumerate(WEEK):
            rows = [{**key, **_features(i)} for key in KEYS for _ in range(_rows_per_key(i))]
            as_of = day.date().isoformat() if i % 2 else day.isoformat()  # a date, or a time
            reply = http.post(PREDICT, json={"rows": rows, "as_of": as_of})
            assert reply.status_code == 200, reply.text
            items = [
                {"key": key, "time": (day + dt.timedelta(hours=12)).isoformat(),
                 "actual": _actual(i, _prediction(k, i))}
                for k, key in enumerate(KEYS)
            ]  # fmt: skip
            assert http.post(FEEDBACK, json={"items": items}).status_code == 200
        for log in app.state.logs:
            log.flush()
    yield logs


def _results(fleet: shoal.Fleet, at: dt.datetime | float) -> list[dict[str, Any]]:
    return fleet.monitoring.results(window="1d", at=at)


def test_each_request_as_of_is_logged_as_event_at_and_files_rows_under_its_day(
    backfilled: Path,
) -> None:
    folder = backfilled / "predictions" / "tenant=grocer" / "fleet=demand"
    assert sorted(p.name for p in folder.iterdir()) == [f"day={d:%Y-%m-%d}" for d in WEEK]
    for i, day in enumerate(WEEK):
        table = pd.concat(
            pq.read_table(f).to_pandas() for f in (folder / f"day={day:%Y-%m-%d}").glob("*.parquet")
        )
        assert len(table) == len(KEYS) * _rows_per_key(i)
        assert (table["event_at"] == pd.Timestamp(day)).all()  # a naive date is UTC midnight
        assert (table["at"] > pd.Timestamp(WEEK[-1] + dt.timedelta(days=30))).all()  # sent today


def test_by_event_time_the_week_has_seven_windows_with_each_days_counts(
    client: shoal.Client, fleet: shoal.Fleet, backfilled: Path
) -> None:
    outcome = fleet.monitor("1d", logs=str(backfilled), time="event", since=WEEK[0],
                            until=WEEK[-1] + dt.timedelta(days=1))  # fmt: skip
    assert outcome.windows == [d.timestamp() for d in WEEK]
    total = sum(len(KEYS) * _rows_per_key(i) for i in range(7))
    assert outcome.predictions == total and outcome.models == len(KEYS)
    assert outcome.labelled == 7 * len(KEYS), "each actual joins its day's prediction by key"
    for i, day in enumerate(WEEK):
        rows = _results(fleet, day)
        assert len(rows) == len(KEYS)
        assert all(r["predictions"] == _rows_per_key(i) and r["labelled"] == 1 for r in rows)
        # The actual of day i joined day i's prediction: its error is day i's.
        assert all(r["mape"] == pytest.approx(_ape(i), rel=1e-9) for r in rows)
    run = client.run(outcome.run_id)
    assert run.params["time"] == "event"
    # Today, by event time, nothing happened: the backfill is in its own days.
    assert fleet.monitor("1d", logs=str(backfilled), time="event").predictions == 0


def test_by_made_time_the_week_lands_in_todays_window_and_still_joins_its_actuals(
    client: shoal.Client, fleet: shoal.Fleet, backfilled: Path
) -> None:
    made = pd.concat(
        pq.read_table(f).to_pandas() for f in backfilled.rglob("predictions/**/*.parquet")
    )
    starts = {float(t.timestamp() // DAY * DAY) for t in made["at"]}
    outcome = fleet.monitor("1d", logs=str(backfilled))  # time="at", the default
    total = sum(len(KEYS) * _rows_per_key(i) for i in range(7))
    assert outcome.predictions == total and outcome.models == len(KEYS)
    # Files under the week's days were read because they were written in the span; the
    # actuals, for days long before it, join by key and the predictions' event time.
    assert outcome.labelled == 7 * len(KEYS)
    rows = [r for start in starts for r in _results(fleet, start)]
    assert sum(r["predictions"] for r in rows) == total
    mean_ape = sum(_ape(i) for i in range(7)) / 7
    if len(starts) == 1:  # not sent across midnight: one window holds the whole week
        assert all(r["mape"] == pytest.approx(mean_ape, rel=1e-9) for r in rows)
    assert client.run(outcome.run_id).params["time"] == "at"


def test_the_finder_reads_the_span_days_and_files_written_since_the_span_began(
    backfilled: Path,
) -> None:
    root = backfilled / "predictions" / "tenant=grocer" / "fleet=demand"
    old = root / "day=2025-01-01"
    old.mkdir()
    written_long_ago = old / f"part-{int(WEEK[0].timestamp() * 1e9)}-00000000.parquet"
    pq.write_table(pq.read_table(next((root / "day=2025-03-03").glob("*.parquet"))),
                   written_long_ago)  # fmt: skip
    (old / ".part-1-00000000.parquet.tmp").write_text("a write in flight")
    today = time.time() // DAY * DAY
    day = dt.datetime.fromtimestamp(today, dt.UTC).date().isoformat()
    url = str(backfilled)
    by_at = _logs.find(url, "grocer", "demand", [day], feedback_from=day, since=today)
    assert sorted({Path(p).parent.name for p in by_at.predictions}) == [
        f"day={d:%Y-%m-%d}" for d in WEEK
    ]
    assert str(written_long_ago) not in by_at.predictions
    week = [f"{d:%Y-%m-%d}" for d in WEEK[:2]] + ["2025-01-01"]
    by_event = _logs.find(url, "grocer", "demand", week, feedback_from=day, time="event")
    assert sorted({Path(p).parent.name for p in by_event.predictions}) == [
        "day=2025-01-01", "day=2025-03-03", "day=2025-03-04",
    ]  # fmt: skip
    assert str(written_long_ago) in by_event.predictions
    with pytest.raises(InvalidInput) as refused:
        _logs.find(url, "grocer", "demand", [day], feedback_from=day, time="made")
    assert refused.value.field == "time"


def test_a_time_other_than_at_or_event_is_refused_naming_the_field(
    fleet: shoal.Fleet, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match=r"time must be 'at' .* or 'event'") as refused:
        fleet.monitor("1d", logs=str(tmp_path / "logs"), time="made")
    assert refused.value.field == "time"


def test_the_server_refuses_an_as_of_it_cannot_read_naming_the_field(client, fleet) -> None:
    app = create_app(client, auth=Auth.off(), logs_url="memory://event-time-logs")
    row = {**KEYS[0], **_features(0)}
    with TestClient(app, base_url="http://127.0.0.1") as http:
        for as_of in ("last tuesday", "0001-01-01T00:00:00+01:00", [2025, 3, 3], {"day": 3}):
            reply = http.post(PREDICT, json={"rows": [row], "as_of": as_of})
            assert reply.status_code == 422, reply.text
            assert reply.json()["error"]["field"] == "as_of", reply.text
        one = {"key": KEYS[0], "rows": [_features(0)], "as_of": "2025-03-03T06:00:00+02:00"}
        assert http.post(ONE_MODEL, json=one).status_code == 200
        assert http.post(ONE_MODEL, json={**one, "as_of": "soon"}).json()["error"]["field"] == (
            "as_of"
        )
        predictions = app.state.logs[0]
        rows: list[dict[str, Any]] = list(predictions._rows)
    assert [r[2]["event_at"] for r in rows] == [dt.datetime(2025, 3, 3, 4, tzinfo=dt.UTC)]


def test_the_cli_monitors_by_event_time(
    fleet: shoal.Fleet, backfilled: Path, store_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SHOAL_STORE_URL", store_url)
    monkeypatch.setenv("SHOAL_ARTIFACTS_URL", str(tmp_path / "artifacts"))
    until = WEEK[-1] + dt.timedelta(days=1)
    args = ["monitor", "run", "grocer/demand", "--logs", str(backfilled), "--since",
            f"{WEEK[0]:%Y-%m-%d}", "--until", f"{until:%Y-%m-%d}", "--json"]  # fmt: skip
    ran = CliRunner().invoke(cli_app, [*args, "--time", "event"])
    assert ran.exit_code == 0, ran.output
    outcome = json.loads(ran.stdout)
    assert outcome["windows"] == [d.timestamp() for d in WEEK]
    assert outcome["labelled"] == 7 * len(KEYS)
    refused = CliRunner().invoke(cli_app, [*args, "--time", "made"])
    assert refused.exit_code != 0 and "time must be 'at'" in refused.output


def test_by_made_time_forecasts_for_later_days_join_the_actuals_of_those_days(
    client: shoal.Client, fleet: shoal.Fleet, tmp_path: Path
) -> None:
    """Tomorrow's forecasts made today: a pass by ``at`` over today holds them, and an
    actual for a day after today still joins them (its time is past the span's end)."""
    logs = tmp_path / "logs"
    ahead = dt.datetime.fromtimestamp(time.time() // DAY * DAY, dt.UTC) + dt.timedelta(days=2)
    app = create_app(client, auth=Auth.off(), logs_url=str(logs), log_flush_seconds=3600)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        rows = [{**key, **_features(0)} for key in KEYS]
        reply = http.post(PREDICT, json={"rows": rows, "as_of": ahead.isoformat()})
        assert reply.status_code == 200, reply.text
        when = (ahead + dt.timedelta(hours=1)).isoformat()
        items = [
            {"key": key, "time": when, "actual": _actual(0, _prediction(k, 0))}
            for k, key in enumerate(KEYS)
        ]
        assert http.post(FEEDBACK, json={"items": items}).status_code == 200
        for log in app.state.logs:
            log.flush()
    outcome = fleet.monitor("1d", logs=str(logs))
    assert outcome.predictions == len(KEYS) and outcome.labelled == len(KEYS)
    ahead_only = fleet.monitor("1d", logs=str(logs), time="event", since=ahead,
                               until=ahead + dt.timedelta(days=1))  # fmt: skip
    # (Its actuals, sent before that day, are filed under today: a pass by event time reads
    # feedback from its first day on, as actuals come after what they judge.)
    assert ahead_only.windows == [ahead.timestamp()] and ahead_only.predictions == len(KEYS)
