"""Fleet reports: every figure equals the SDK's answer, the page opens offline, diffs hold.

The fleet is real: 12 models registered with baselines, two days of logs monitored (one
key drifted), a drift rule, ``production`` promoted; the report is built through the SDK,
the CLI and the server, and its page is opened in chromium.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from tests import monitor_world as world
from tests.helpers import csrf_of
from typer.testing import CliRunner

import shoal
from shoal.cli import app as cli_app
from shoal.errors import InvalidInput, NotFound
from shoal.http.auth import Auth
from shoal.web import create_web_app

DRIFTED = frozenset({"s01/k02"})


def monitored(client: shoal.Client, folder: Path) -> shoal.Fleet:
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    world.monitored_two_days(fleet, folder, drift=DRIFTED)
    fleet.promote("production", "store != 's02'", create=True)
    return fleet


@pytest.fixture
def fleet(client: shoal.Client, tmp_path: Path) -> shoal.Fleet:
    return monitored(client, tmp_path)


def test_every_figure_equals_the_sdk_answer(fleet: shoal.Fleet, client: shoal.Client) -> None:
    report = fleet.report(by="store", record=False)
    s = report.summary
    assert s["models"] == fleet.count() == 12
    assert s["on_alias"] == fleet.coverage()["production"] == 8
    assert s["versions"] == next(f.versions for f in client.fleets() if f.path == fleet.path)
    assert s["coverage"] == pytest.approx(8 / 12)
    # Quality: the distribution of the latest metric over the fleet.
    (mape,) = [d for d in report.figures.quality["distributions"] if d["metric"] == "mape"]
    values = [v.metrics["mape"] for v in fleet.iter_search()]
    assert mape["models"] == len(values)
    assert mape["p50"] == pytest.approx(statistics.median(values))
    # Cohorts by store: counts are the facets; drifting ones first.
    cohorts = {c["cohort"]: c for c in report.figures.quality["cohorts"]}
    assert {k: c["models"] for k, c in cohorts.items()} == fleet.facets("store")
    assert report.figures.quality["cohorts"][0]["cohort"] == "s01"
    # Drift: the newest window's results, as the monitoring API reads them.
    newest = fleet.monitoring.results()
    drifting = [r for r in newest if r["drifted_features"] > 0]
    tested = [r for r in newest if r["tested_features"] > 0]
    assert report.figures.drift["drifting"] == len(drifting) == 1
    assert report.figures.drift["tested"] == len(tested)
    assert report.figures.drift["not_tested"] == 12 - len(tested)
    heat = report.figures.drift["heat"]
    assert heat["cells"][("s01", "k02")]["drifting"] == 1
    assert sum(c["models"] for c in heat["cells"].values()) == 12
    # Worst models: the live figure's worst is the monitoring API's worst.
    worst = fleet.monitoring.worst(by="mape", n=1)[0]
    assert report.figures.quality["worst_by"] == "live_mape"
    shown = "store={store}, sku={sku}".format(**worst["key"])
    assert report.figures.quality["worst"][0]["key"] == shown
    assert report.figures.quality["worst"][0]["live_mape"] == pytest.approx(worst["mape"])
    # Trend: one row per monitored window.
    assert [t["window_start"] for t in report.figures.quality["trend"]] == sorted(
        w["start"] for w in fleet.monitoring.windows()
    )
    # Alerts: what the alerts API counts.
    alerts = report.figures.alerts
    assert alerts["open"] == fleet.alerts.count("open")
    assert alerts["rules"] == len(fleet.alerts.rules()) == 1
    assert [r["rule"] for r in alerts["by_rule"]] == ["drift"]
    # Gaps: registered without lineage, not evaluated, four models not at production.
    gaps = {g["gap"]: g for g in report.figures.gaps["gaps"]}
    assert gaps["no_alias"]["models"] == 12 - fleet.coverage()["production"]
    assert all(e.startswith("store=s02") for e in gaps["no_alias"]["examples"])
    assert gaps["no_lineage"]["models"] == 12
    assert gaps["no_evaluation"]["models"] == 12
    assert gaps["no_monitoring"]["models"] == 0
    assert gaps["not_tested"]["models"] == report.figures.drift["not_tested"]
    # The per-model table: one row per model, the figures the sections aggregate.
    models = report.tables["models"]
    assert models.num_rows == 12
    assert sorted(models.column("store").to_pylist()) == sorted(
        v.key["store"] for v in fleet.iter_search()
    )
    assert report.figures.changes is None  # the fleet's first report


def test_the_page_shows_those_figures_in_chromium(fleet: shoal.Fleet, tmp_path: Path) -> None:
    report = fleet.report(by="store", out=tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    shown = _open_in_chromium(tmp_path / "report.html", tmp_path / "report.png")
    assert shown["load_ms"] < 10_000
    s, d, a = report.summary, report.figures.drift, report.figures.alerts
    expected = {
        "models": s["models"], "versions": s["versions"], "on_alias": s["on_alias"],
        "stale": s["stale"], "tested": d["tested"], "drifting": d["drifting"],
        "not_tested": d["not_tested"], "alerts_open": a["open"],
        "metric.mape.models": 12, "gap.no_alias": 4, "moved.production": 8,
    }  # fmt: skip
    for name, value in expected.items():
        assert _int(shown["figures"][name]) == value, name
    assert shown["worst_1"] == report.figures.quality["worst"][0]["key"]
    assert (tmp_path / "report.png").stat().st_size > 10_000
    kept = Path(__file__).resolve().parent.parent / "test-artifacts" / "screens" / "test_reports"
    kept.mkdir(parents=True, exist_ok=True)
    (kept / "report.png").write_bytes((tmp_path / "report.png").read_bytes())


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _open_in_chromium(page: Path, screenshot: Path) -> dict[str, Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.browser import ARGS, CHROMIUM

    if not CHROMIUM.exists():
        pytest.skip(f"chromium is not installed at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(screenshot.parent / "chromium-profile"), executable_path=str(CHROMIUM),
            args=ARGS, viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        try:
            tab = browser.new_page()
            tab.goto(page.as_uri(), wait_until="load")
            load_ms = tab.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
            figures = tab.evaluate(
                "Object.fromEntries([...document.querySelectorAll('[data-figure]')]"
                ".map(e => [e.dataset.figure, e.textContent.trim()]))"
            )
            worst = tab.text_content("[data-worst='1']")
            tab.screenshot(path=str(screenshot), full_page=True)
            tab.emulate_media(media="print")
            assert not tab.is_visible("nav")
        finally:
            browser.close()
    return {"load_ms": load_ms, "figures": figures, "worst_1": (worst or "").strip()}


def test_the_second_report_says_what_changed(fleet: shoal.Fleet) -> None:
    first = fleet.report(by="store")
    assert first.report_id is not None and first.figures.changes is None
    import numpy as np

    from shoal.flavors.linear import LinearModel

    model = LinearModel(intercept=1.0, coef={"x1": 1.0})
    fleet.register([
        {"key": {"store": "s09", "sku": "k00"}, "model": model, "metrics": {"mape": 0.3}},
        {"key": {"store": "s00", "sku": "k00"}, "model": model, "metrics": {"mape": 0.5}},
    ])  # fmt: skip
    moved = fleet.promote("production", "store = 's02'")
    second = fleet.report(by="store")
    c = second.figures.changes
    assert c is not None and c["previous_id"] == first.report_id
    assert c["models_added"] == 1 and c["added_examples"] == ["store=s09, sku=k00"]
    assert c["versions_registered"] == 2
    assert c["promoted"] == moved.moved == 4
    figures = {f["figure"]: f for f in c["figures"]}
    assert figures["models"]["before"] == 12 and figures["models"]["now"] == 13
    assert figures["on_alias"]["before"] == 8 and figures["on_alias"]["now"] == 12
    # s00/k00 has a new version: its mape before (0.1) and after (0.5).
    assert c["models"]["compared"] == 1 and c["models"]["worse"] == 1
    assert c["models"]["top"][0] == {"key": "store=s00, sku=k00", "before": 0.1, "after": 0.5}
    assert np.isclose(
        next(m for m in c["metrics"] if m["metric"] == "mape")["p50_now"],
        statistics.median(v.metrics["mape"] for v in fleet.iter_search()),
    )
    assert "Changes since the previous report" in second.html
    assert f"Previous report #{first.report_id}" in second.html
    # An unrecorded report diffs against the newest recorded one, and records nothing.
    third = fleet.report(by="store", record=False)
    assert third.report_id is None and third.figures.changes["previous_id"] == second.report_id


def test_a_fleet_with_no_monitoring_no_runs_or_no_models_says_so(client: shoal.Client) -> None:
    from shoal.flavors.linear import LinearModel

    empty = client.fleet("grocer/empty", keys=["store"])
    report = empty.report()
    assert report.summary["models"] == 0 and report.figures.quality["distributions"] == []
    assert "This fleet has no monitoring results" in report.html
    assert "No training or evaluation runs started in the period" in report.html
    plain = client.fleet("grocer/plain", keys=["store"])
    plain.register([{"key": {"store": f"s{i}"}, "model": LinearModel(intercept=float(i), coef={}),
                     "metrics": {"accuracy": 0.5 + i / 10}} for i in range(3)])  # fmt: skip
    report = plain.report()
    assert report.figures.drift["window"] is None and report.figures.drift["drifting"] == 0
    assert report.figures.drift["not_tested"] == 3
    assert "none is known to drift or not to drift" in report.html
    assert "The fleet has no alert rules" in report.html
    # No live figures: worst by the registered metric, lowest accuracy first.
    assert report.figures.quality["worst_by"] == "metric.accuracy"
    assert report.figures.quality["worst"][0]["key"] == "store=s0"


def test_bad_options_name_the_field(fleet: shoal.Fleet, client: shoal.Client) -> None:
    cases = {
        "by": dict(by="region"), "across": dict(across="store", by="store"),
        "since": dict(since="soon"), "metric": dict(metric="nope"), "alias": dict(alias="Bad!"),
        "stale_after": dict(stale_after="0m"), "window": dict(window="1y"),
    }  # fmt: skip
    for field, options in cases.items():
        with pytest.raises(InvalidInput) as caught:
            fleet.report(record=False, **options)
        assert caught.value.field == field, (field, caught.value)
    assert fleet.report(record=False, by="tag.none").figures.quality["cohorts"][0]["cohort"] == (
        "(no tag)"
    )
    with pytest.raises(NotFound):
        client.fleet("other/demand").report()


def test_the_cli_writes_html_pdf_and_tables(fleet: shoal.Fleet, tmp_path: Path) -> None:
    runner = CliRunner()
    html = tmp_path / "out" / "r.html"
    done = runner.invoke(cli_app, ["--store", _url(fleet),
                                   "report", "grocer/demand", "--out", str(html),
                                   "--tables", "parquet", "--by", "store"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert html.exists() and "models" in done.output
    models = pq.read_table(tmp_path / "out" / "r.tables" / "models.parquet")
    assert models.num_rows == 12
    cohorts = pq.read_table(tmp_path / "out" / "r.tables" / "cohorts.parquet")
    assert cohorts.column_names[:3] == ["store", "models", "on_production"]
    assert 'href="r.tables/models.parquet"' in html.read_text()
    as_json = runner.invoke(cli_app, ["--store", _url(fleet), "report", "grocer/demand",
                                      "--out", str(tmp_path / "j.html"), "--json",
                                      "--no-record"])  # fmt: skip
    assert as_json.exit_code == 0 and '"report_id": null' in as_json.stdout
    bad = runner.invoke(cli_app, ["--store", _url(fleet), "report", "grocer/demand", "--by", "x"])
    assert bad.exit_code == 2 and "by 'x' is not a key of grocer/demand" in bad.output
    assert "Traceback" not in bad.output
    missing = runner.invoke(cli_app, ["--store", _url(fleet), "report", "grocer/nope"])
    assert missing.exit_code == 3
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed: the PDF is printed by it")
    pdf = tmp_path / "r.pdf"
    printed = runner.invoke(cli_app, ["--store", _url(fleet), "report", "grocer/demand",
                                      "--out", str(pdf), "--no-record"])  # fmt: skip
    assert printed.exit_code == 0, printed.output
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000


def _url(fleet: shoal.Fleet) -> str:
    return fleet._registry.url


@pytest.fixture
def http(tmp_path: Path) -> Iterator[tuple[TestClient, shoal.Fleet]]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = monitored(client, tmp_path)
    with TestClient(create_web_app(client, auth=Auth.off()), base_url="http://127.0.0.1") as http:
        yield http, fleet
    client.close()


def test_the_page_and_rest_serve_the_same_report(http: tuple[TestClient, shoal.Fleet]) -> None:
    web, fleet = http
    page = web.get("/fleets/grocer/demand/report", params={"by": "store"})
    assert page.status_code == 200 and "Fleet report · grocer/demand" in page.text
    assert 'data-figure="models">12<' in page.text
    assert "Record this report" in page.text
    figures = web.get("/api/v1/fleets/grocer/demand/report").json()
    assert figures["summary"]["models"] == 12 and figures["report_id"] is None
    recorded = web.post("/api/v1/fleets/grocer/demand/report", params={"by": "store"}).json()
    assert recorded["report_id"] >= 1
    again = web.post("/fleets/grocer/demand/report",
                     data={"by": "store", "csrf_token": csrf_of(page.text)},
                     follow_redirects=False)  # fmt: skip
    assert again.status_code == 303 and "by=store" in again.headers["location"]
    shown = web.get(again.headers["location"]).text
    assert f"Recorded report {recorded['report_id'] + 1}" in shown and 'role="status"' in shown
    assert len(fleet.report(record=False).to_dict()["changes"]["figures"]) > 0
    table = web.get("/api/v1/fleets/grocer/demand/report/tables/cohorts",
                    params={"format": "csv", "by": "store"})  # fmt: skip
    assert table.status_code == 200 and table.text.splitlines()[0].startswith('"store","models"')
    assert len(table.text.splitlines()) == 1 + 3
    parquet = web.get("/api/v1/fleets/grocer/demand/report/tables/models",
                      params={"format": "parquet"})  # fmt: skip
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    bad = web.get("/api/v1/fleets/grocer/demand/report", params={"by": "region"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "by"
    missing = web.get("/api/v1/fleets/grocer/demand/report/tables/nope")
    assert missing.status_code == 404
    bad_page = web.get("/fleets/grocer/demand/report", params={"since": "x"})
    assert bad_page.status_code == 422 and "since" in bad_page.text
    fleet_page = web.get("/fleets/grocer/demand")
    assert 'href="/fleets/grocer/demand/report"' in fleet_page.text


def test_the_page_stays_small_with_many_cohorts(client: shoal.Client) -> None:
    from shoal.flavors.linear import LinearModel

    many = client.fleet("grocer/many", keys=["store", "sku"])
    model = LinearModel(intercept=1.0, coef={})
    many.register([
        {"key": {"store": f"s{i:03d}", "sku": f"k{j}"}, "model": model,
         "metrics": {"mape": (i * 7 + j) % 50 / 100}}
        for i in range(300) for j in range(3)
    ])  # fmt: skip
    report = many.report(by="store", record=False)
    assert report.figures.quality["cohort_count"] == 300
    assert len(re.findall(r"<tr><td>s\d{3}</td>", report.html)) == 30
    assert "largest 30 shown" in report.html
    assert report.tables["cohorts"].num_rows == 300
    assert len(report.html) < 200_000


def test_a_card_prints_to_pdf_from_the_cli(fleet: shoal.Fleet, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--store", _url(fleet), "card", "show", "grocer/demand", "--key", "store=s01",
            "--key", "sku=k02"]  # fmt: skip
    no_out = runner.invoke(cli_app, [*base, "--format", "pdf"])
    assert no_out.exit_code == 2 and "add --out card.pdf" in no_out.output
    md = tmp_path / "card.md"
    assert runner.invoke(cli_app, [*base, "--out", str(md)]).exit_code == 0
    assert md.read_text().startswith("#") and "s01" in md.read_text()
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed: the PDF is printed by it")
    pdf = tmp_path / "card.pdf"
    done = runner.invoke(cli_app, [*base, "--format", "pdf", "--out", str(pdf)])
    assert done.exit_code == 0, done.output
    assert pdf.read_bytes()[:5] == b"%PDF-"
