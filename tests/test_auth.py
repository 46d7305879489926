"""Tokens, roles, tenant isolation below every route, sessions, CSRF, audit by person, limits.

Two tenants share one store: ``acme`` (a monitored fleet with alerts, a trained fleet with
a run and a dataset, a card, a recorded move) and ``beta``. Every piece of acme's data that
a leak would show carries the marker ``zq9``; no URL a test sends does. The isolation test
walks every operation of both OpenAPI schemas, and every other route the apps have (the
pages), as beta's viewer, beta's admin and as nobody, against acme's objects.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression
from tests import monitor_world as world
from tests.helpers import csrf_of

import shoal
from shoal.http.auth import Auth
from shoal.http.rates import Rate
from shoal.serve import create_app
from shoal.web import create_web_app

MARK = "zq9"
LOCAL = "http://127.0.0.1"
MODEL = "store=s00,sku=k00"


def fit(frame: pd.DataFrame) -> Any:
    return LinearRegression().fit(frame[["price"]], frame["units"])


@dataclass
class World:
    client: shoal.Client
    root: Path
    secrets: dict[str, str] = field(default_factory=dict)
    """Token secrets by name: acme-admin, acme-editor, acme-viewer, acme-predict, beta-viewer,
    beta-admin, operator."""
    ids: dict[str, int] = field(default_factory=dict)

    def bearer(self, name: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.secrets[name]}"}


@pytest.fixture
def house(tmp_path: Path) -> Iterator[World]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    demand = client.fleet("acme/demand", keys=["store", "sku"], description=f"{MARK} plans")
    world.monitored_two_days(demand, tmp_path, drift=frozenset({"s01/k02"}))
    demand.alerts.add_rule(f"{MARK}-rule", "mape > 0.9")
    demand.register([{"key": {"store": "s00", "sku": "k00"}, "model": shoal_model(),
                      "tags": {"note": f"{MARK}-tag"}, "params": {MARK: 1}}])  # fmt: skip
    move = demand.set_alias("production", {("s00", "k00"): 1}, create=True)
    demand.cards.update({"store": "s00", "sku": "k00"}, owner=f"{MARK} owner")
    frame = pd.DataFrame({"store": ["s0"] * 6, "price": range(6), "units": range(6)})
    run = client.fleet("acme/trained", keys=["store"]).train(
        frame, fit, workers=1, progress=False, dataset_name=f"{MARK}-data"
    )
    beta = client.fleet("beta/other", keys=["store"])
    beta.register([{"key": {"store": "b1"}, "model": shoal_model()}])
    house = World(client, tmp_path)
    for tenant, role in [("acme", "admin"), ("acme", "editor"), ("acme", "viewer"),
                         ("acme", "predict"), ("beta", "viewer"), ("beta", "admin"),
                         (None, "operator")]:  # fmt: skip
        name = f"{tenant}-{role}" if tenant else "operator"
        info, house.secrets[name] = client.create_token(tenant, role, name=name)
        house.ids[f"token:{name}"] = info.id
    version = demand.get({"store": "s00", "sku": "k00"})
    house.ids.update(version=version.id, run=run.id, move=move.move_id,
                     dataset=client.datasets.list()[0].id,
                     alert=demand.alerts.list()[0]["id"])  # fmt: skip
    yield house
    client.close()


def shoal_model() -> Any:
    from shoal.flavors.linear import LinearModel

    return LinearModel(1.0, {"x1": 0.5})


def apps(house: World, **auth: Any) -> tuple[FastAPI, FastAPI]:
    chosen = Auth(enabled=True, token_cache_seconds=0, **auth)
    web = create_web_app(house.client, auth=chosen)
    serve = create_app(house.client, auth=chosen, logs_url=str(house.root / "served"))
    return web, serve


@pytest.fixture
def web(house: World) -> Iterator[TestClient]:
    app, _ = apps(house)
    with TestClient(app, base_url=LOCAL) as http:
        yield http


# -- tokens and roles -------------------------------------------------------------------------


def test_a_token_is_shown_once_stored_as_a_hash_listed_revoked_and_expires(house) -> None:
    client = house.client
    info, secret = client.create_token("acme", "viewer", name="short", expires="1m")
    assert secret.startswith("shoal_") and len(secret) > 40
    listed = {t.name: t for t in client.tokens("acme")}
    assert listed["short"].state == "active" and listed["short"].expires_at is not None
    assert secret not in repr(listed) and secret not in str(client.audit())
    import sqlite3

    with sqlite3.connect(house.root / "shoal.db") as db:
        stored = "".join(str(row) for row in db.execute("SELECT * FROM tokens"))
    assert secret not in stored and secret[6:] not in stored  # only its sha256
    assert client.registry.access.authenticate(secret).name == "token:short"
    client.revoke_token(info.id)
    with pytest.raises(shoal.errors.Unauthenticated, match="revoked"):
        client.registry.access.authenticate(secret)
    assert "short" not in {t.name for t in client.tokens("acme")}
    assert "short" in {t.name for t in client.tokens("acme", revoked=True)}
    _, brief = client.registry.access.create_token(client.scope, "acme", "viewer",
                                                    name="brief", expires_in=0.2)  # fmt: skip
    time.sleep(0.3)
    with pytest.raises(shoal.errors.Unauthenticated, match="expired"):
        client.registry.access.authenticate(brief)
    with pytest.raises(shoal.errors.Conflict, match="revoke it first"):
        client.create_token("acme", "viewer", name="acme-viewer")
    scoped = shoal.connect(client.store_url, client.artifacts_url, tenant="beta")
    assert {t.tenant for t in scoped.tokens()} == {"beta"}
    with pytest.raises(shoal.errors.NotFound):
        scoped.revoke_token(house.ids["token:acme-admin"])
    with pytest.raises(shoal.errors.Forbidden, match="operator"):
        scoped.create_token(None, "operator")


def test_no_token_is_a_401_and_a_page_asks_to_sign_in(web: TestClient) -> None:
    reply = web.get("/api/v1/fleets")
    assert reply.status_code == 401 and reply.headers["www-authenticate"].startswith("Bearer")
    assert reply.json()["error"]["type"] == "Unauthenticated"
    page = web.get("/fleets/acme/demand?where=store%3D%27s00%27")
    assert page.status_code == 401 and 'action="/signin"' in page.text
    assert 'name="next" value="/fleets/acme/demand?where=' in page.text
    for bad in ("Bearer shoal_wrong", "Basic abc", "Bearer", "Bearer not.a.jwt"):
        reply = web.get("/api/v1/fleets", headers={"authorization": bad})
        assert reply.status_code == 401, bad
    assert web.get("/static/shoal.css").status_code == 200
    assert web.get("/api/v1/openapi.json").status_code == 200


def test_roles_viewer_reads_editor_writes_admin_manages_predict_only_predicts(house) -> None:
    web_app, serve_app = apps(house)
    with TestClient(web_app, base_url=LOCAL) as web, TestClient(serve_app, base_url=LOCAL) as srv:
        base = "/api/v1/fleets/acme/demand"
        move = {"where": "store = 's00'", "source": "latest"}
        assert web.get(f"{base}/models", headers=house.bearer("acme-viewer")).status_code == 200
        denied = web.post(f"{base}/aliases/candidate", json=move,
                          headers=house.bearer("acme-viewer"))  # fmt: skip
        assert denied.status_code == 403 and "editor" in denied.json()["error"]["message"]
        moved = web.post(f"{base}/aliases/candidate", json={**move, "create": True},
                         headers=house.bearer("acme-editor"))  # fmt: skip
        assert moved.status_code == 200, moved.text
        rule = {"name": "late", "expression": "mape > 0.5"}
        assert web.post(f"{base}/alert-rules", json=rule,
                        headers=house.bearer("acme-editor")).status_code == 403  # fmt: skip
        assert web.post(f"{base}/alert-rules", json=rule,
                        headers=house.bearer("acme-admin")).status_code == 201  # fmt: skip
        token = {"tenant": "acme", "role": "viewer", "name": "made-over-rest"}
        assert web.post("/api/v1/tokens", json=token,
                        headers=house.bearer("acme-editor")).status_code == 403  # fmt: skip
        made = web.post("/api/v1/tokens", json=token, headers=house.bearer("acme-admin"))
        assert made.status_code == 201 and made.json()["token"].startswith("shoal_")
        listed = web.get("/api/v1/tokens", headers=house.bearer("acme-admin")).json()["items"]
        assert "made-over-rest" in {t["name"] for t in listed}
        assert all("token" not in t for t in listed) and {t["tenant"] for t in listed} == {"acme"}
        escalate = web.post("/api/v1/tokens", json={"role": "operator", "name": "up"},
                            headers=house.bearer("acme-admin"))  # fmt: skip
        assert escalate.status_code in (403, 422)
        rows = [{"store": "s00", "sku": "k00", "x1": 1.0, "x2": 0.5, "promo": False}]
        predict = f"{base}/predict"
        assert srv.post(predict, json={"rows": rows},
                        headers=house.bearer("acme-predict")).status_code == 200  # fmt: skip
        assert srv.post(predict, json={"rows": rows},
                        headers=house.bearer("acme-viewer")).status_code == 403  # fmt: skip
        assert web.get(f"{base}/models",
                       headers=house.bearer("acme-predict")).status_code == 403  # fmt: skip
        across = srv.post(predict, json={"rows": rows}, headers=house.bearer("beta-admin"))
        assert across.status_code == 404 and MARK not in across.text
        assert srv.post(predict, json={"rows": rows}).status_code == 401
        assert srv.get("/healthz").status_code == 200 and srv.get("/readyz").status_code == 200
        everyone = web.get("/api/v1/fleets", headers=house.bearer("operator")).json()["items"]
        assert {f["tenant"] for f in everyone} == {"acme", "beta"}


def test_a_revoked_token_is_refused_on_its_next_request(house, web: TestClient) -> None:
    assert web.get("/api/v1/fleets", headers=house.bearer("acme-viewer")).status_code == 200
    house.client.revoke_token(house.ids["token:acme-viewer"])
    reply = web.get("/api/v1/fleets", headers=house.bearer("acme-viewer"))
    assert reply.status_code == 401 and "revoked" in reply.json()["error"]["message"]


# -- isolation: every operation, as another tenant and as nobody -----------------------------


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of ``app``, the pages included (FastAPI may wrap
    included routers)."""
    found: list[tuple[str, str]] = []
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            pending.extend(included.routes)
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.append((method, route.path))
    return found


def _operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the app's OpenAPI schema, and every other route it has."""
    schema = app.openapi()["paths"]
    ops = {(m.upper(), p) for p, item in schema.items() for m in item}
    ops |= {(m, re.sub(r"{(\w+):path}", r"{\1}", p)) for m, p in _routes(app)}
    return sorted(ops)


def _fill(path: str, ids: dict[str, int]) -> str:
    values = {"tenant": "acme", "fleet": "demand", "model": MODEL, "alias": "production",
              "dim": "store", "name": "cohorts", "version_id": ids["version"],
              "run_id": ids["run"], "dataset_id": ids["dataset"], "move_id": ids["move"],
              "alert_id": ids["alert"], "token_id": ids["token:acme-admin"]}  # fmt: skip
    filled = re.sub(r"{(\w+)}", lambda m: str(values.get(m.group(1), 1)), path)
    assert MARK not in filled
    return filled


def test_every_operation_refuses_another_tenant_and_nobody_and_leaks_nothing(
    house: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    web_app, serve_app = apps(house)
    before = _acme_state(house)
    tried = 0
    with TestClient(web_app, base_url=LOCAL) as web, TestClient(serve_app, base_url=LOCAL) as srv:
        for http, app in ((web, web_app), (srv, serve_app)):
            for method, path in _operations(app):
                if path in ("/healthz", "/readyz", "/metrics", "/signin", "/signout") or (
                    path.startswith(("/static/", "/signin/")) or path.endswith("openapi.json")
                ):
                    continue
                url = _fill(path, house.ids)
                names_acme = "{" in path
                for who in (None, "beta-viewer", "beta-admin"):
                    headers = {} if who is None else house.bearer(who)
                    body = {"rows": [{"store": "s00", "sku": "k00"}], "items": []}
                    reply = http.request(method, url, headers=headers,
                                         json=body if method != "GET" else None)  # fmt: skip
                    tried += 1
                    where = f"{who} {method} {url}: {reply.status_code} {reply.text[:300]}"
                    allowed = {401, 403, 404} if names_acme else {200, 401, 403, 404}
                    if who == "beta-admin" and method != "GET":
                        allowed |= {422}
                    if who is None:
                        allowed = {401}
                    assert reply.status_code in allowed, where
                    seen = reply.text + " ".join(f"{k}: {v}" for k, v in reply.headers.items())
                    assert MARK not in seen, where
                    if not names_acme:
                        assert "acme" not in reply.text, where
        metrics = srv.get("/metrics").text
    assert tried > 150
    assert "acme" not in metrics and MARK not in metrics
    assert MARK not in caplog.text
    assert _acme_state(house) == before  # nothing of acme's changed


def test_a_viewer_reads_every_route_of_its_tenant_and_writes_nothing(house: World) -> None:
    """Every GET of both apps, as acme's viewer on acme's objects: no 5xx, no refusal of a
    write (a route that reads must not write), and the audit log unchanged."""
    web_app, serve_app = apps(house)
    before = len(house.client.audit(limit=1000))
    answered: dict[int, int] = {}
    with TestClient(web_app, base_url=LOCAL) as web, TestClient(serve_app, base_url=LOCAL) as srv:
        for http, app in ((web, web_app), (srv, serve_app)):
            for method, path in _operations(app):
                if method != "GET" or path.startswith("/signin/"):
                    continue
                reply = http.get(_fill(path, house.ids), headers=house.bearer("acme-viewer"))
                where = f"GET {path}: {reply.status_code} {reply.text[:300]}"
                assert reply.status_code < 500, where
                if path != "/api/v1/tokens":  # the one read that needs an admin
                    assert reply.status_code != 403, where
                answered[reply.status_code] = answered.get(reply.status_code, 0) + 1
    assert answered.get(200, 0) > 30, answered
    assert len(house.client.audit(limit=1000)) == before


def _acme_state(house: World) -> Any:
    demand = house.client.fleet("acme/demand")
    return (demand.coverage(), [(a["id"], a["state"]) for a in demand.alerts.list()],
            sorted(r["name"] for r in demand.alerts.rules()),
            [t.name for t in house.client.tokens("acme")],
            demand.count(versions="all"))  # fmt: skip


def test_global_ids_cross_no_tenant(house, web: TestClient) -> None:
    for path in (f"/api/v1/versions/{house.ids['version']}", f"/api/v1/runs/{house.ids['run']}",
                 f"/api/v1/datasets/{house.ids['dataset']}"):  # fmt: skip
        assert web.get(path, headers=house.bearer("acme-viewer")).status_code == 200, path
        other = web.get(path, headers=house.bearer("beta-viewer"))
        assert other.status_code == 404 and MARK not in other.text, path
    listed = web.get("/api/v1/datasets", headers=house.bearer("beta-viewer")).json()["items"]
    assert listed == []


# -- sessions, CSRF, single sign-on -------------------------------------------------------------


def test_signing_in_sets_a_strict_httponly_session_and_forms_need_their_csrf_token(
    house, web: TestClient
) -> None:
    page = web.get("/signin?next=/alerts")
    token = csrf_of(page.text)
    wrong = web.post("/signin", data={"token": "shoal_nope", "next": "/alerts",
                                      "csrf_token": token})  # fmt: skip
    assert wrong.status_code == 401 and "unknown token" in wrong.text
    signed = web.post("/signin", data={"token": house.secrets["acme-editor"],
                                       "next": "/alerts", "csrf_token": token},
                      follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303 and signed.headers["location"] == "/alerts"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert house.secrets["acme-editor"] not in cookie
    alerts = web.get("/alerts")
    assert alerts.status_code == 200 and "token:acme-editor" in alerts.text
    form = csrf_of(alerts.text)
    url = f"/fleets/acme/demand/alerts/{house.ids['alert']}"
    assert web.post(url, data={"action": "acknowledge"}).status_code == 403
    forged = web.post(url, data={"action": "acknowledge", "csrf_token": form},
                      headers={"origin": "http://attacker.example"})  # fmt: skip
    assert forged.status_code == 403 and "cross-site" in forged.text
    assert web.post(url, data={"action": "acknowledge", "csrf_token": "x" * 43}
                    ).status_code == 403  # fmt: skip
    done = web.post(url, data={"action": "acknowledge", "csrf_token": form},
                    headers={"origin": LOCAL}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    assert house.client.audit(action="alert.")[0].actor == "token:acme-editor"
    offsite = web.post(
        "/signin",
        data={
            "token": house.secrets["acme-editor"],
            "csrf_token": form,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert offsite.headers["location"] == "/"  # no open redirect
    house.client.revoke_token(house.ids["token:acme-editor"])
    assert web.get("/alerts").status_code == 401  # the session ends with its token
    out = web.post("/signout", data={"csrf_token": form}, follow_redirects=False)
    assert out.status_code in (303, 401)


def test_a_bulk_move_by_a_foreign_form_post_is_refused_with_auth_off(house) -> None:
    app = create_web_app(house.client, auth=Auth.off())
    with TestClient(app, base_url=LOCAL) as web:
        url = f"/api/v1/fleets/acme/demand/alias-moves/{house.ids['move']}/undo"
        for headers in ({"origin": "http://attacker.example"},
                        {"content-type": "application/x-www-form-urlencoded"},
                        {"referer": "http://attacker.example/page"}):  # fmt: skip
            reply = web.post(url, headers=headers)
            assert reply.status_code == 403, headers
        assert house.client.fleet("acme/demand").coverage()["production"] == 1


def test_single_sign_on_tokens_from_the_issuer_act_as_the_person(house, tmp_path) -> None:
    jwt = pytest.importorskip("jwt")
    from cryptography.hazmat.primitives.asymmetric import rsa

    from shoal.http.oidc import OidcSettings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    keys = tmp_path / "jwks.json"
    import json

    keys.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}))
    issuer = "https://login.example.test"
    oidc = OidcSettings(issuer=issuer, jwks=str(keys), audience="shoal")

    def sign(**claims: Any) -> str:
        now = int(time.time())
        body = {"iss": issuer, "aud": "shoal", "sub": "u-1", "exp": now + 300, "iat": now,
                **claims}  # fmt: skip
        return str(jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"}))

    web_app, _ = apps(house, oidc=oidc)
    with TestClient(web_app, base_url=LOCAL) as web:
        person = sign(email="ada@example.test", shoal_tenant="acme", shoal_role="editor")
        base = "/api/v1/fleets/acme/demand"
        moved = web.post(f"{base}/aliases/sso", json={"where": "store = 's00'", "create": True},
                         headers={"authorization": f"Bearer {person}"})  # fmt: skip
        assert moved.status_code == 200, moved.text
        entry = house.client.audit(action="alias.")[0]
        assert entry.actor == "sso:u-1" and entry.via == "sso" and entry.role == "editor"
        other = sign(shoal_tenant="beta", shoal_role="admin")
        assert web.get(base, headers={"authorization": f"Bearer {other}"}).status_code == 404
        late = sign(shoal_tenant="acme", shoal_role="viewer", exp=int(time.time()) - 120)
        assert web.get(base, headers={"authorization": f"Bearer {late}"}).status_code == 401
        token = csrf_of(web.get("/signin").text)
        signed = web.post("/signin", data={"token": person, "csrf_token": token},
                          follow_redirects=False)  # fmt: skip
        assert signed.status_code == 303 and "HttpOnly" in signed.headers["set-cookie"]
        assert web.get("/fleets/acme/demand").status_code == 200
        assert web.get("/fleets/beta/other").status_code == 404


# -- audit by person ------------------------------------------------------------------------------


def test_every_write_names_the_principal_its_address_and_request_id(house) -> None:
    from typer.testing import CliRunner

    from shoal.cli import app as cli
    from shoal.testing.servers import ThreadServer

    web_app, _ = apps(house)
    import httpx

    with ThreadServer(web_app) as server:
        reply = httpx.post(
            f"{server.url}/api/v1/fleets/acme/demand/aliases/audited",
            json={"where": "store = 's00'", "create": True},
            headers={**house.bearer("acme-editor"), "x-request-id": "req-42"},
        )
        assert reply.status_code == 200, reply.text
        seen = httpx.get(f"{server.url}/api/v1/audit", params={"action": "alias."},
                         headers=house.bearer("acme-viewer")).json()["items"]  # fmt: skip
        assert {e["tenant"] for e in httpx.get(f"{server.url}/api/v1/audit",
                                              headers=house.bearer("beta-viewer")).json()["items"]
                } <= {"beta"}  # fmt: skip
        page = httpx.get(f"{server.url}/audit", headers=house.bearer("acme-viewer"))
        assert page.status_code == 200 and "req-42" in page.text
    entry = seen[0]
    assert (entry["actor"], entry["role"], entry["via"], entry["address"], entry["request_id"]
            ) == ("token:acme-editor", "editor", "token", "127.0.0.1", "req-42")  # fmt: skip
    store = ["--store", house.client.store_url]
    listed = CliRunner().invoke(cli, [*store, "audit", "--actor", "token:acme-editor", "--json"])
    assert listed.exit_code == 0 and '"request_id": "req-42"' in listed.stdout
    table = CliRunner().invoke(cli, [*store, "audit", "--tenant", "acme", "--action", "alias."])
    assert table.exit_code == 0 and "token:acme-editor" in table.stdout
    bad = CliRunner().invoke(cli, [*store, "audit", "--since", "soon"])
    assert bad.exit_code == 2 and "since" in bad.stderr


# -- rate limits -------------------------------------------------------------------------------


def test_writes_and_predictions_past_the_rate_get_a_429_with_retry_after(house) -> None:
    rates = {"write": Rate(0.5, 2), "predict": Rate(0.5, 1)}
    web_app, serve_app = apps(house, rates=rates)
    with TestClient(web_app, base_url=LOCAL) as web, TestClient(serve_app, base_url=LOCAL) as srv:
        url = "/api/v1/fleets/acme/demand/aliases/limited"
        body = {"where": "store = 's00'", "create": True, "dry_run": True}
        codes = [web.post(url, json=body, headers=house.bearer("acme-editor")).status_code
                 for _ in range(3)]  # fmt: skip
        assert codes[:2] == [200, 200] and codes[2] == 429
        last = web.post(url, json=body, headers=house.bearer("acme-editor"))
        assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1
        assert web.post(url, json=body, headers=house.bearer("acme-admin")).status_code == 200
        assert web.get("/api/v1/fleets", headers=house.bearer("acme-editor")).status_code == 200
        rows = [{"store": "s00", "sku": "k00", "x1": 1.0, "x2": 0.5, "promo": False}]
        predict = "/api/v1/fleets/acme/demand/predict"
        first = srv.post(predict, json={"rows": rows}, headers=house.bearer("acme-predict"))
        second = srv.post(predict, json={"rows": rows}, headers=house.bearer("acme-predict"))
        assert (first.status_code, second.status_code) == (200, 429)
        assert "Retry-After" in second.headers or "retry-after" in second.headers
    with pytest.raises(shoal.errors.InvalidInput, match="SHOAL_RATE_WRITES"):
        Rate.parse("lots", "SHOAL_RATE_WRITES")
    assert Rate.parse("600/m,50", "x") == Rate(10.0, 50)


# -- no secret in any log ----------------------------------------------------------------------


def test_no_issued_token_reaches_a_log_line(house, tmp_path) -> None:
    import httpx

    from shoal.testing.servers import ThreadServer

    log = tmp_path / "server.log"
    handler = logging.FileHandler(log)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        web_app, serve_app = apps(house)
        with ThreadServer(web_app, log_level="debug") as web, \
                ThreadServer(serve_app, log_level="debug") as srv:  # fmt: skip
            for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
                logging.getLogger(name).addHandler(handler)  # uvicorn's own do not propagate
            for name in house.secrets:
                for url in (f"{web.url}/api/v1/fleets", f"{web.url}/fleets/acme/demand",
                            f"{srv.url}/api/v1/fleets/acme/demand/feedback"):  # fmt: skip
                    httpx.request("POST" if "feedback" in url else "GET", url,
                                  headers=house.bearer(name), json={"items": []})  # fmt: skip
            house.client.revoke_token(house.ids["token:acme-viewer"])
            httpx.get(f"{web.url}/api/v1/fleets", headers=house.bearer("acme-viewer"))
            token = csrf_of(httpx.get(f"{web.url}/signin").text)
            httpx.post(f"{web.url}/signin", data={"token": house.secrets["acme-admin"] + "x",
                                                  "csrf_token": token})  # fmt: skip
    finally:
        for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).removeHandler(handler)
        root.removeHandler(handler)
        root.setLevel(old)
        handler.close()
    text = log.read_text()
    assert "GET /api/v1/fleets HTTP/1.1" in text  # the access log was captured
    for name, secret in house.secrets.items():
        assert secret not in text and secret[6:30] not in text, name


def test_below_the_routes_a_viewer_cannot_write_nor_reach_another_tenant(house) -> None:
    from shoal.registry import Principal, Scope, acting_as

    demand = house.client.fleet("acme/demand")
    with acting_as(Principal("token:peek", "viewer", "acme")):
        assert demand.count() == 12  # reads are scoped, and allowed
        with pytest.raises(shoal.errors.Forbidden, match="editor"):
            demand.set_alias("production", {("s00", "k00"): 1})
        with pytest.raises(shoal.errors.NotFound):
            Scope("beta")
        with pytest.raises(shoal.errors.Forbidden, match="operator"):
            Scope(None)
        with pytest.raises(shoal.errors.NotFound):
            house.client.fleet("beta/other")  # the operator client acts with the scope
    with acting_as(Principal("token:ed", "editor", "acme", address="10.0.0.7")):
        demand.set_alias("shadow", {("s00", "k00"): 1}, create=True)
    entry = house.client.audit(action="alias.")[0]
    assert (entry.actor, entry.role, entry.address) == ("token:ed", "editor", "10.0.0.7")
