"""Champion against challenger: two aliases compared model by model (SDK, REST, page),
the metric change a move preview shows, and the warnings for an alias that does not exist.

A small fleet with known metrics: 10 stores x 3 SKUs, ``production`` on version 1 of every
model, ``candidate`` on version 2 of stores s00..s05. Version 2 lowers MAPE by 0.05 for
SKUs A and B and raises it by 0.02 for C (and raises r2 for A and B, lowers it for C).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.helpers import csrf_of

import shoal
from shoal.errors import InvalidInput
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.web import create_web_app

STORES = [f"s{i:02d}" for i in range(10)]
SKUS = ["A", "B", "C"]
PILOT = STORES[:6]


def _mape(i: int, sku: str, version: int) -> float:
    base = round(0.2 + i / 100, 4)
    return base if version == 1 else round(base + (0.02 if sku == "C" else -0.05), 4)


@pytest.fixture
def fleet(tmp_path) -> Iterator[Any]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    demand = client.fleet("grocer/demand", keys=["store", "sku"])
    for version, stores in ((1, STORES), (2, PILOT)):
        demand.register(
            {"key": {"store": s, "sku": k}, "model": LinearModel(float(version), {"p": 1.0}),
             "metrics": {"mape": _mape(i, k, version),
                         "r2": 0.5 if version == 1 else (0.4 if k == "C" else 0.6)},
             "tags": {"region": "north" if i < 5 else "south"}}
            for i, s in enumerate(stores) for k in SKUS
        )  # fmt: skip
    demand.set_alias("production", {(s, k): 1 for s in STORES for k in SKUS}, create=True)
    demand.set_alias("candidate", {(s, k): 2 for s in PILOT for k in SKUS}, create=True)
    yield demand
    client.close()


@pytest.fixture
def http(fleet) -> Iterator[TestClient]:
    app = create_web_app(fleet._client, auth=Auth.off())
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_summary_rows_and_winners_for_an_error_metric(fleet) -> None:
    found = fleet.compare_aliases("production", "candidate", "mape")
    assert found.direction == "lower"
    t = found.summary
    assert (t.both, t.only_a, t.only_b, t.compared) == (18, 12, 0, 18)
    assert (t.wins, t.losses, t.ties) == (12, 6, 0)
    assert t.median_delta == pytest.approx(-0.05)
    assert t.mean_delta == pytest.approx((12 * -0.05 + 6 * 0.02) / 18)
    first = found.rows[0]
    assert first.key == {"store": "s00", "sku": "A"}
    assert (first.a_version, first.b_version, first.a_value) == (1, 2, 0.2)
    assert first.delta == pytest.approx(-0.05) and first.winner == "b"
    c = next(r for r in found.rows if r.key["sku"] == "C")
    assert c.delta == pytest.approx(0.02) and c.winner == "a"


def test_direction_of_a_score_and_an_override(fleet) -> None:
    r2 = fleet.compare_aliases("production", "candidate", "r2")
    assert r2.direction == "higher"
    assert (r2.summary.wins, r2.summary.losses) == (12, 6)  # r2 up for A and B
    flipped = fleet.compare_aliases("production", "candidate", "mape", direction="higher")
    assert (flipped.summary.wins, flipped.summary.losses) == (6, 12)
    with pytest.raises(InvalidInput) as bad:
        fleet.compare_aliases("production", "candidate", "mape", direction="up")
    assert bad.value.field == "direction"


def test_rollup_by_a_key_dimension_and_by_a_tag(fleet) -> None:
    by_store = fleet.compare_aliases("production", "candidate", "mape", by="store")
    rows = {g.value: g for g in by_store.rollup}
    assert set(rows) == set(PILOT)
    assert (rows["s00"].models, rows["s00"].wins, rows["s00"].losses) == (3, 2, 1)
    by_region = fleet.compare_aliases("production", "candidate", "mape", by="tags.region")
    assert [(g.value, g.models, g.wins, g.losses) for g in by_region.rollup] == [
        ("north", 15, 10, 5), ("south", 3, 2, 1)]  # fmt: skip
    bare = fleet.compare_aliases("production", "candidate", "mape", by="region")
    assert bare.rollup == by_region.rollup
    with pytest.raises(InvalidInput) as bad:
        fleet.compare_aliases("production", "candidate", "mape", by="colour")
    assert bad.value.field == "by"


def test_pages_with_a_cursor_in_model_order_and_by_delta(fleet) -> None:
    seen: list[tuple[str, str]] = []
    cursor = None
    while True:
        page = fleet.compare_aliases("production", "candidate", "mape", limit=5, cursor=cursor,
                                     summary=False)  # fmt: skip
        assert page.summary is None
        seen += [(r.key["store"], r.key["sku"]) for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == 18 == len(set(seen))
    worst = fleet.compare_aliases("production", "candidate", "mape", sort="-delta", limit=4)
    more = fleet.compare_aliases("production", "candidate", "mape", sort="-delta", limit=4,
                                 cursor=worst.next_cursor)  # fmt: skip
    deltas = [r.delta for r in [*worst.rows, *more.rows]]
    assert deltas == sorted(deltas, reverse=True)
    assert [r.key["sku"] for r in worst.rows] == ["C"] * 4
    with pytest.raises(InvalidInput) as bad:
        fleet.compare_aliases("production", "candidate", "mape", sort="delta",
                              cursor=worst.next_cursor)  # fmt: skip
    assert bad.value.field == "cursor"


def test_only_a_and_only_b_rows_and_latest(fleet) -> None:
    lone = fleet.compare_aliases("production", "candidate", "mape", show="only_a")
    assert len(lone.rows) == 12 and all(r.b_version is None for r in lone.rows)
    assert fleet.compare_aliases("production", "candidate", "mape", show="only_b").rows == []
    latest = fleet.compare_aliases("candidate", "latest", "mape")
    assert (latest.summary.both, latest.summary.ties, latest.summary.only_b) == (18, 18, 12)


def test_unknown_alias_and_filter_that_matches_nothing(fleet) -> None:
    with pytest.raises(InvalidInput) as typo:
        fleet.compare_aliases("production", "candiate", "mape")
    assert typo.value.field == "b"
    assert "did you mean 'candidate'" in str(typo.value) and "latest" in str(typo.value)
    with pytest.raises(InvalidInput) as same:
        fleet.compare_aliases("production", "production", "mape")
    assert same.value.field == "b"
    with pytest.raises(InvalidInput) as metric:
        fleet.compare_aliases("production", "candidate", "wape")
    assert metric.value.field == "metric"
    empty = fleet.compare_aliases("production", "candidate", "mape", where="store = 'zz'")
    assert empty.summary.both == 0 and "selects no model" in empty.notes[0]


def test_promote_with_a_typo_source_names_the_field_and_the_closest(fleet) -> None:
    with pytest.raises(InvalidInput) as typo:
        fleet.promote("production", "store = 's01'", source="candiate", dry_run=True)
    assert typo.value.field == "source"
    assert "'candiate'" in str(typo.value) and "did you mean 'candidate'" in str(typo.value)
    nothing = fleet.promote("production", "store = 'zz'", source="candidate", dry_run=True)
    assert nothing.moved == 0 and "matches the filter" in nothing.notes[0]


def test_preview_shows_the_metric_change(fleet) -> None:
    move = fleet.promote("production", "candidate.mape < production.mape", dry_run=True)
    assert move.moved == 12 and move.source == "candidate"
    (change,) = [c for c in move.metric_change if c["metric"] == "mape"]
    assert (change["models"], change["better"], change["worse"]) == (12, 12, 0)
    assert change["mean_delta"] == pytest.approx(-0.05)
    row = move.preview[0]
    assert row["metrics"]["mape"]["delta"] == pytest.approx(-0.05)
    assert fleet.promote("production", all=True, source="candidate", dry_run=True
                         ).metric_change[0]["worse"] == 6  # fmt: skip
    real = fleet.promote("production", "candidate.mape < production.mape")
    assert real.metric_change == [] and real.moved == 12


def test_rest_route_answers_the_same_as_json(http) -> None:
    url = "/api/v1/fleets/grocer/demand/champion"
    body = http.get(url, params={"a": "production", "b": "candidate", "metric": "mape",
                                 "by": "store", "limit": 5}).json()  # fmt: skip
    assert body["summary"]["wins"] == 12 and len(body["rows"]) == 5
    assert body["rollup"][0]["models"] == 3 and body["next_cursor"]
    more = http.get(url, params={"a": "production", "b": "candidate", "metric": "mape",
                                 "limit": 5, "cursor": body["next_cursor"],
                                 "summary": "false"}).json()  # fmt: skip
    assert more["summary"] is None and more["rows"][0]["key"] != body["rows"][0]["key"]
    typo = http.get(url, params={"a": "prodution", "b": "candidate", "metric": "mape"})
    assert typo.status_code == 422
    assert typo.json()["error"]["field"] == "a"
    assert "did you mean 'production'" in typo.json()["error"]["message"]
    assert http.get(url, params={"a": "production", "b": "candidate", "metric": "mape",
                                 "show": "all"}).status_code == 422  # fmt: skip


def test_page_and_move_preview_pages(http) -> None:
    page = http.get(
        "/fleets/grocer/demand/champion",
        params={"a": "production", "b": "candidate", "metric": "mape", "by": "store"},
    )
    assert page.status_code == 200
    text = page.text
    assert "candidate better in 12" in text and "/models/store=s00,sku=A" in text
    assert "against production by store" in text
    typo = http.get("/fleets/grocer/demand/champion", params={"b": "candiate"})
    assert "did you mean" in typo.text and 'role="alert"' in typo.text
    token = csrf_of(http.get("/fleets/grocer/demand").text)
    preview = http.post("/fleets/grocer/demand/aliases",
                        data={"alias": "production", "where": "candidate.mape < production.mape",
                              "csrf_token": token})  # fmt: skip
    assert "Would move" in preview.text and "12 better, 0 worse" in preview.text
    bad = http.post("/fleets/grocer/demand/aliases",
                    data={"alias": "production", "where": "store = 's01'", "source": "candiate",
                          "csrf_token": token})  # fmt: skip
    assert "did you mean &#39;candidate&#39;" in bad.text or "did you mean 'candidate'" in bad.text


def _add_quoted_store(fleet: Any) -> None:
    """Store ``O'Brien``: three SKUs, on production (v1) and candidate (v2)."""
    for version in (1, 2):
        fleet.register(
            {"key": {"store": "O'Brien", "sku": k}, "model": LinearModel(1.0, {"p": 1.0}),
             "metrics": {"mape": _mape(3, k, version)}, "tags": {"region": "north"}}
            for k in SKUS
        )  # fmt: skip
    fleet.set_alias("production", {("O'Brien", k): 1 for k in SKUS})
    fleet.set_alias("candidate", {("O'Brien", k): 2 for k in SKUS})


def test_rollup_links_quote_the_value_and_parenthesise_the_filter(fleet, http) -> None:
    from urllib.parse import parse_qs, urlsplit

    _add_quoted_store(fleet)
    where = "sku = 'A' or sku = 'B'"
    params = {"a": "production", "b": "candidate", "metric": "mape", "by": "store",
              "where": where}  # fmt: skip
    html = http.get("/fleets/grocer/demand/champion", params=params).text
    links = dict((text, href.replace("&amp;", "&")) for href, text in re.findall(
        r'<tr><td><a href="([^"]+)">([^<]+)</a></td>', html))  # fmt: skip
    query = parse_qs(urlsplit(links["O&#39;Brien"]).query)
    assert query["where"] == [f"store = 'O''Brien' and ({where})"] and "by" not in query
    narrowed = http.get(links["O&#39;Brien"])
    assert narrowed.status_code == 200 and "candidate better in 2" in narrowed.text
    # A tag roll-up groups by a's version's tag (else b's): no filter selects exactly that.
    by_tag = http.get("/fleets/grocer/demand/champion", params={**params, "by": "tags.region"})
    assert '<td><span title="grouped by production' in by_tag.text
    assert not re.search(r'<tr><td><a href="[^"]+">north</a>', by_tag.text)


def test_delta_sort_is_offered_only_when_counted_or_filtered(http, monkeypatch) -> None:
    from shoal.web import champion_pages

    params = {"a": "production", "b": "candidate", "metric": "mape"}
    small = http.get("/fleets/grocer/demand/champion", params=params).text
    assert "sort=-delta" in small
    monkeypatch.setattr(champion_pages, "PAGE_TOTALS", 1)  # as if a million models
    big = http.get("/fleets/grocer/demand/champion", params=params).text
    assert "sort=-delta" not in big and "Sorting by Δ orders every compared model" in big
    filtered = http.get("/fleets/grocer/demand/champion",
                        params={**params, "where": "sku = 'A'"}).text  # fmt: skip
    assert "sort=-delta" in filtered
    counted = http.get("/fleets/grocer/demand/champion", params={**params, "totals": "1"}).text
    assert "sort=-delta" in counted


def test_a_broad_move_previews_the_change_of_the_previewed_models(fleet, http,
                                                                  monkeypatch) -> None:  # fmt: skip
    from shoal.registry import aliases as registry_aliases

    where = "candidate.mape < production.mape"
    full = fleet.promote("production", where, dry_run=True)
    (change,) = [c for c in full.metric_change if c["metric"] == "mape"]
    assert change["sample"] is False and change["over"] is None and change["models"] == 12
    monkeypatch.setattr(registry_aliases, "MOVE_CHANGE_MAX", 5)
    monkeypatch.setattr(registry_aliases, "MOVE_SAMPLE", 4)
    sampled = fleet.promote("production", where, dry_run=True, preview=4)
    assert sampled.moved == 12
    (change,) = [c for c in sampled.metric_change if c["metric"] == "mape"]
    assert change["sample"] is True and "first 4 previewed models" in change["over"]
    assert (change["models"], change["better"], change["worse"], change["new"]) == (4, 4, 0, 0)
    assert change["mean_delta"] == pytest.approx(-0.05)
    assert change["median_delta"] == pytest.approx(-0.05)
    shown = [p["metrics"]["mape"] for p in sampled.preview]
    assert change["mean_from"] == pytest.approx(sum(m["from"] for m in shown) / 4)
    token = csrf_of(http.get("/fleets/grocer/demand").text)
    page = http.post(
        "/fleets/grocer/demand/aliases",
        data={"alias": "production", "where": where, "csrf_token": token},
    ).text
    assert "4 better, 0 worse" in page and "first 4 previewed models" in page
    assert "only: the move selects too many models" in page


def test_a_bulk_move_gives_the_planner_statistics_of_the_aliases(fleet, monkeypatch) -> None:
    """A promote adds alias rows without registering a version: past a size it analyses
    ``aliases`` (SQLite), so a comparison filtered to one store walks that store's models,
    not the alias index of the whole fleet."""
    import sqlite3

    from shoal.store import engine

    monkeypatch.setattr(engine, "ALIAS_ANALYZE_MOVES", 5)
    db = fleet._client.registry._store.url.removeprefix("sqlite:///")

    def alias_stats() -> list[Any]:
        with sqlite3.connect(db) as conn:
            found = conn.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if found.fetchone() is None:
                return []
            return conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'aliases'").fetchall()

    fleet.promote("staging", "store = 's01'", create=True)  # a handful: below the size
    before = alias_stats()
    fleet.promote("audit", None, all=True, create=True)
    after = alias_stats()
    assert after and after != before
    assert int(after[0][0].split()[0]) == sum(fleet.coverage().values())
