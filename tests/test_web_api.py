"""The REST API under ``/api/v1``, through an in-process client, on a real store.

The fleet: 30 stores x 2 SKUs of linear models, each with a ``mape``; 10 stores also have a
candidate version; one model has 120 versions (paged); a training run with a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

import shoal
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.web import create_web_app

STORES = [f"s{i:02d}" for i in range(30)]
SKUS = ["A77", "B12"]


def mape(store: str, sku: str) -> float:
    return round(0.05 + int(store[1:]) / 100 + (0.001 if sku == "B12" else 0.0), 4)


def fit(frame: pd.DataFrame) -> Any:
    if frame["store"].iloc[0] == "s01":
        raise ValueError("no data for s01")
    return LinearRegression().fit(frame[["price"]], frame["units"])


@pytest.fixture
def api(tmp_path) -> Iterator[tuple[TestClient, shoal.Client]]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    demand = client.fleet("grocer/demand", keys=["store", "sku"])
    demand.register(
        {"key": {"store": s, "sku": k}, "model": LinearModel(1.0, {"price": -0.5}),
         "metrics": {"mape": mape(s, k)}}
        for s in STORES for k in SKUS
    )  # fmt: skip
    demand.register(
        {"key": {"store": s, "sku": "A77"}, "model": LinearModel(2.0, {"price": -0.4}),
         "metrics": {"mape": mape(s, "A77") / 2}}
        for s in STORES[:10]
    )  # fmt: skip
    demand.set_alias("production", {(s, k): 1 for s in STORES for k in SKUS}, create=True)
    demand.set_alias("candidate", {(s, "A77"): 2 for s in STORES[:10]}, create=True)
    deep = client.fleet("grocer/deep", keys=["store"])
    for _ in range(120):
        deep.register([{"key": {"store": "s00"}, "model": LinearModel(0.0, {})}])
    frame = pd.DataFrame({"store": ["s00"] * 5 + ["s01"] * 5, "price": range(10),
                          "units": range(10)})  # fmt: skip
    client.fleet("grocer/trained", keys=["store"]).train(frame, fit, workers=1, max_retries=0,
                                                         progress=False)  # fmt: skip
    with TestClient(create_web_app(client, auth=Auth.off()), base_url="http://127.0.0.1") as http:
        yield http, client
    client.close()


def ok(http: TestClient, path: str, **params: Any) -> Any:
    reply = http.get(path, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_tenants_fleets_and_a_fleet(api) -> None:
    http, _ = api
    assert ok(http, "/api/v1/tenants")["items"] == [
        {"tenant": "grocer", "fleets": 3, "models": 62, "versions": 191}
    ]
    paths = [f["path"] for f in ok(http, "/api/v1/fleets", tenant="grocer")["items"]]
    assert sorted(paths) == ["grocer/deep", "grocer/demand", "grocer/trained"]
    fleet = ok(http, "/api/v1/fleets/grocer/demand")
    assert fleet["keys"] == ["store", "sku"] and fleet["models"] == 60
    assert fleet["aliases"] == {"candidate": 10, "production": 60}


def test_search_with_the_filter_grammar_and_keyset_cursors(api) -> None:
    http, client = api
    where = "mape > 0.2 and alias = 'production'"
    first = ok(http, "/api/v1/fleets/grocer/demand/models", where=where, sort="-mape", limit=7)
    assert len(first["items"]) == 7 and first["next_cursor"]
    seen = [(m["key"]["store"], m["key"]["sku"]) for m in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = ok(http, "/api/v1/fleets/grocer/demand/models", where=where, sort="-mape",
                  limit=7, cursor=cursor)  # fmt: skip
        seen += [(m["key"]["store"], m["key"]["sku"]) for m in page["items"]]
        cursor = page["next_cursor"]
    demand = client.fleet("grocer/demand")
    expected = [(v.key["store"], v.key["sku"]) for v in demand.iter_search(where, sort="-mape")]
    assert (
        seen == expected
        and len(seen) == ok(http, "/api/v1/fleets/grocer/demand/count", where=where)["count"]
    )
    facets = ok(http, "/api/v1/fleets/grocer/demand/facets/sku", where="alias = 'candidate'")
    assert facets["items"] == [{"value": "A77", "count": 10}]


def test_a_model_its_lineage_and_a_deep_version_history(api) -> None:
    http, _ = api
    model = ok(http, "/api/v1/fleets/grocer/demand/models/store=s03,sku=A77", alias="production")
    assert model["version"] == 1 and model["metrics"]["mape"] == mape("s03", "A77")
    assert "dataset" in model["lineage"]
    latest = ok(http, "/api/v1/fleets/grocer/demand/models/sku=A77,store=s03")
    assert latest["version"] == 2
    numbers: list[int] = []
    cursor = None
    while True:
        page = ok(http, "/api/v1/fleets/grocer/deep/models/store=s00/versions", limit=50,
                  **({"cursor": cursor} if cursor else {}))  # fmt: skip
        assert len(page["items"]) <= 50  # never more than a page
        numbers += [v["version"] for v in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert numbers == list(range(120, 0, -1))
    one = ok(http, f"/api/v1/versions/{model['id']}")
    assert one["key"] == {"store": "s03", "sku": "A77"} and "lineage" in one


def test_bulk_alias_move_with_preview_and_undo(api) -> None:
    http, client = api
    url = "/api/v1/fleets/grocer/demand/aliases/production"
    body = {"where": "candidate.mape < production.mape"}
    typo = http.post("/api/v1/fleets/grocer/demand/aliases/prodution", json=body)
    assert typo.status_code == 422 and typo.json()["error"]["field"] == "alias"
    noted = http.post("/api/v1/fleets/grocer/demand/aliases/prodution",
                      json={**body, "dry_run": True}).json()  # fmt: skip
    assert noted["creates"] is True and "prodution" in noted["notes"][0]
    preview = http.post(url, json={**body, "dry_run": True}).json()
    assert (preview["moved"], preview["dry_run"], preview["move_id"]) == (10, True, None)
    assert len(preview["preview"]) == 10
    assert ok(http, "/api/v1/fleets/grocer/demand/count",
              where="alias = 'production' and version = 2")["count"] == 0  # fmt: skip
    move = http.post(url, json=body).json()
    assert move["moved"] == 10 and move["source"] == "candidate"
    assert client.fleet("grocer/demand").get({"store": "s04", "sku": "A77"},
                                              alias="production").version == 2  # fmt: skip
    moves = ok(http, "/api/v1/fleets/grocer/demand/alias-moves")["items"]
    assert moves[0]["id"] == move["move_id"]
    undone = http.post(f"/api/v1/fleets/grocer/demand/alias-moves/{move['move_id']}/undo")
    assert undone.status_code == 200 and undone.json()["moved"] == 10
    assert client.fleet("grocer/demand").get({"store": "s04", "sku": "A77"},
                                              alias="production").version == 1  # fmt: skip
    # The history pages by keyset, newest first, one move a page, to the end.
    every = ok(http, "/api/v1/fleets/grocer/demand/alias-moves", limit=1000)["items"]
    seen, cursor = [], None
    while True:
        page = ok(http, "/api/v1/fleets/grocer/demand/alias-moves", limit=1,
                  **({"cursor": cursor} if cursor else {}))  # fmt: skip
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, int)
    assert seen == [m["id"] for m in every] and len(seen) >= 3 and seen == sorted(seen)[::-1]
    bad = http.get("/api/v1/fleets/grocer/demand/runs", params={"cursor": "soon"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"
    with pytest.raises(shoal.InvalidInput, match="before must be the next_cursor"):
        client.fleet("grocer/demand").runs(before=0)


def test_runs_and_datasets(api) -> None:
    http, _ = api
    [row] = ok(http, "/api/v1/fleets/grocer/trained/runs")["items"]
    run = ok(http, f"/api/v1/runs/{row['id']}")
    assert (run["status"], run["done"], run["failed"]) == ("failed", 1, 1)
    assert run["errors"][0]["error"] == "ValueError: no data for s01"
    [dataset] = ok(http, "/api/v1/datasets")["items"]
    detail = ok(http, f"/api/v1/datasets/{dataset['id']}")
    assert [m["key"] for m in detail["models"]] == [{"store": "s00"}]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        ("get", "/api/v1/fleets/grocer/nope", {}, 404, None),
        ("get", "/api/v1/fleets/grocer/demand/models", {"params": {"where": "mape >"}}, 422,
         "where"),
        ("get", "/api/v1/fleets/grocer/demand/models", {"params": {"sort": "-"}}, 422, "sort"),
        ("get", "/api/v1/fleets/grocer/demand/models", {"params": {"limit": 5000}}, 422, "limit"),
        ("get", "/api/v1/fleets/grocer/demand/models", {"params": {"cursor": "junk"}}, 422,
         "cursor"),
        ("get", "/api/v1/fleets/grocer/demand/facets/colour", {}, 422, "dim"),
        ("get", "/api/v1/fleets/grocer/demand/models/store=s01", {}, 422, "model"),
        ("get", "/api/v1/fleets/grocer/demand/models/s01", {}, 422, "model"),
        ("get", "/api/v1/versions/999999", {}, 404, None),
        ("post", "/api/v1/fleets/grocer/demand/aliases/production", {"json": {"where": ""}}, 422,
         "where"),
        ("post", "/api/v1/fleets/grocer/demand/aliases/production",
         {"json": {"where": "version = 1", "colour": 1}}, 422, "colour"),
        ("post", "/api/v1/fleets/grocer/demand/alias-moves/999/undo", {}, 404, None),
    ],
)  # fmt: skip
def test_errors_are_json_naming_the_field(api, method, path, kwargs, status, field) -> None:
    http, _ = api
    reply = getattr(http, method)(path, **kwargs)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["message"]
    if field is not None:
        assert error["field"] == field


def test_the_openapi_schema_describes_every_route(api) -> None:
    http, _ = api
    schema = ok(http, "/api/v1/openapi.json")
    paths = set(schema["paths"])
    for path in (
        "/api/v1/fleets/{tenant}/{fleet}/models",
        "/api/v1/runs/{run_id}",
        "/api/v1/fleets/{tenant}/{fleet}/aliases/{alias}",
        "/api/v1/datasets",
    ):
        assert path in paths  # fmt: skip
    assert all(op.get("summary") or op.get("description")
               for item in schema["paths"].values() for op in item.values())  # fmt: skip


def test_ui_refuses_no_auth_beyond_loopback() -> None:
    from typer.testing import CliRunner

    from shoal.cli import app

    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--no-auth"])
    assert result.exit_code == 2 and "loopback" in result.stderr and "--no-auth" in result.stderr
    result = CliRunner().invoke(app, ["ui", "--ssl-certfile", "cert.pem"])
    assert result.exit_code == 2 and "--ssl-keyfile" in result.stderr


def test_huge_version_numbers_are_a_422_not_a_500(api) -> None:
    http, _ = api
    for path in ("/api/v1/fleets/grocer/deep/models/store=s00/versions?cursor=99999999999",
                 "/api/v1/fleets/grocer/deep/models/store=s00?version=99999999999",
                 "/fleets/grocer/deep/models/store=s00?before=99999999999"):  # fmt: skip
        assert http.get(path).status_code == 422, path


def test_an_unmonitored_fleet_says_what_to_do(api) -> None:
    http, _ = api
    page = http.get("/fleets/grocer/demand/monitoring")
    assert page.status_code == 200 and "Not monitored yet" in page.text
    assert "shoal monitor run grocer/demand" in page.text
    assert ok(http, "/api/v1/fleets/grocer/demand/monitoring/windows")["items"] == []


def test_a_key_holding_a_slash_is_addressable_and_key_mistakes_match_the_cli(api) -> None:
    http, client = api
    paths = client.fleet("grocer/paths", keys=["region", "sku"])
    paths.register([{"key": {"region": "eu/west", "sku": "A/7"}, "model": LinearModel(1.0, {})}])
    base = "/api/v1/fleets/grocer/paths/models/region=eu/west,sku=A/7"
    assert ok(http, base)["key"] == {"region": "eu/west", "sku": "A/7"}
    assert [v["version"] for v in ok(http, f"{base}/versions")["items"]] == [1]
    page = http.get("/fleets/grocer/paths/models/region=eu/west,sku=A/7")
    assert page.status_code == 200 and "eu/west" in page.text
    # A comma in a value too: a path splits only at a comma followed by NAME=.
    paths.register([{"key": {"region": "eu, west", "sku": "A,7"}, "model": LinearModel(2.0, {})}])
    found = ok(http, "/api/v1/fleets/grocer/paths/models/region=eu, west,sku=A,7")
    assert found["key"] == {"region": "eu, west", "sku": "A,7"}
    listed = http.get("/fleets/grocer/paths?where=sku%20%3D%20%27A%2C7%27").text
    link = re.search(r'href="(/fleets/grocer/paths/models/[^"]*A,7[^"]*)"', listed)
    assert link and http.get(link.group(1)).status_code == 200  # the page's own link works
    from shoal.cli._keys import parse_key

    cases = [
        ("region=eu", ["region=eu"], "missing sku for fleet 'grocer/paths'"),
        ("region=eu,sku=1,colour=red", ["region=eu", "sku=1", "colour=red"],
         "'colour' is not a key dimension of fleet 'grocer/paths'"),
        ("region=eu,region=us,sku=1", ["region=eu", "region=us", "sku=1"], "given twice"),
    ]  # fmt: skip
    for text, pairs, said in cases:
        reply = http.get(f"/api/v1/fleets/grocer/paths/models/{text}")
        assert reply.status_code == 422 and reply.json()["error"]["field"] == "model"
        assert said in reply.json()["error"]["message"]
        with pytest.raises(shoal.InvalidInput, match=said) as cli:
            parse_key(paths, pairs)
        assert cli.value.field == "key"
