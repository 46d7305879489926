"""Alerts a fleet owner can work through, and monitoring that never reads "not tested" as
healthy: the SDK, the REST API and the pages over one small monitored fleet.

The world: 3 stores x 4 SKUs with baselines, and store s03 whose versions have none (no
feature can be tested); one day of logs with x1 drifted in three SKUs of s01 (their MAPE
triples as well) and predictions 30 % too high in s02/k03. The rule "drift" is declared;
the built-in quality rule is not, and still fires.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests import monitor_world as world
from tests.helpers import csrf_of

import shoal
from shoal.http.auth import Auth
from shoal.store.schema import audit
from shoal.web import create_web_app

DRIFT = frozenset({"s01/k00", "s01/k01", "s01/k02"})
BIAS = frozenset({"s02/k03"})
BASE = "/api/v1/fleets/grocer/demand"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The monitored store, built once and closed (so its file holds everything)."""
    folder = tmp_path_factory.mktemp("alerts")
    client = shoal.connect(f"sqlite:///{folder / 'shoal.db'}", str(folder / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    tested = world.keys(3, 4)
    versions = world.register(fleet, tested)
    untested = [{"store": "s03", "sku": f"k{k:02d}"} for k in range(2)]
    placed = fleet.register([
        {"key": k, "model": world.LinearModel(3.0, {"x1": 2.0, "x2": 5.0, "promo": 4.0}),
         "metrics": {"mape": 0.1}}
        for k in untested
    ])  # fmt: skip
    versions.update({f"{p.key['store']}/{p.key['sku']}": p.id for p in placed})
    fleet.alerts.add_rule("drift", "psi > 0.2 on any feature")
    world.write_logs(folder / "logs", versions, tested + untested, drift=DRIFT, bias=BIAS)
    fleet.monitor("1d", logs=str(folder / "logs"), since=world.DAY, until="2026-11-21")
    client.close()
    return folder


@pytest.fixture
def client(built: Path, tmp_path: Path) -> Iterator[shoal.Client]:
    """A fresh copy of the monitored store for each test (acknowledging changes it)."""
    import shutil

    shutil.copy(built / "shoal.db", tmp_path / "shoal.db")
    copy = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(built / "artifacts"))
    yield copy
    copy.close()


@pytest.fixture
def http(client: shoal.Client) -> Iterator[TestClient]:
    app = create_web_app(client, auth=Auth.off())
    with TestClient(app, base_url="http://127.0.0.1") as http:
        yield http


def _keys(rows: list[dict[str, Any]]) -> set[str]:
    return {f"{a['key']['store']}/{a['key']['sku']}" for a in rows}


def test_the_built_in_quality_rule_fires_on_the_bad_models_only(client: shoal.Client) -> None:
    alerts = client.fleet("grocer/demand").alerts
    quality = alerts.list(rule="quality")
    assert _keys(quality) == DRIFT | BIAS  # live MAPE about 3x the recorded 0.1
    assert all(a["feature"].startswith("mape > 2 x mape 0.1") for a in quality)
    assert _keys(alerts.list(rule="drift")) == DRIFT
    rule = alerts.quality_rule()
    assert rule["stored"] and rule["settings"]["factor"] == 2.0 and rule["enabled"]
    assert rule["expression"].startswith("builtin quality factor=2")
    changed = alerts.quality_rule(factor=5, enabled=False)
    assert changed["settings"]["factor"] == 5 and not changed["enabled"]
    with pytest.raises(shoal.InvalidInput) as bad:
        alerts.quality_rule(factor=0.5)
    assert bad.value.field == "factor"


def test_filter_group_page_and_acknowledge_in_bulk_with_a_note(client: shoal.Client) -> None:
    alerts = client.fleet("grocer/demand").alerts
    assert alerts.count() == 7
    assert _keys(alerts.list(cohort="store=s01")) == DRIFT
    assert alerts.count(cohort={"store": "s01", "sku": "k00"}) == 2
    assert alerts.groups("rule") == [{"value": "quality", "count": 4},
                                     {"value": "drift", "count": 3}]  # fmt: skip
    assert alerts.groups("store") == [{"value": "s01", "count": 6}, {"value": "s02", "count": 1}]
    pages, before = [], None
    while True:  # keyset pages of 3: every alert once, newest first
        page = alerts.page(limit=3, before=before)
        pages.append([a["id"] for a in page.items])
        if page.before is None:
            break
        before = page.before
    assert [len(p) for p in pages] == [3, 3, 1]
    ids = [i for p in pages for i in p]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 7

    engine = client.registry._store.engine
    updates: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE ALERTS"):
            updates.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        two = alerts.acknowledge_many(ids[:2], note="INC-42: x1 feed")
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert two == {"moved": 2, "skipped": 0, "state": "acknowledged"} and len(updates) == 1
    acked = alerts.list("acknowledged")
    assert {a["id"] for a in acked} == set(ids[:2])
    assert all(a["note"] == "INC-42: x1 feed" and a["acted_by"] and a["acted_at"] for a in acked)
    rest = alerts.acknowledge_many(cohort="store=s01", state="open", note="store s01 outage")
    assert rest["moved"] == 6 - len([a for a in acked if a["key"]["store"] == "s01"])
    resolved = alerts.resolve_many(rule="drift", note="feed fixed")
    assert resolved["moved"] == 3 and alerts.count("resolved") == 3
    again = alerts.resolve_many([next(a["id"] for a in alerts.list("resolved"))])
    assert again == {"moved": 0, "skipped": 1, "state": "resolved"}
    with client.registry._store.read() as conn:
        rows = conn.execute(
            sa.select(audit.c.action, audit.c.detail).where(audit.c.action.like("alert.%"))
            .order_by(audit.c.id)
        ).all()  # fmt: skip
    moves = [(r.action, r.detail["count"]) for r in rows if "count" in r.detail]
    assert moves[0] == ("alert.acknowledged", 2) and moves[2] == ("alert.resolved", 3)
    assert rows[-3].detail["filter"]["cohort"] == [[0, "s01"]]
    assert rows[-4].detail["note"] == "INC-42: x1 feed"


def test_bad_input_names_the_field(client: shoal.Client, http: TestClient) -> None:
    alerts = client.fleet("grocer/demand").alerts
    for call, field in [
        (lambda: alerts.list("bogus"), "state"),
        (lambda: alerts.list(cohort="store"), "cohort"),
        (lambda: alerts.list(cohort="region=x"), "cohort"),
        (lambda: alerts.acknowledge_many([999_999]), "ids"),
        (lambda: alerts.groups("region"), "by"),
    ]:
        with pytest.raises(shoal.ShoalError) as caught:
            call()
        assert caught.value.field == field
    for params, field in [({"state": "bogus"}, "state"), ({"cohort": "store"}, "cohort"),
                          ({"cohort": "region=x"}, "cohort")]:  # fmt: skip
        reply = http.get(f"{BASE}/alerts", params=params)
        assert reply.status_code == 422 and reply.json()["error"]["field"] == field
    reply = http.post(f"{BASE}/alerts/acknowledge", json={"ids": [999_999]})
    assert reply.status_code == 404 and reply.json()["error"]["field"] == "ids"
    reply = http.post(f"{BASE}/alerts/acknowledge", json={})
    assert reply.status_code == 422 and reply.json()["error"]["field"] == "ids"


def test_the_rest_api_pages_groups_and_moves_alerts(http: TestClient) -> None:
    first = http.get(f"{BASE}/alerts", params={"limit": 4}).json()
    assert len(first["items"]) == 4 and first["next_before"] == first["items"][-1]["id"]
    more = http.get(f"{BASE}/alerts", params={"limit": 4, "before": first["next_before"]}).json()
    assert len(more["items"]) == 3 and more["next_before"] is None
    groups = http.get(f"{BASE}/alerts/groups", params={"by": "store"}).json()
    assert groups["total"] == 7 and groups["items"][0] == {"value": "s01", "count": 6}
    body = {"filter": {"cohort": "store=s02"}, "note": "promo week"}
    moved = http.post(f"{BASE}/alerts/acknowledge", json=body).json()
    assert moved["moved"] == 1
    [one] = http.get(f"{BASE}/alerts", params={"cohort": "store=s02"}).json()["items"]
    assert one["state"] == "acknowledged" and one["note"] == "promo week"
    single = http.post(f"{BASE}/alerts/{one['id']}/resolve", json={"note": "back to normal"})
    assert single.json()["note"] == "back to normal"
    rule = http.put(f"{BASE}/quality-rule", json={"factor": 3}).json()
    assert rule["settings"]["factor"] == 3
    assert http.get(f"{BASE}/quality-rule").json()["settings"]["factor"] == 3


def test_the_alerts_page_filters_groups_and_acts_in_bulk(http: TestClient) -> None:
    view = "/alerts?fleet=grocer%2Fdemand&cohort=store%3Ds01&group=rule"
    page = http.get(view)
    assert page.status_code == 200
    assert "6 unresolved alerts by rule" in page.text and 'id="groups"' in page.text
    assert "Acknowledge all 6 matching" in page.text and page.text.count('name="ids"') == 6
    ids = re.findall(r'name="ids" value="(\d+)"', page.text)[:2]
    token = csrf_of(page.text)
    back = re.search(r'name="back" value="([^"]+)"', page.text)
    assert back is not None
    moved = http.post("/fleets/grocer/demand/alerts", data={
        "action": "acknowledge", "ids": ids, "note": "INC-7", "csrf_token": token,
        "back": back.group(1).replace("&amp;", "&"),
    }, follow_redirects=False)  # fmt: skip
    assert moved.status_code == 303
    location = moved.headers["location"]
    assert location.startswith(
        "/alerts?fleet=grocer%2Fdemand&state=unresolved&cohort=store%3Ds01&group=rule&done="
    )  # the same view, and what was done
    after = http.get(location)
    assert "2 alerts of grocer/demand acknowledged: INC-7" in after.text  # the flash message
    assert after.text.count('class="note">INC-7<') == 2
    every = http.post("/fleets/grocer/demand/alerts", data={
        "action": "acknowledge-all", "cohort": "store=s01", "state": "open", "csrf_token": token,
    }, follow_redirects=False)  # fmt: skip
    assert "4+alerts" in every.headers["location"]
    refused = http.post("/fleets/grocer/demand/alerts", data={"action": "acknowledge",
                                                              "csrf_token": token})  # fmt: skip
    assert refused.status_code == 422


def test_not_tested_is_its_own_state_in_every_roll_up(
    client: shoal.Client, http: TestClient
) -> None:
    fleet = client.fleet("grocer/demand")
    rollup = {g["store"]: g for g in fleet.monitoring.rollup("store")}
    assert rollup["s03"]["state"] == "not tested" and rollup["s03"]["share_drifting"] is None
    assert rollup["s03"]["tested"] == 0 and rollup["s03"]["not_tested"] == 2
    assert rollup["s00"]["state"] == "stable" and rollup["s00"]["share_drifting"] == 0.0
    assert rollup["s01"]["share_drifting"] == 0.75
    monitored = client.health()["grocer/demand"]["monitored"]
    assert monitored["tested"] == 12 and monitored["not_tested"] == 2
    rows = {f"{r['key']['store']}/{r['key']['sku']}": r for r in fleet.monitoring.results()}
    assert rows["s03/k00"]["drift_state"] == "not tested"
    assert rows["s01/k00"]["drift_state"] == "drifting"
    assert rows["s00/k00"]["drift_state"] == "stable"
    figures = fleet.monitoring.figures()
    assert "mape" in figures and "accuracy" not in figures and "log_loss" not in figures
    page = http.get("/fleets/grocer/demand/monitoring")
    assert "12 of 14 models had a feature tested" in page.text
    assert "<strong>not tested</strong>" in page.text and ">not tested</span>" in page.text
    assert '<option value="accuracy"' not in page.text and '<option value="mape"' in page.text


# -- review fixes: acknowledgements kept, cohorts with commas, the model index, old windows --


def test_acknowledging_never_overwrites_an_earlier_acknowledgement(client: shoal.Client) -> None:
    alerts = client.fleet("grocer/demand").alerts
    first, second, *_ = [a["id"] for a in alerts.list()]
    assert alerts.acknowledge_many([first, second], note="INC-1: x1 feed")["moved"] == 2
    before = {a["id"]: a for a in alerts.list("acknowledged")}
    # "Acknowledge all N matching" on the default unresolved view, with an empty note
    every = alerts.acknowledge_many(note="")
    assert every == {"moved": 5, "skipped": 2, "state": "acknowledged"}
    after = {a["id"]: a for a in alerts.list("acknowledged")}
    for aid in (first, second):  # untouched: who acknowledged it, when and why
        assert {k: after[aid][k] for k in ("note", "acted_by", "acted_at", "updated_at")} == {
            k: before[aid][k] for k in ("note", "acted_by", "acted_at", "updated_at")
        }
    assert alerts.acknowledge_many([first, next(iter(set(after) - {first, second}))]) == {
        "moved": 0, "skipped": 2, "state": "acknowledged"}  # fmt: skip
    with pytest.raises(shoal.Conflict) as again:
        alerts.acknowledge(first, note="overwrite?")
    assert again.value.field == "state" and "already acknowledged" in str(again.value)
    # resolving records the resolver and keeps the note when none is given: one, then bulk
    one = alerts.resolve(first)
    assert one["state"] == "resolved" and one["note"] == "INC-1: x1 feed"
    assert one["acted_by"] and one["acted_at"] >= before[first]["acted_at"]
    assert alerts.resolve_many([second, first]) == {"moved": 1, "skipped": 1, "state": "resolved"}
    [kept] = alerts.list("resolved", limit=100, before=first)  # ids below first: second only
    assert kept["id"] == second and kept["note"] == "INC-1: x1 feed"
    assert kept["acted_at"] >= before[second]["acted_at"] and kept["resolved_at"]
    assert alerts.resolve_many(note="fixed")["moved"] == 5
    assert {a["note"] for a in alerts.list("resolved")} == {"INC-1: x1 feed", "fixed"}


def _comma_model_alert(client: shoal.Client) -> int:
    """A model keyed ``sku=A,77`` (a comma in a value) with an alert of the drift rule."""
    from shoal.registry.alerts import Match

    fleet = client.fleet("grocer/demand")
    model = world.LinearModel(1.0, {"x1": 1.0})
    [placed] = fleet.register([{"key": {"store": "s09", "sku": "A,77"}, "model": model}])
    model_id = fleet.get({"store": "s09", "sku": "A,77"}).model_id
    rule = next(r for r in fleet.alerts.rules() if r["name"] == "drift")
    opened, _, _ = client.registry.alerts.apply(
        fleet.ref, rule["id"], 1.0, [Match(model_id, placed.id, 0.5, "x1")], set(), actor="t"
    )
    return opened[0]


def test_a_cohort_value_may_hold_a_comma_as_in_a_model_path(
    client: shoal.Client, http: TestClient
) -> None:
    alert_id = _comma_model_alert(client)
    alerts = client.fleet("grocer/demand").alerts
    assert [a["id"] for a in alerts.list(cohort="store=s09,sku=A,77")] == [alert_id]
    assert [a["id"] for a in alerts.list(cohort="sku=A,77")] == [alert_id]
    assert alerts.count(cohort="store=s01,sku=A,77") == 0
    model = http.get("/fleets/grocer/demand/models/store=s09,sku=A,77")
    assert model.status_code == 200
    link = re.search(r'<a href="(/alerts\?[^"]+)">', model.text)
    assert link is not None
    page = http.get(link.group(1).replace("&amp;", "&"))
    assert page.status_code == 200
    assert re.findall(r'name="ids" value="(\d+)"', page.text) == [str(alert_id)]


def test_one_models_alert_page_is_a_range_of_the_model_index(client: shoal.Client) -> None:
    engine = client.registry._store.engine
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    alerts = client.fleet("grocer/demand").alerts
    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        found = alerts.page(cohort="store=s01,sku=k00", limit=50)
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    assert len(found.items) == 2
    paging = [(s, p) for s, p in seen if s.lstrip().startswith("SELECT alerts.id \nFROM alerts")]
    assert paging, seen
    with engine.connect() as conn:
        for statement, params in paging:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            steps = " | ".join(str(row[-1]) for row in plan)
            assert "ix_alerts_fleet_model_state" in steps and "TEMP B-TREE" not in steps, steps
        indexes = {t: {ix["name"] for ix in sa.inspect(conn).get_indexes(t)}
                   for t in ("runs", "datasets")}  # fmt: skip
    assert "ix_runs_tenant" in indexes["runs"] and "ix_datasets_tenant" in indexes["datasets"]


def test_a_window_stored_before_0011_is_computed_once_then_read(client: shoal.Client) -> None:
    from shoal.store.schema import monitor_rollups, monitor_windows, runs

    store = client.registry._store
    with store.write() as conn:  # as an old store holds it: no tested, no figures
        conn.execute(monitor_rollups.update().values(tested=None))
        run_id = conn.execute(sa.select(monitor_windows.c.run_id)).scalar_one()
        counts = conn.execute(sa.select(runs.c.counts).where(runs.c.id == run_id)).scalar_one()
        counts.pop("figures", None)
        conn.execute(runs.update().where(runs.c.id == run_id).values(counts=counts))
    seen: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    monitoring = client.fleet("grocer/demand").monitoring
    reads = []
    sa.event.listen(store.engine, "before_cursor_execute", keep)
    try:
        for _ in range(2):
            seen.clear()
            rows = monitoring.rollup("store")
            figures = monitoring.figures()
            reads.append(([s for s in seen if "FROM monitor_results" in s], rows, figures))
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", keep)
    (first, rows, figures), (second, rows_again, figures_again) = reads
    assert len(first) == 2 and second == []  # the results once, then the stored rows
    assert rows_again == rows and figures_again == figures and "mape" in figures
    assert {g["store"]: g["state"] for g in rows}["s03"] == "not tested"
    with store.read() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(monitor_rollups.c.tested.is_(None))
            ).scalar_one()
            == 0
        )
        stored = conn.execute(sa.select(runs.c.counts).where(runs.c.id == run_id)).scalar_one()
    assert stored["figures"] == figures


def test_downgrading_0011_keeps_the_roll_ups_without_rowid(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from shoal.store import Store
    from shoal.store.engine import _MIGRATIONS, upgrade

    store = Store(f"sqlite:///{tmp_path / 'down.db'}")
    upgrade(store)
    assert store._engine is not None
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with store._engine.connect() as conn:
        cfg.attributes["connection"] = conn.execution_options(shoal_write=True)
        command.downgrade(cfg, "0010")
        conn.commit()
    with store._engine.connect() as conn:
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'monitor_rollups'"
        ).scalar_one()
        columns = {c["name"] for c in sa.inspect(conn).get_columns("alerts")}
    assert "WITHOUT ROWID" in sql.upper() and "tested" not in sql
    assert not {"note", "acted_by", "acted_at"} & columns
    upgrade(store)  # and back up
    store.dispose()
