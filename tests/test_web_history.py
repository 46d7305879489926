"""The history pages (runs, alias moves, datasets) and every kind of run in the CLI, the API
and the page.

One small world is built once for the module (building it trains and monitors for real):
tenant ``grocer`` with a monitored fleet (two monitoring passes, an open drift alert, a
retraining run), a trained fleet (a training run with one failing key and its dataset), a
run opened by hand whose figures nest (``seconds`` by stage, a list), and a fleet of 55
hand runs to page through; tenant ``beta`` with its own trained fleet and dataset, which
``grocer``'s principals must never see. Tests that change something (an undo) make their
own alias move first and look only at it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression
from tests import monitor_world as world
from tests.helpers import csrf_of
from typer.testing import CliRunner

import shoal
from shoal.cli import app as cli_app
from shoal.http.auth import Auth
from shoal.web import create_web_app

LOCAL = "http://127.0.0.1"
HAND_RUNS = 55


def fit(frame: pd.DataFrame) -> Any:
    """A linear model of units on price; store s2's rows are refused (a failing key)."""
    if (frame["store"] == "s2").any():
        raise ValueError("no prices for s2")
    return LinearRegression().fit(frame[["price"]], frame["units"])


def fit_x1(frame: pd.DataFrame) -> Any:
    return LinearRegression().fit(frame[["x1"]], frame["y"])


@dataclass
class World:
    client: shoal.Client
    root: Path
    runs: dict[str, int] = field(default_factory=dict)
    """Run ids by kind: train, retrain, monitor, backfill, beta."""
    datasets: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("history")
    client = shoal.connect(f"sqlite:///{root / 'shoal.db'}", str(root / "artifacts"))
    made = World(client, root)
    many = client.fleet("grocer/many", keys=["store"])  # the oldest runs: page 2 of /runs
    for _ in range(HAND_RUNS):
        client.finish_run(many.start_run("import"), counts={"rows": 10})
    demand = client.fleet("grocer/demand", keys=["store", "sku"])
    world.monitored_two_days(demand, root, drift=frozenset({"s01/k02"}))
    made.runs["monitor"] = demand.runs(1)[0].id
    rng = world.training_slice(__import__("numpy").random.default_rng(1), rows=40)
    drifted = rng.assign(store="s01", sku="k02")
    retrain = demand.retrain(drifted, fit_x1, where="alert.open", workers=1, progress=False)
    assert retrain is not None
    made.runs["retrain"] = retrain.id
    demand.promote("production", "store = 's00'", source="latest", create=True)

    sales = pd.DataFrame({"store": ["s0"] * 4 + ["s1"] * 4 + ["s2"] * 4,
                          "price": [1.0, 2, 3, 4] * 3, "units": [4.0, 3, 2, 1] * 3})  # fmt: skip
    trained = client.fleet("grocer/trained", keys=["store"])
    run = trained.train(sales, fit, workers=1, progress=False, max_retries=0,
                        dataset_name="sales")  # fmt: skip
    made.runs["train"] = run.id
    scored = trained.predict(sales.drop(columns="units"), alias=None, version=1, log=False,
                             progress=False)  # fmt: skip
    made.runs["score"] = scored.run_id
    made.datasets["sales"] = int(run.dataset_id or 0)

    backfill = demand.start_run("backfill")
    client.finish_run(backfill, counts={"rows": 1234567.891, "files": ["a.parquet", "b.parquet"],
                                        "seconds": {"read": 1.25, "write": 0.5}})  # fmt: skip
    made.runs["backfill"] = backfill

    beta = client.fleet("beta/other", keys=["store"])
    beta_run = beta.train(sales[sales["store"] == "s0"], fit, workers=1, progress=False,
                          dataset_name="beta-sales")  # fmt: skip
    made.runs["beta"] = beta_run.id
    made.datasets["beta"] = int(beta_run.dataset_id or 0)
    for tenant, role in [("grocer", "editor"), ("beta", "viewer"), ("beta", "editor"),
                         (None, "operator")]:  # fmt: skip
        name = f"{tenant}-{role}" if tenant else "operator"
        _, made.secrets[name] = client.create_token(tenant, role, name=name)
    yield made
    client.close()


@pytest.fixture(scope="module")
def web(built: World) -> Iterator[TestClient]:
    with TestClient(create_web_app(built.client, auth=Auth.off()), base_url=LOCAL) as http:
        yield http


@pytest.fixture(scope="module")
def guarded(built: World) -> Iterator[TestClient]:
    app = create_web_app(built.client, auth=Auth(enabled=True, token_cache_seconds=0))
    with TestClient(app, base_url=LOCAL) as http:
        yield http


def page(http: TestClient, path: str, status: int = 200, **headers: str) -> str:
    reply = http.get(path, headers=headers)
    assert reply.status_code == status, (path, reply.status_code, reply.text[:500])
    assert reply.headers["content-type"].startswith("text/html")
    if status != 200:  # a 200 may show a failed key's traceback, on purpose
        assert "Traceback" not in reply.text
    return reply.text


def text_of(html: str) -> str:
    """The page's words, tags dropped (to look for what a person reads)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def bearer(built: World, name: str) -> dict[str, str]:
    return {"authorization": f"Bearer {built.secrets[name]}"}


# -- alias moves --------------------------------------------------------------------------------


def test_alias_moves_list_who_when_filter_and_state(built: World, web: TestClient) -> None:
    moves = built.client.fleet("grocer/demand").alias_moves(50)
    html = page(web, "/fleets/grocer/demand/alias-moves")
    words = text_of(html)
    newest = moves[0]
    assert newest.where == "store = 's00'" and newest.alias == "production"
    assert "store = &#39;s00&#39;" in html and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", words)
    assert newest.actor in words and "in effect" in words
    assert f'aria-label="Undo move {newest.id}"' in html
    assert html.count('name="next" value="/fleets/grocer/demand/alias-moves"') == len(moves)
    assert page(web, "/fleets/grocer/demand") and "Alias moves of grocer/demand" in words


def test_undo_from_the_list_comes_back_to_it_with_a_flash_and_no_second_button(
    built: World, web: TestClient
) -> None:
    fleet = built.client.fleet("grocer/demand")
    move = fleet.promote("staging", "store = 's02'", source="latest", create=True)
    listing = page(web, "/fleets/grocer/demand/alias-moves")
    form = {"csrf_token": csrf_of(listing), "next": "/fleets/grocer/demand/alias-moves"}
    done = web.post(f"/fleets/grocer/demand/alias-moves/{move.move_id}/undo", data=form,
                    follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"].startswith("/fleets/grocer/demand/alias-moves?done=Undid")
    after = page(web, done.headers["location"])
    assert f"Undid move {move.move_id}: 4 model(s) back where they were." in text_of(after)
    assert 'role="status"' in after
    assert f'aria-label="Undo move {move.move_id}"' not in after
    undo_id = fleet.alias_moves(1)[0].id
    assert f"undone by move {undo_id}" in text_of(after)
    assert f"undoes move {move.move_id}" in text_of(after)
    again = web.post(f"/fleets/grocer/demand/alias-moves/{move.move_id}/undo", data=form)
    assert again.status_code == 409 and "already undone" in again.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil",
                                    "", "relative/path", "/ok\r\nLocation: x"])  # fmt: skip
def test_undo_goes_to_a_local_next_only(built: World, web: TestClient, target: str) -> None:
    fleet = built.client.fleet("grocer/demand")
    move = fleet.promote("trial", "store = 's01'", source="latest", create=True)
    token = csrf_of(page(web, "/fleets/grocer/demand/alias-moves"))
    done = web.post(f"/fleets/grocer/demand/alias-moves/{move.move_id}/undo",
                    data={"next": target, "csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"].startswith("/fleets/grocer/demand?done=Undid")


def test_alias_moves_of_an_unknown_fleet_and_a_bad_cursor(web: TestClient) -> None:
    missing = page(web, "/fleets/grocer/nothing/alias-moves", 404)
    assert "Not found" in missing and "nothing" in missing
    for bad in ("abc", "0", "-3"):
        html = page(web, f"/fleets/grocer/demand/alias-moves?before={bad}", 422)
        assert "before:" in text_of(html)


# -- runs ---------------------------------------------------------------------------------------


def test_fleet_runs_page_and_keyset_paging(built: World, web: TestClient) -> None:
    first = page(web, "/fleets/grocer/many/runs")
    ids = [int(i) for i in re.findall(r'<a href="/runs/(\d+)">', first)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    older = re.search(r'rel="next" href="\?before=(\d+)"', first)
    assert older and int(older.group(1)) == ids[-1]
    second = page(web, f"/fleets/grocer/many/runs?before={ids[-1]}")
    rest = [int(i) for i in re.findall(r'<a href="/runs/(\d+)">', second)]
    assert len(rest) == HAND_RUNS - 50 and max(rest) < ids[-1] and 'rel="next"' not in second
    assert "rows 10" in text_of(second) and "import" in text_of(second)


def test_runs_across_fleets_with_the_fleet_as_a_link(built: World, web: TestClient) -> None:
    html = page(web, "/runs?tenant=grocer")
    words = text_of(html)
    found = {int(i) for i in re.findall(r'<a href="/runs/(\d+)">', html)}
    assert {built.runs[k] for k in ("train", "retrain", "monitor", "backfill")} <= found
    assert built.runs["beta"] not in found
    assert '<a href="/fleets/grocer/trained">grocer/trained</a>' in html
    assert "rows 1,234,568" in words  # a figure as a person reads it
    older = re.search(r'rel="next" href="\?tenant=grocer&amp;before=(\d+)"', html)
    assert older, "a tenant's 50+ runs page on, keeping the tenant"
    second = page(web, f"/runs?tenant=grocer&before={older.group(1)}")
    assert '<a href="/fleets/grocer/many">grocer/many</a>' in second
    everyone = page(web, "/runs")  # the operator (auth off): every tenant
    assert f'<a href="/runs/{built.runs["beta"]}">' in everyone
    assert page(web, "/runs?tenant=nobody") and "No runs" in page(web, "/runs?tenant=nobody")
    assert "tenant:" in text_of(page(web, "/runs?tenant=Not%20A%20Name", 422))
    assert "before:" in text_of(page(web, "/runs?before=x", 422))


def test_client_runs_pages_and_checks_its_input(built: World) -> None:
    client = built.client
    first = client.runs("grocer", limit=3)
    second = client.runs("grocer", limit=3, before=int(first.next_cursor or 0))
    assert [r.id for r in first] + [r.id for r in second] == [
        r.id for r in client.runs("grocer", limit=6)]  # fmt: skip
    assert all(r.fleet and r.fleet.startswith("grocer/") for r in client.runs("grocer", 100))
    with pytest.raises(shoal.errors.InvalidInput, match="before"):
        client.runs(before=0)
    with pytest.raises(shoal.errors.InvalidInput, match="tenant"):
        client.runs("No Such")
    scoped = shoal.connect(client.store_url, client.artifacts_url, tenant="beta")
    assert {r.fleet for r in scoped.runs()} == {"beta/other"}
    with pytest.raises(shoal.errors.NotFound):
        scoped.runs("grocer")
    scoped.close()


# -- every kind of run: CLI, API, page -----------------------------------------------------------

KINDS = {
    "train": ("train", ["1 failed", "of 3 keys", "no prices for s2"]),
    "retrain": ("train", ["trained", "of 1 keys"]),
    "monitor": ("monitor", ["windows", "predictions", "find"]),
    "backfill": ("backfill", ["1,234,568", "a.parquet, b.parquet", "read 1.25 · write 0.5"]),
    "score": ("score", ["scored 8", "no version 4", "key store s2 · reason no version · rows 4"]),
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_of_run_renders_in_the_cli_the_api_and_the_page(
    built: World, web: TestClient, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    kind, shown = KINDS[name]
    run_id = built.runs[name]
    html = page(web, f"/runs/{run_id}")
    words = text_of(html)
    assert f"Run {run_id} {kind}" in words and "{" not in words and "None" not in words
    for part in shown:
        assert part in words, (part, words)
    if kind == "monitor":
        assert re.search(r"seconds find [\d.]+ · ", words), "a pass's seconds by stage"

    api = web.get(f"/api/v1/runs/{run_id}")
    assert api.status_code == 200 and api.json()["kind"] == kind
    assert isinstance(api.json()["counts"], dict)

    monkeypatch.setenv("SHOAL_STORE_URL", built.client.store_url)
    monkeypatch.setenv("SHOAL_ARTIFACTS_URL", built.client.artifacts_url)
    monkeypatch.delenv("SHOAL_HOME", raising=False)
    shown_cli = CliRunner().invoke(cli_app, ["run", "show", str(run_id)])
    assert shown_cli.exit_code == 0, (shown_cli.output, shown_cli.exception)
    assert shown_cli.exception is None and kind in shown_cli.stdout  # a key's traceback may show
    assert str(run_id) in shown_cli.stdout and "status" in shown_cli.stdout
    as_json = CliRunner().invoke(cli_app, ["run", "show", str(run_id), "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["id"] == run_id


def test_evaluate_records_figures_on_versions_not_a_run(built: World) -> None:
    """``fleet.evaluate`` is no run kind: it writes metrics on the versions it scores (and
    an audit entry); the run listings stay as they were."""
    fleet = built.client.fleet("grocer/demand")
    before = [r.id for r in fleet.runs(50)]
    holdout = world.training_slice(__import__("numpy").random.default_rng(2), rows=20)
    result = fleet.evaluate(holdout.assign(store="s00", sku="k00"), alias="production",
                            progress=False)  # fmt: skip
    assert result.evaluated == 1
    assert [r.id for r in fleet.runs(50)] == before


def test_an_unknown_run_is_an_html_404(web: TestClient) -> None:
    assert "run 999999 not found" in page(web, "/runs/999999", 404)


# -- datasets -----------------------------------------------------------------------------------


def test_datasets_list_with_versions_trained_and_paging(built: World, web: TestClient) -> None:
    html = page(web, "/datasets?tenant=grocer")
    sales = built.client.datasets.get(built.datasets["sales"])
    row = re.search(rf'<tr><td class="num">{sales.id}</td>.*?</tr>', html, re.S)
    assert row, html
    cells = text_of(row.group(0))
    assert "grocer/sales" in cells and sales.fingerprint[:12] in cells and "UTC" in cells
    assert cells.strip().endswith(" 2")  # s0 and s1 trained; s2 failed
    assert f'href="/datasets/{built.datasets["beta"]}"' not in html
    assert f'href="/datasets/{built.datasets["beta"]}"' in page(web, "/datasets")
    older = page(web, f"/datasets?before={sales.id}")
    assert f'href="/datasets/{sales.id}"' not in older
    entries = built.client.datasets.page(limit=1)
    assert len(entries) == 1 and entries.next_cursor == str(entries[0].dataset.id)
    assert entries[0].to_dict()["trained_exact"] is True
    assert "before:" in text_of(page(web, "/datasets?before=0", 422))
    with pytest.raises(shoal.errors.InvalidInput, match="limit"):
        built.client.datasets.page(limit=0)


def test_dataset_page_profile_and_reverse_lineage(built: World, web: TestClient) -> None:
    dataset_id = built.datasets["sales"]
    html = page(web, f"/datasets/{dataset_id}")
    words = text_of(html)
    assert "grocer/sales" in words and "rows 12" in words
    assert re.search(r"price <code>|price double", words) or "price" in words
    assert "units" in words and "store" in words
    assert '<a href="/fleets/grocer/trained/models/store=s0?version=1">store=s0</a>' in html
    assert '<a href="/fleets/grocer/trained/models/store=s1?version=1">' in html
    assert f'<a href="/runs/{built.runs["train"]}">' in html
    trained = built.client.datasets.trained(dataset_id, limit=1)
    assert len(trained) == 1 and trained.next_cursor is not None
    older = page(web, f"/datasets/{dataset_id}?before={trained.next_cursor}")
    assert older.count("/fleets/grocer/trained/models/") == 1
    link = re.search(r'href="(/fleets/grocer/trained/models/[^"?]+)', html)
    assert link and page(web, link.group(1))


def test_unknown_dataset_and_bad_ids_are_html_errors(web: TestClient) -> None:
    missing = page(web, "/datasets/999999", 404)
    assert "dataset 999999 not found" in missing and "Not found" in missing
    assert "dataset_id:" in text_of(page(web, "/datasets/abc", 422))
    assert "before:" in text_of(page(web, "/datasets/1?before=-1", 422))


def test_the_reverse_lineage_read_walks_the_dataset_index(built: World) -> None:
    """One query, driven by ix_versions_dataset (dataset_id, id), with no sort step: the
    page costs the same at a million versions as at ten."""
    import sqlalchemy as sa

    engine = built.client.registry._store.engine
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        built.client.datasets.trained(built.datasets["sales"], limit=50, before=10**9)
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    lineage = [(s, p) for s, p in seen if "FROM versions" in s]
    assert len(lineage) == 1
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + lineage[0][0], lineage[0][1]).all()
    steps = " | ".join(str(row[-1]) for row in plan)
    assert "ix_versions_dataset" in steps and "TEMP B-TREE" not in steps, steps


# -- tenancy: below the routes ------------------------------------------------------------------


def test_a_tenant_token_sees_only_its_tenant_runs_and_datasets(
    built: World, guarded: TestClient
) -> None:
    beta = bearer(built, "beta-viewer")
    runs = page(guarded, "/runs", **beta)
    assert f'href="/runs/{built.runs["beta"]}"' in runs and "grocer" not in runs
    assert "tenant &#39;grocer&#39; not found" in page(guarded, "/runs?tenant=grocer", 404, **beta)
    datasets = page(guarded, "/datasets", **beta)
    assert "beta-sales" in datasets and "grocer" not in datasets
    assert "grocer" not in page(guarded, f"/datasets/{built.datasets['sales']}", 404, **beta)
    assert "grocer" not in page(guarded, f"/runs/{built.runs['train']}", 404, **beta)
    page(guarded, "/fleets/grocer/demand/alias-moves", 404, **beta)
    page(guarded, "/fleets/grocer/demand/runs", 404, **beta)
    everyone = page(guarded, "/runs", **bearer(built, "operator"))
    assert f'href="/runs/{built.runs["beta"]}"' in everyone
    assert f'href="/runs/{built.runs["train"]}"' in page(
        guarded, "/runs?tenant=grocer", **bearer(built, "operator"))  # fmt: skip
    assert 'action="/signin"' in page(guarded, "/datasets", 401)


def test_another_tenant_cannot_undo_a_move(built: World, guarded: TestClient) -> None:
    """An editor may undo moves, but not another tenant's: its fleet does not exist for it
    (404, as every read of another tenant answers), and nothing moves."""
    move = built.client.fleet("grocer/demand").alias_moves(1)[0]
    editor = guarded.get("/datasets", headers=bearer(built, "beta-editor"))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', editor.text)
    form = {"csrf_token": csrf.group(1)} if csrf else {}
    refused = guarded.post(f"/fleets/grocer/demand/alias-moves/{move.id}/undo", data=form,
                           headers=bearer(built, "beta-editor"))  # fmt: skip
    assert refused.status_code == 404, refused.text[:300]
    assert built.client.fleet("grocer/demand").alias_moves(1)[0].undone_by == move.undone_by


def test_another_tenant_reads_no_alerts_of_a_fleet_it_cannot_see(
    built: World, guarded: TestClient
) -> None:
    """The alerts page takes a fleet by name: another tenant's is a 404, never its rules."""
    beta = bearer(built, "beta-viewer")
    refused = text_of(page(guarded, "/alerts?fleet=grocer/demand", 404, **beta))
    assert "not found" in refused and "s01" not in refused and "psi" not in refused
    reply = guarded.get("/api/v1/fleets/grocer/demand/alerts", headers=beta)
    assert reply.status_code in (403, 404)
