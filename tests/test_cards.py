"""Model cards through the SDK, the CLI, REST on a real server and a real browser.

A small fleet is trained (with lineage), evaluated, promoted and monitored for two days
with one key drifting under a rule, so its cards have everything Shoal tracks; a plain
fleet (registered, nothing else) shows what a card says when Shoal has nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LinearRegression
from tests import monitor_world as world
from tests.helpers import csrf_of
from typer.testing import CliRunner

import shoal
from shoal.cli import app
from shoal.errors import Conflict, InvalidInput, NotFound
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.report.cards import MAX_BYTES
from shoal.testing import ThreadServer
from shoal.web import create_web_app

KEY = {"store": "s00", "sku": "k00"}  # drifts both days, under the rule "drift"
MODEL = "store=s00,sku=k00"
FEATURES = ["x1", "x2", "promo"]
PEOPLE = ["owner", "intended_use", "limitations"]


def fit(frame: pd.DataFrame) -> dict[str, Any]:
    model = LinearRegression().fit(frame[FEATURES], frame["y"])
    error = np.abs((frame["y"] - model.predict(frame[FEATURES])) / frame["y"])
    return {"model": model, "metrics": {"mape": float(error.mean()), "rows": float(len(frame))},
            "params": {"features": FEATURES, "fit_intercept": True},
            "tags": {"team": "demand"}}  # fmt: skip


def seed_world(client: shoal.Client, folder: Path) -> shoal.Fleet:
    """Train 2 x 2 keys (lineage), promote, evaluate, and monitor two days under a rule."""
    fleet = client.fleet("grocer/demand", keys=["store", "sku"],
                         description="Daily unit demand per store and product")  # fmt: skip
    keys = world.keys(2, 2)
    rng = np.random.default_rng(0)
    data = pd.concat([world.training_slice(rng, 200).assign(**k) for k in keys], ignore_index=True)
    fleet.train(data, fit, workers=1, progress=False)
    fleet.promote("production", all=True, create=True)
    holdout = pd.concat([world.training_slice(rng, 50).assign(**k) for k in keys])
    fleet.evaluate(holdout, alias="production", progress=False)
    versions = {f"{v.key['store']}/{v.key['sku']}": v.id for v in fleet.search(limit=10)}
    fleet.alerts.add_rule("drift", "psi > 0.2 on any feature")
    for day in range(2):
        when = world.DAY + dt.timedelta(days=day)
        world.write_logs(folder / "logs", versions, keys, day=when, seed=day,
                         drift=frozenset({"s00/k00"}))  # fmt: skip
        fleet.monitor("1d", logs=str(folder / "logs"), since=when,
                      until=when + dt.timedelta(days=1), progress=False)  # fmt: skip
    return fleet


def seed_plain(client: shoal.Client, path: str = "grocer/plain") -> shoal.Fleet:
    """Two models registered with a metric: no lineage, evaluation, monitoring or alias."""
    fleet = client.fleet(path, keys=["store"])
    fleet.register({"key": s, "model": LinearModel(1.0, {"price": -0.5}),
                    "metrics": {"mape": 0.1}} for s in ("s1", "s2"))  # fmt: skip
    return fleet


@pytest.fixture
def demand(client: shoal.Client, tmp_path: Path) -> shoal.Fleet:
    return seed_world(client, tmp_path)


# -- what a card holds ----------------------------------------------------------------------


def test_a_trained_monitored_model_fills_nine_tenths_of_its_card(demand: shoal.Fleet) -> None:
    card = demand.cards.get(KEY)
    counts = card.field_counts()
    assert counts["total"] == 30 and counts["missing"] == PEOPLE
    assert counts["from_shoal"] / counts["total"] >= 0.9  # no typing for 27 of 30
    assert card.summary == "27 of 30 fields filled from Shoal, 0 by people, 3 not available"
    card = demand.cards.update(KEY, owner="demand team", intended_use="Replenishment orders",
                               limitations="Not for new stores")  # fmt: skip
    assert card.field_counts()["missing"] == [] and "3 by people" in card.summary
    for text in (card.to_markdown(), card.to_html()):
        assert "27 of 30 fields filled from Shoal, 3 by people" in text
        assert "Daily unit demand per store and product" in text and "demand-train" in text
        assert "not monitored" not in text and "no evaluation recorded" not in text


def test_a_card_says_plainly_what_shoal_does_not_have(client: shoal.Client) -> None:
    card = seed_plain(client).cards.get("s1")
    missing = set(card.field_counts()["missing"])
    assert {"dataset", "run", "evaluation", "monitoring", "alerts", "aliases"} <= missing
    for text in (card.to_markdown(), card.to_html()):
        for said in ("no lineage: no dataset recorded", "no evaluation recorded",
                     "not monitored", "no alert rules on the fleet", "no aliases",
                     "the fleet has no description", "not written yet"):  # fmt: skip
            assert said in text, said
    html = card.to_html()
    assert '<dd class=""></dd>' not in html and '<dd class="missing"></dd>' not in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "@media print" in html


def test_the_card_numbers_are_the_sdks_answers(client: shoal.Client, demand: shoal.Fleet) -> None:
    card = demand.cards.get(KEY)
    shown = demand.get(KEY, alias="production")
    assert card.shown_by == "production" and card.version is not None
    assert (card.version["number"], card.version["id"]) == (shown.version, shown.id)
    assert card.version["artifact_sha256"] == shown.artifact_sha256
    assert {**card.metrics, **card.evaluation} == shown.metrics
    assert set(card.evaluation) == {"eval_mae", "eval_mape", "eval_rmse", "eval_smape"}
    assert card.params == {"features": '["x1","x2","promo"]', "fit_intercept": True}
    assert card.tags == shown.tags == {"team": "demand"}
    lineage = client.lineage(shown)
    assert lineage.dataset is not None and lineage.run is not None
    assert card.lineage["dataset"]["id"] == lineage.dataset.id
    assert card.lineage["dataset"]["row_count"] == lineage.dataset.row_count
    assert card.lineage["slice_fingerprint"] == shown.slice_fingerprint
    assert card.lineage["run"]["id"] == lineage.run.id == shown.run_id
    trend = demand.monitoring.trend(KEY)
    assert len(card.windows) == card.window_total == len(trend) == 2
    for mine, theirs in zip(card.windows, reversed(trend), strict=True):
        for figure in ("predictions", "labelled", "mape", "max_psi", "drifted_features"):
            assert mine[figure] == theirs[figure], figure
    alerts = [a for a in demand.alerts.list() if a["key"] == KEY]
    assert [a["alert_id"] for a in card.alerts] == [a["id"] for a in alerts]
    assert card.alerts[0]["value"] == alerts[0]["value"]
    assert [(a["name"], a["version"]) for a in card.aliases] == [("production", shown.version)]
    moves = demand.alias_moves()
    assert [m["move_id"] for m in card.moves] == [m.id for m in moves]
    assert [v["number"] for v in card.versions] == [v.version for v in demand.versions(KEY)]
    text = card.to_markdown()
    assert f"{trend[-1]['mape']:.4g}" in text and f"{shown.metrics['eval_mape']:.4g}" in text
    assert card.to_dict()["version"]["created_at"].endswith("+00:00")
    json.dumps(card.to_dict())


def test_cards_are_read_in_bulk_never_a_query_per_model(
    client: shoal.Client, demand: shoal.Fleet
) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = client.registry._store.engine
    ids = [v.model_id for v in demand.search(limit=10)]
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        one = client.registry.cards.read(demand.ref, ids[:1])
        for_one = len(statements)
        statements.clear()
        four = client.registry.cards.read(demand.ref, ids)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(one["models"]) == 1 and len(four["models"]) == 4
    assert len(statements) == for_one <= 20, statements
    assert [m["model_id"] for m in four["models"]] == ids  # in the order asked
    assert [c.key for c in demand.cards.iter("sku = 'k01'")] == [
        {"store": "s00", "sku": "k01"},
        {"store": "s01", "sku": "k01"},
    ]


# -- written fields and status --------------------------------------------------------------


def _audit(client: shoal.Client) -> list[tuple[str, str, dict[str, Any]]]:
    engine = sa.create_engine(client.registry.url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT action, actor, detail FROM audit "
                                    "WHERE action LIKE 'card.%' ORDER BY id")).all()  # fmt: skip
    engine.dispose()
    return [(a, b, c if isinstance(c, dict) else json.loads(c)) for a, b, c in rows]


def test_edit_approve_archive_and_who_approved(
    client: shoal.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = seed_plain(client).cards
    assert cards.get("s1").status == "draft" and cards.get("s1").updated_by is None
    with pytest.raises(InvalidInput, match="no owner") as no_owner:
        cards.approve("s1")
    assert no_owner.value.field == "owner"
    cards.update("s1", owner="demand team")
    with pytest.raises(InvalidInput, match="no intended use") as no_use:
        cards.approve("s1")
    assert no_use.value.field == "intended_use"
    cards.update("s1", intended_use="Orders for the next week\n\n- per store\n\tand product")
    monkeypatch.setenv("SHOAL_USER", "ann")
    card = cards.approve("s1")
    assert (card.status, card.approved_by) == ("approved", "ann") and card.approved_at
    assert "Approved by ann" in card.to_markdown()
    assert card.intended_use.endswith("- per store\n\tand product")  # newlines and tabs kept
    monkeypatch.setenv("SHOAL_USER", "bob")
    with pytest.raises(Conflict, match="already approved by ann"):
        cards.approve("s1")
    same = cards.update("s1", owner="demand team")  # the same text: not a change
    assert (same.status, same.approved_by) == ("approved", "ann")
    edited = cards.update("s1", limitations="Not for stores open under a month")
    assert (edited.status, edited.approved_by, edited.approved_at) == ("draft", None, None)
    assert edited.updated_by == "bob" and edited.owner == "demand team"
    assert cards.approve("s1").approved_by == "bob"
    assert cards.archive("s1").status == "archived"
    with pytest.raises(Conflict, match="archived: set it back to draft"):
        cards.approve("s1")
    assert cards.draft("s1").status == "draft" and cards.get("s1").approved_by is None
    assert cards.get("s2").status == "draft"  # one model's card, not the fleet's
    with pytest.raises(InvalidInput) as bad_status:
        client.registry.cards.set_status(cards._fleet.ref, "s1", "published")
    assert bad_status.value.field == "status"
    with pytest.raises(NotFound):
        cards.get("s9")
    actions = [(a, who, d["fields"] if a == "card.update" else d["to"])
               for a, who, d in _audit(client)]  # fmt: skip
    assert actions == [
        ("card.update", "tester", ["owner"]), ("card.update", "tester", ["intended_use"]),
        ("card.approve", "ann", "approved"), ("card.update", "bob", ["limitations"]),
        ("card.approve", "bob", "approved"), ("card.archive", "bob", "archived"),
        ("card.draft", "bob", "draft"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "named", "says"),
    [
        ({"owner": "x" * 201}, "owner", "over the 200"),
        ({"owner": "ann\nbob"}, "owner", "one line"),
        ({"intended_use": "y" * 4001}, "intended_use", "over the 4,000"),
        ({"limitations": "beware\x07"}, "limitations", r"U\+0007"),
        ({"limitations": 12}, "limitations", "must be text"),
    ],
)
def test_bad_input_is_named(
    client: shoal.Client, fields: dict[str, Any], named: str, says: str
) -> None:
    cards = seed_plain(client).cards
    with pytest.raises(InvalidInput, match=says) as caught:
        cards.update("s1", **fields)
    assert caught.value.field == named
    assert cards.get("s1").updated_by is None  # nothing written


def test_written_text_is_normalised(client: shoal.Client) -> None:
    cards = seed_plain(client).cards
    card = cards.update("s1", owner="  cafe\u0301 team ", limitations="a\r\nb")
    assert card.owner == "caf\u00e9 team" and card.limitations == "a\nb"


# -- bounded ------------------------------------------------------------------------------


def test_a_card_stays_under_20_kb_whatever_the_model(client: shoal.Client) -> None:
    dims = [f"dim{i}" for i in range(6)]
    fleet = client.fleet("grocer/huge", keys=dims, description="<&>" * 3000)
    key = {d: "<" * 199 + str(i) for i, d in enumerate(dims)}
    huge = {f"p{i:03d}_" + "p" * 235: ["<" * 790] for i in range(60)}  # at the registry's cap
    fleet.register([{"key": key, "model": LinearModel(1.0, {"price": -0.5}), "params": huge,
                     "metrics": {f"metric_{i:03d}_" + "m" * 80: i / 7 for i in range(300)},
                     "tags": {f"tag_{i:03d}": "<" * 400 for i in range(60)}}
                    for _ in range(60)])  # fmt: skip
    for name in [f"alias-{i:02d}" for i in range(25)]:
        fleet.set_alias(name, {tuple(key.values()): 60}, create=True)
        fleet.set_alias(name, {tuple(key.values()): 59})
    text = "<\U0001f600&" * 1333  # 4,000 characters, escaped or multi-byte every one
    card = fleet.cards.update(key, owner="<" * 200, intended_use=text, limitations=text)
    assert card.params_total == 60 and card.version_total == 60 and card.move_total == 50
    for rendered in (card.to_markdown(), card.to_html()):
        assert len(rendered.encode()) <= MAX_BYTES, len(rendered.encode())
        assert "more" in rendered
    html_card = card.to_html()
    assert "&lt;" in html_card and "<<" not in html_card  # escaped, whatever was cut
    typical = seed_plain(client).cards.get("s1")
    assert len(typical.to_html().encode()) < 10_000


# -- many cards at once ---------------------------------------------------------------------


def test_cards_of_a_filter_to_a_zip_and_a_folder(client: shoal.Client, tmp_path: Path) -> None:
    fleet = client.fleet("grocer/odd", keys=["store", "sku"])
    keys = [("s1", "A"), ("s1", "B/../x"), ("s2", "A"), ("s1", "a")]
    fleet.register({"key": k, "model": LinearModel(1.0, {"price": -0.5})} for k in keys)
    seen: list[tuple[int, int]] = []
    written = fleet.cards.write(
        tmp_path / "out" / "s1.zip", where="store = 's1'",
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert (written.cards, written.archive, written.format) == (3, True, "md")
    assert seen[-1] == (3, 3) and written.largest <= MAX_BYTES
    with zipfile.ZipFile(tmp_path / "out" / "s1.zip") as archive:
        names = archive.namelist()
        assert "store=s1,sku=A.md" in names and "store=s1,sku=a.md" not in names
        assert all("/" not in n and not n.startswith(".") for n in names) and len(names) == 3
        assert "# Model card: grocer/odd" in archive.read("store=s1,sku=A.md").decode()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["s1.zip"]  # no temp file left
    folder = fleet.cards.write(tmp_path / "html", format="html")
    files = sorted(p.name for p in (tmp_path / "html").iterdir())
    assert folder.cards == 4 and len(files) == 4 and all(f.endswith(".html") for f in files)
    assert len({f.lower() for f in files}) == 4  # 'A' and 'a' do not share a file anywhere
    with pytest.raises(InvalidInput) as bad:
        fleet.cards.write(tmp_path / "x", format="pdf")
    assert bad.value.field == "format"


def test_another_tenant_never_sees_a_card(client: shoal.Client, store_url: str) -> None:
    grocer = seed_plain(client)
    other = seed_plain(client, "apparel/plain")
    mid = grocer.get("s1").model_id
    assert client.registry.cards.read(other.ref, [mid])["models"] == []  # by id: left out
    scoped = shoal.connect(store_url, client.artifacts_url, tenant="apparel")
    try:
        with pytest.raises(NotFound):
            scoped.fleet("grocer/plain").cards.get("s1")
        assert scoped.fleet("apparel/plain").cards.get("s1").fleet == "apparel/plain"
    finally:
        scoped.close()


# -- the CLI ------------------------------------------------------------------------------


def test_the_cli_shows_sets_approves_and_writes(client: shoal.Client, tmp_path: Path) -> None:
    seed_plain(client)
    base = ["--store", client.store_url, "--artifacts", client.artifacts_url]
    runner = CliRunner()

    def shoal_(*args: str) -> Any:
        return runner.invoke(app, [*base, *args])

    shown = shoal_("card", "show", "grocer/plain", "--key", "store=s1")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("# Model card: grocer/plain")
    as_json = json.loads(
        shoal_("card", "show", "grocer/plain", "-k", "store=s1", "-f", "json").stdout
    )
    assert as_json["status"] == "draft" and as_json["key"] == {"store": "s1"}
    bad = shoal_("card", "set", "grocer/plain", "--key", "store=s1", "--owner", "x" * 201)
    assert bad.exit_code == 2 and "owner is 201 characters" in bad.stderr
    done = shoal_("card", "set", "grocer/plain", "--key", "store=s1", "--owner", "demand team",
                  "--intended-use", "Weekly orders")  # fmt: skip
    assert done.exit_code == 0 and "is draft" in done.stdout
    approved = shoal_("card", "approve", "grocer/plain", "--key", "store=s1")
    assert approved.exit_code == 0 and "is approved by tester" in approved.stdout
    again = shoal_("card", "approve", "grocer/plain", "--key", "store=s1")
    assert again.exit_code == 4 and "already approved by tester" in again.stderr
    redraft = shoal_("card", "set", "grocer/plain", "--key", "store=s1", "--limitations", "none")
    assert "draft again" in redraft.stderr
    assert shoal_("card", "archive", "grocer/plain", "--key", "store=s1").exit_code == 0
    html = shoal_("card", "show", "grocer/plain", "--key", "store=s1", "--format", "html")
    assert "<!doctype html>" in html.stdout and "Archived" in html.stdout
    missing = shoal_("card", "show", "grocer/plain")
    assert missing.exit_code == 2 and "--key" in missing.stderr
    out = tmp_path / "cards.zip"
    wrote = shoal_("card", "write", "grocer/plain", "--out", str(out), "--format", "html")
    assert wrote.exit_code == 0 and "wrote 2 cards" in wrote.stdout
    assert sorted(zipfile.ZipFile(out).namelist()) == ["store=s1.html", "store=s2.html"]


# -- REST and the page on a real server ---------------------------------------------------


@pytest.fixture
def server(demand: shoal.Fleet) -> Iterator[httpx.Client]:
    with (
        ThreadServer(create_web_app(demand._client, auth=Auth.off())) as running,
        httpx.Client(base_url=running.url, timeout=10) as http,
    ):
        yield http


CARD = f"/api/v1/fleets/grocer/demand/models/{MODEL}/card"


def test_rest_reads_edits_and_approves_a_card(server: httpx.Client) -> None:
    body = server.get(CARD).json()
    assert body["fields"]["from_shoal"] == 27 and body["shown_by"] == "production"
    assert body["windows"][0]["window_start"].endswith("+00:00")
    md = server.get(CARD, params={"format": "md"})
    assert md.headers["content-type"].startswith("text/markdown") and "# Model card" in md.text
    page = server.get(CARD, params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html") and len(page.content) <= MAX_BYTES
    bad = server.patch(CARD, json={"owner": "a\tb"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "owner"
    extra = server.patch(CARD, json={"status": "approved"})
    assert extra.status_code == 422
    early = server.post(CARD + "/approve")
    assert early.status_code == 422 and early.json()["error"]["field"] == "owner"
    done = server.patch(CARD, json={"owner": "demand team", "intended_use": "Weekly orders"})
    assert done.status_code == 200 and done.json()["owner"] == "demand team"
    approved = server.post(CARD + "/approve").json()
    assert (approved["status"], approved["approved_by"]) == ("approved", "tester")
    assert approved["approved_at"].endswith("+00:00")
    assert server.post(CARD + "/approve").status_code == 409
    redraft = server.patch(CARD, json={"limitations": "Not for new stores"}).json()
    assert (redraft["status"], redraft["approved_by"]) == ("draft", None)
    assert server.post(CARD + "/archive").json()["status"] == "archived"
    assert server.post(CARD + "/draft").json()["status"] == "draft"
    assert server.get(CARD.replace("s00", "s99")).status_code == 404
    assert server.get(CARD.replace("grocer", "nobody")).status_code == 404
    schema = server.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/fleets/{tenant}/{fleet}/models/{model}/card/approve" in schema


def test_the_card_page_edits_and_links_from_the_model_page(server: httpx.Client) -> None:
    model_page = server.get(f"/fleets/grocer/demand/models/{MODEL}")
    assert f'href="/fleets/grocer/demand/models/{MODEL}/card"' in model_page.text
    page = server.get(f"/fleets/grocer/demand/models/{MODEL}/card")
    assert page.status_code == 200 and 'name="intended_use"' in page.text
    assert "27 of 30 fields filled from Shoal" in page.text
    url = f"/fleets/grocer/demand/models/{MODEL}/card"
    token = csrf_of(page.text)
    bad = server.post(url, data={"owner": "x" * 201, "intended_use": "", "limitations": "",
                                 "csrf_token": token})  # fmt: skip
    assert bad.status_code == 422 and "owner is 201 characters" in bad.text
    assert 'value="' + "x" * 201 in bad.text  # what was typed is kept
    saved = server.post(url, data={"owner": "demand team", "intended_use": "Weekly orders",
                                   "limitations": "", "csrf_token": token})  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"].endswith("/card?done=saved")
    approved = server.post(url + "/approve")
    assert approved.status_code == 303
    assert "Approved by tester" in server.get(approved.headers["location"]).text
    assert server.post(url + "/approve").status_code == 409


# -- the page in a browser --------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin")
def test_the_card_page_in_a_browser_prints_without_its_form(
    server: httpx.Client, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    url = str(server.base_url).rstrip("/") + f"/fleets/grocer/demand/models/{MODEL}/card"
    problems: list[str] = []
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        tab = browser.new_page()
        tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        tab.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
        tab.goto(url)
        assert tab.get_by_role("heading", name="store=s00, sku=k00").is_visible()
        tab.get_by_label("Owner").fill("demand team")
        tab.get_by_label("Intended use").fill("Weekly replenishment orders")
        tab.get_by_role("button", name="Save").click()
        tab.wait_for_url("**done=saved")
        tab.get_by_role("button", name="Approve").click()
        tab.wait_for_url("**done=approved")
        assert "Approved by tester" in tab.locator("header").inner_text()
        tab.screenshot(path=str(tmp_path / "card.png"), full_page=True)
        assert tab.locator("section.edit").is_visible()
        tab.emulate_media(media="print")
        assert not tab.locator("section.edit").is_visible()  # the print stylesheet hides it
        assert tab.get_by_role("heading", name="Monitoring").is_visible()
        tab.screenshot(path=str(tmp_path / "card-print.png"), full_page=True)
        browser.close()
    assert problems == [], problems
    assert (tmp_path / "card.png").stat().st_size > 10_000
