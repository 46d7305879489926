"""The fleet page a fleet owner lives in: tag and key facets (searched, paged), the chart
that follows the filter, placeholders from the fleet's own names, whole-key row links.

The fleet: 40 stores x 2 SKUs, metrics ``rmse`` and ``bias`` (no ``mape``), tags
``region`` (north/south by store), ``format`` and ``category`` (by SKU). Store ``s13``
has the most models (a third SKU), so it leads the store facet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import shoal
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.web import create_web_app

STORES = [f"s{i:02d}" for i in range(40)]
SKUS = {"A77": "dairy", "B12": "bakery"}


def record(i: int, store: str, sku: str) -> dict[str, Any]:
    return {"key": {"store": store, "sku": sku}, "model": LinearModel(1.0, {"price": -0.5}),
            "metrics": {"rmse": 1.0 + i / 10, "bias": 0.01 * i},
            "tags": {"region": "north" if i % 2 else "south", "format": "express",
                     "category": SKUS.get(sku, "frozen")}}  # fmt: skip


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[TestClient, shoal.Fleet]]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    demand = client.fleet("grocer/demand", keys=["store", "sku"])
    demand.register(record(i, s, k) for i, s in enumerate(STORES) for k in SKUS)
    demand.register([record(13, "s13", "C01")])
    with TestClient(create_web_app(client, auth=Auth.off()), base_url="http://127.0.0.1") as http:
        yield http, demand
    client.close()


def page(http: TestClient, **params: Any) -> str:
    reply = http.get("/fleets/grocer/demand", params=params)
    assert reply.status_code == 200, reply.text
    return reply.text


def test_sdk_facets_search_page_and_tags(site) -> None:
    _, demand = site
    top = demand.facets("store", limit=10)
    assert next(iter(top)) == "s13" and top["s13"] == 3 and len(top) == 10 and top.next_cursor
    seen = dict(top)
    cursor = top.next_cursor
    while cursor:
        more = demand.facets("store", limit=10, cursor=cursor)
        seen.update(more)
        cursor = more.next_cursor
    assert len(seen) == 40 and seen["s39"] == 2  # every store, past the top ten
    assert dict(demand.facets("store", search="3", limit=100)) == {
        s: (3 if s == "s13" else 2) for s in STORES if "3" in s
    }
    by_value = demand.facets("store", order="value", limit=3)
    assert list(by_value) == ["s00", "s01", "s02"]
    assert list(demand.facets("store", order="value", cursor=by_value.next_cursor, limit=2)) == [
        "s03",
        "s04",
    ]
    region = demand.facets("tags.region")
    assert region == {"north": 41, "south": 40} and region.dim == "tags.region"
    assert demand.facets("category", "tags.region = 'north'") == {
        "dairy": 20, "bakery": 20, "frozen": 1
    }  # fmt: skip
    assert demand.facets("store", "tags.category = 'frozen'") == {"s13": 1}
    assert demand.facets("tags.category", search="DAI") == {"dairy": 40}


def test_tag_filters_and_sorts(site) -> None:
    _, demand = site
    assert demand.count("tags.region = 'north' and rmse > 4") == 10
    rows = list(demand.search("tags.category = 'dairy'", sort="-tags.region", limit=5))
    assert [r.tags["region"] for r in rows] == ["south"] * 5
    keys = [r.key["store"] for r in demand.iter_search(sort="tags.region", page_size=7)]
    assert len(keys) == 81  # tag sorts page with keyset cursors, every model once


def test_filtered_histogram_and_metric_choice(site) -> None:
    _, demand = site
    whole = demand.metric_histogram("rmse")
    assert whole["count"] == 81
    north = demand.metric_histogram("rmse", "tags.region = 'north'", bins=5)
    assert north["count"] == 41 and sum(north["counts"]) == 41 and len(north["edges"]) == 6
    one = demand.metric_histogram("bias", "store = 's13'")
    assert one["count"] == 3 and one["counts"] == [3]  # equal values: one bin


def test_rest_facets_route(site) -> None:
    http, _ = site
    url = "/api/v1/fleets/grocer/demand/facets"
    first = http.get(f"{url}/store", params={"limit": 10}).json()
    assert first["items"][0] == {"value": "s13", "count": 3} and first["next_cursor"]
    second = http.get(f"{url}/store", params={"limit": 10, "cursor": first["next_cursor"]}).json()
    assert {i["value"] for i in second["items"]}.isdisjoint(i["value"] for i in first["items"])
    found = http.get(f"{url}/store", params={"search": "39"}).json()
    assert found["items"] == [{"value": "s39", "count": 2}] and found["next_cursor"] is None
    tags = http.get(f"{url}/tags.region", params={"where": "rmse > 4.5"}).json()
    items = [{"value": "north", "count": 4}, {"value": "south", "count": 4}]
    assert tags == {"dim": "tags.region", "next_cursor": None, "items": items}
    bad = http.get(f"{url}/store", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"
    other = http.get(f"{url}/sku", params={"cursor": first["next_cursor"]})
    assert other.status_code == 422 and "another facet" in other.json()["error"]["message"]
    unknown = http.get(f"{url}/colour")
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "dim"
    message = unknown.json()["error"]["message"]
    assert "'colour'" in message and "tags.region" in message and "store, sku" in message
    order = http.get(f"{url}/store", params={"order": "random"})
    assert order.status_code == 422


def test_page_facets_search_and_paging(site) -> None:
    http, _ = site
    html = page(http)
    for name in ("store", "sku", "region", "format", "category"):
        assert f'aria-label="Find a {name}"' in html  # key and tag facets, each searchable
    more = re.search(r'href="([^"]*)"[^>]*>More store values', html)
    assert more and "fcursor=" in more.group(1)
    assert "s39" not in html.split('id="distribution"')[0]  # beyond the top ten at first
    found = page(http, facet="store", q="s3")
    assert "?where=store+%3D+%27s39%27" in found and "Top store values" in found
    nothing = page(http, facet="store", q="zzz")
    assert "No store holds" in nothing
    broken = page(http, facet="store", fcursor="junk")
    assert "cursor is not one this server issued" in broken


def test_page_follows_the_filter(site) -> None:
    http, _ = site
    html = page(http, where="tags.region = 'north'", metric="bias")
    assert "bias of 41 matching models" in html
    assert '<option value="bias" selected>' in html and '<option value="rmse">' in html
    assert "Counts of the 41 models the filter selects" in html
    whole = page(http)
    assert "rmse over 81 models of the whole fleet" in whole  # opens on an error measure


def test_placeholders_come_from_the_fleet(site) -> None:
    http, _ = site
    html = page(http)
    placeholder = re.search(r'name="where" value="" placeholder="([^"]*)"', html)
    assert placeholder and "rmse &gt;" in placeholder.group(1) and "tags." in placeholder.group(1)
    assert "mape" not in placeholder.group(1)
    assert 'placeholder="-rmse"' in html


def test_unknown_metric_says_so(site) -> None:
    http, demand = site
    html = page(http, where="mape > 0.3")
    assert "metric &#39;mape&#39;" in html and "bias, rmse" in html
    chosen = page(http, metric="mape")
    assert "this fleet has no metric &#39;mape&#39;" in chosen and "bias, rmse" in chosen
    # A metric only older versions carry would find nothing: the page says why.
    demand.register([{**record(0, "s00", "A77"), "metrics": {"rmse": 9.0}}])
    demand.register([{**record(0, "s00", "A77"), "metrics": {"old_mape": 0.1}}])
    demand.register([{**record(0, "s00", "A77"), "metrics": {"rmse": 9.0}}])
    stale = page(http, where="old_mape > 0")
    assert "no model&#39;s latest version has metric &#39;old_mape&#39;" in stale


def test_rows_link_the_whole_key(site) -> None:
    http, _ = site
    html = page(http, where="store = 's13'", sort="sku")
    links = re.findall(r'<td class="model"><a href="([^"]+)">([^<]+)</a>', html)
    assert [text for _, text in links] == ["s13 · A77", "s13 · B12", "s13 · C01"]
    assert links[0][0] == "/fleets/grocer/demand/models/store=s13,sku=A77"
    assert http.get(links[0][0]).status_code == 200
    assert (
        '<th scope="col"><a href="?where=store+%3D+%27s13%27&amp;sort=tags.region">region' in html
    )


def test_ten_tag_names_compute_six_facets_and_link_the_rest(tmp_path) -> None:
    client = shoal.connect(f"sqlite:///{tmp_path / 'wide.db'}", str(tmp_path / "artifacts"))
    wide = client.fleet("grocer/wide", keys=["store"])
    wide.register({"key": {"store": f"s{i}"}, "model": LinearModel(1.0, {"price": -0.5}),
                   "metrics": {"rmse": 1.0 + i}, "tags": {f"t{n}": f"v{i % 2}" for n in range(10)}}
                  for i in range(6))  # fmt: skip
    with TestClient(create_web_app(client, auth=Auth.off()), base_url="http://127.0.0.1") as http:
        html = http.get("/fleets/grocer/wide").text
        facets = re.findall(r'<h3 id="facet-\d+">([^ <]+)', html)
        assert facets == ["store", "t0", "t1", "t2", "t3", "t4", "t5"]
        more = re.findall(r'<a href="\?facet=tags.(t\d)">', html)
        assert more == ["t6", "t7", "t8", "t9"]
        opened = http.get("/fleets/grocer/wide", params={"facet": "tags.t8"}).text
        assert re.findall(r'<h3 id="facet-\d+">([^ <]+)', opened)[-1] == "t8"
        assert "tags.t8+%3D+%27v1%27" in opened and "?facet=tags.t8" not in opened
        searched = http.get("/fleets/grocer/wide", params={"facet": "tags.t9", "q": "v0"}).text
        assert "tags.t9+%3D+%27v0%27" in searched and "tags.t9+%3D+%27v1%27" not in searched
    client.close()


def test_model_links_quote_key_values_in_every_template() -> None:
    from shoal.web.rendering import HERE, model_href, model_path

    class Target:
        path, keys = "grocer/demand", ("store", "sku")

    key = {"sku": "A#1", "store": "s?1 x"}
    href = model_href("grocer/demand", ["store", "sku"], key)
    assert href == "/fleets/grocer/demand/models/store=s%3F1%20x,sku=A%231"
    assert model_path(Target(), key) == href  # type: ignore[arg-type]
    assert model_href("grocer/demand", None, {"store": "s#", "sku": "b"}).endswith(
        "store=s%23,sku=b")  # fmt: skip
    from shoal.web.rendering import templates

    # Each template's own link expression, rendered over a row whose key needs quoting.
    row = {"key": {"store": "s?1 x", "sku": "A#1"}}
    context = {"fleet": {"path": "grocer/demand", "keys": ["store", "sku"]},
               "path": "grocer/demand", "a": row, "r": row}  # fmt: skip
    for name in ("fleet.html", "monitoring.html", "alerts.html"):
        source = (HERE / "templates" / name).read_text()
        assert "/models/{{" not in source, name
        (expression,) = re.findall(r"\{\{ model_href\([^}]*\) \}\}", source)
        assert templates.env.from_string(expression).render(context) == href, name


def test_a_tag_sort_walks_the_tag_index_without_sorting(site) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _, demand = site
    plans: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "_tiebreak" in statement and "ORDER BY" in statement:
            found = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, params)
            plans.append(" | ".join(row[-1] for row in found.fetchall()))

    event.listen(Engine, "before_cursor_execute", explain)
    try:
        for sort in ("tags.region", "-tags.region"):
            first = list(demand.search(sort=sort, limit=5))
            keys = [
                (r.key["store"], r.key["sku"]) for r in demand.iter_search(sort=sort, page_size=7)
            ]
            assert len(keys) == len(set(keys)) == 81 and len(first) == 5
    finally:
        event.remove(Engine, "before_cursor_execute", explain)
    assert plans and all("ix_version_tags_fleet_key_value" in p for p in plans)
    assert not any("TEMP B-TREE FOR ORDER BY" in p for p in plans), plans


def test_the_chart_reads_its_histogram_after_the_page(site) -> None:
    """The page carries the histogram route, not the bins: its first byte does not wait for
    them. The route answers the filter's matches, with the bins' centres."""
    http, _ = site
    page = http.get("/fleets/grocer/demand", params={"where": "tags.region = 'north'",
                                                     "metric": "rmse"}).text  # fmt: skip
    source = re.search(r'id="histogram-data" data-src="([^"]+)"', page)
    assert source is not None and "where=tags.region" in source.group(1)
    found = http.get(source.group(1).replace("&amp;", "&") + "&bins=5").json()
    assert found["count"] == 41 and sum(found["counts"]) == 41 and len(found["x"]) == 5
    bad = http.get("/api/v1/fleets/grocer/demand/histogram/rmse", params={"where": "rmse >"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] in ("where", "filter")
    none = http.get("/api/v1/fleets/grocer/demand/histogram/rmse", params={"bins": 0})
    assert none.status_code == 422 and none.json()["error"]["field"] == "bins"
