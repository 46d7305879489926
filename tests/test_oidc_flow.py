"""Signing in through the issuer: the OIDC authorization code flow with PKCE, end to end.

A fake identity provider on 127.0.0.1 serves discovery, its JWKS and a token endpoint that
checks what a real one does: the code (once only), the redirect URI, the PKCE verifier
against the challenge it saw when the person "signed in", and the client's credentials.
The test plays the browser with the web app's TestClient: ``/signin/oidc`` sends it to
the issuer, the fake issuer hands out a code, ``/signin/callback`` signs it in, and the
session acts as that person (pages, an audited write).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm
from tests.helpers import csrf_of

import shoal
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.http.oidc import OidcSettings
from shoal.web import create_web_app

LOCAL = "http://127.0.0.1"
CLIENT_ID = "shoal-ui"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FLEET = "/fleets/acme/demand"


@dataclass
class Grant:
    challenge: str
    method: str
    nonce: str
    client_id: str
    redirect_uri: str
    claims: dict[str, Any]


@dataclass
class FakeIdp:
    """The identity provider's state; its HTTP side is :func:`idp`'s handler."""

    issuer: str = ""
    secret: str | None = field(default_factory=lambda: "cs-" + secrets.token_urlsafe(24))
    discovered_issuer: str | None = None
    """When set, discovery names this issuer instead of the real one."""
    grants: dict[str, Grant] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)
    """Each token request: the client authentication used, and the outcome."""
    secrets_out: list[str] = field(default_factory=list)
    """Everything secret that went over the wire: codes, verifiers, tokens."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.discovered_issuer or self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                "code_challenge_methods_supported": ["S256"]}  # fmt: skip

    def authorize(self, location: str, **claims: Any) -> tuple[str, str]:
        """The person signs in at the issuer: a code for the request in ``location``, and
        the state to send back with it."""
        url = urlsplit(location)
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{self.issuer}/authorize"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
        assert query["scope"].split()[0] == "openid"
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.grants[code] = Grant(query["code_challenge"], query["code_challenge_method"],
                                      query["nonce"], query["client_id"], query["redirect_uri"],
                                      claims)  # fmt: skip
            self.secrets_out.append(code)
        return code, query["state"]

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, Any]:
        with self.lock:
            self.secrets_out.append(form.get("code_verifier", ""))
            grant = self.grants.pop(form.get("code", ""), None)  # a code works once
        seen: dict[str, Any] = {"basic": authorization is not None,
                                "form_client_id": form.get("client_id")}  # fmt: skip
        self.seen.append(seen)
        if authorization is not None:
            kind, _, encoded = authorization.partition(" ")
            user, _, password = base64.b64decode(encoded).decode().partition(":")
            who = (unquote_plus(user), unquote_plus(password))
            if kind != "Basic" or who != (CLIENT_ID, self.secret) or "client_secret" in form:
                return 401, {"error": "invalid_client"}
        elif self.secret is not None or form.get("client_id") != CLIENT_ID:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant", "error_description": "unknown code"}
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if grant.method != "S256" or digest.rstrip(b"=").decode() != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE failed"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "u-7", "aud": CLIENT_ID, "iat": now,
                  "exp": now + 300, "nonce": grant.nonce, "email": "ada@example.test",
                  "shoal_tenant": "acme", "shoal_role": "editor", **grant.claims}  # fmt: skip
        key = claims.pop("_key", KEY)
        id_token = jwt.encode({k: v for k, v in claims.items() if v is not None}, key,
                              algorithm="RS256", headers={"kid": "k1"})  # fmt: skip
        access = "at-" + secrets.token_urlsafe(24)
        self.secrets_out += [id_token, access]
        seen["ok"] = True
        return 200, {"access_token": access, "token_type": "Bearer", "expires_in": 300,
                     "id_token": id_token}  # fmt: skip


@pytest.fixture
def idp() -> Iterator[FakeIdp]:
    fake = FakeIdp()
    jwks = {"keys": [{**RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1",
                      "use": "sig", "alg": "RS256"}]}  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self.answer(200, fake.discovery())
            elif self.path == "/jwks":
                self.answer(200, jwks)
            else:
                self.answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path != "/token":
                self.answer(404, {"error": "not_found"})
                return
            self.answer(*fake.token(form, self.headers.get("Authorization")))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[shoal.Client]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = client.fleet("acme/demand", keys=["store", "sku"])
    fleet.register([{"key": {"store": s, "sku": "k00"}, "model": LinearModel(1.0, {"x1": 0.5})}
                    for s in ("s00", "s01")])  # fmt: skip
    yield client
    client.close()


def web_app(client: shoal.Client, idp: FakeIdp, **settings: Any) -> FastAPI:
    oidc = OidcSettings(**{"issuer": idp.issuer, "jwks": f"{idp.issuer}/jwks",
                           "name_claim": "email", "client_id": CLIENT_ID,
                           "client_secret": idp.secret, **settings})  # fmt: skip
    return create_web_app(client, auth=Auth(enabled=True, token_cache_seconds=0, oidc=oidc))


@pytest.fixture
def web(client: shoal.Client, idp: FakeIdp) -> Iterator[TestClient]:
    with TestClient(web_app(client, idp), base_url=LOCAL) as http:
        yield http


def start(web: TestClient, next: str = FLEET) -> tuple[str, str]:
    """``/signin/oidc``: the issuer's URL it redirects to, and the round-trip cookie."""
    went = web.get("/signin/oidc", params={"next": next}, follow_redirects=False)
    assert went.status_code == 303, went.text
    return went.headers["location"], went.headers["set-cookie"]


def sign_in(web: TestClient, idp: FakeIdp, next: str = FLEET, **claims: Any) -> Any:
    """The whole round trip; the callback's answer."""
    location, _ = start(web, next)
    code, state = idp.authorize(location, **claims)
    return web.get("/signin/callback", params={"code": code, "state": state})


def cookies_of(reply: Any) -> dict[str, str]:
    """Each Set-Cookie of a reply by its cookie's name."""
    found = {}
    for header in reply.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0]] = header
    return found


# -- the round trip ---------------------------------------------------------------------------


def test_a_person_signs_in_at_the_issuer_and_acts_as_themselves(
    web: TestClient, idp: FakeIdp, client: shoal.Client
) -> None:
    page = web.get("/signin", params={"next": FLEET})
    assert "Sign in with single sign-on" in page.text
    assert 'href="/signin/oidc?next=/fleets/acme/demand"' in page.text
    location, cookie = start(web)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["redirect_uri"] == f"{LOCAL}/signin/callback"
    assert query["scope"] == "openid profile email" and query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43
    assert len(query["code_challenge"]) == 43  # a sha256, base64url without padding
    assert cookie.startswith("shoal_oidc=")
    for flag in ("HttpOnly", "SameSite=Lax", "Path=/signin", "Max-Age=600"):
        assert flag in cookie
    code, state = idp.authorize(location)
    done = web.get("/signin/callback", params={"code": code, "state": state})
    assert done.status_code == 200, done.text
    assert f'<meta http-equiv="refresh" content="0; url={FLEET}">' in done.text
    assert f'href="{FLEET}"' in done.text and "ada@example.test" in done.text
    set = cookies_of(done)
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in set["shoal_session"]
    assert "Max-Age=0" in set["shoal_oidc"]
    assert done.headers["cache-control"] == "no-store"
    assert idp.seen == [{"basic": True, "form_client_id": None, "ok": True}]

    fleet = web.get(FLEET)
    assert fleet.status_code == 200 and "sso:ada@example.test" in fleet.text
    moved = web.post(f"/api/v1{FLEET}/aliases/sso", json={"where": "store = 's00'",
                     "create": True}, headers={"x-csrf-token": csrf_of(fleet.text)})  # fmt: skip
    assert moved.status_code == 200, moved.text
    entry = client.audit(action="alias.")[0]
    assert (entry.actor, entry.via, entry.role) == ("sso:ada@example.test", "sso", "editor")
    no_csrf = web.post(f"/api/v1{FLEET}/aliases/sso2", json={"where": "store = 's00'",
                       "create": True})  # fmt: skip
    assert no_csrf.status_code == 403
    session = web.cookies.get("shoal_session")
    assert session is not None
    payload = web.app.state.guard.sessions.read(session)
    assert payload["via"] == "sso" and payload["tenant"] == "acme"
    assert payload["exp"] <= time.time() + 301  # no longer than the ID token


def test_a_public_client_proves_itself_with_pkce_alone(client: shoal.Client, idp: FakeIdp) -> None:
    idp.secret = None
    with TestClient(web_app(client, idp), base_url=LOCAL) as web:
        assert sign_in(web, idp).status_code == 200
        assert web.get(FLEET).status_code == 200
    assert idp.seen == [{"basic": False, "form_client_id": CLIENT_ID, "ok": True}]


# -- refusals ---------------------------------------------------------------------------------


def refused(reply: Any, *words: str) -> str:
    assert reply.status_code == 401, reply.text
    assert "shoal_session" not in cookies_of(reply)
    assert 'class="error"' in reply.text
    for word in words:
        assert word in reply.text
    return str(reply.text)


def test_a_wrong_state_is_refused(web: TestClient, idp: FakeIdp) -> None:
    location, _ = start(web)
    code, _state = idp.authorize(location)
    reply = web.get("/signin/callback", params={"code": code, "state": "x" * 43})
    refused(reply, "state does not match")
    assert "Max-Age=0" in cookies_of(reply)["shoal_oidc"]  # the attempt is spent
    assert idp.seen == []  # the code never reached the token endpoint
    assert web.get(FLEET).status_code == 401


def test_a_callback_in_a_browser_that_did_not_start_the_sign_in_is_refused(
    client: shoal.Client, idp: FakeIdp, web: TestClient
) -> None:
    """Login CSRF: an attacker's own code and state, sent to a victim's browser."""
    location, _ = start(web)
    code, state = idp.authorize(location)
    with TestClient(web_app(client, idp), base_url=LOCAL) as victim:
        reply = victim.get("/signin/callback", params={"code": code, "state": state})
        refused(reply, "not started in this browser")
        assert victim.get(FLEET).status_code == 401


def test_a_replayed_or_unknown_code_is_refused(web: TestClient, idp: FakeIdp) -> None:
    location, _ = start(web)
    code, state = idp.authorize(location)
    assert web.get("/signin/callback", params={"code": code, "state": state}).status_code == 200
    again = web.get("/signin/callback", params={"code": code, "state": state})
    refused(again, "not started in this browser")  # the round-trip cookie is gone
    web.cookies.clear()
    location, _ = start(web)
    state = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}["state"]
    refused(web.get("/signin/callback", params={"code": code, "state": state}),
            "invalid_grant", "used already")  # fmt: skip
    location, _ = start(web)
    state = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}["state"]
    refused(web.get("/signin/callback", params={"code": "made-up", "state": state}),
            "invalid_grant")  # fmt: skip
    refused(web.get("/signin/callback", params={"state": state}))


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"nonce": "n-" + "0" * 41}, ("nonce",)),
        ({"nonce": None}, ("nonce",)),
        ({"aud": "another-client"}, ("audience", CLIENT_ID)),
        ({"iss": "https://elsewhere.example"}, ("wrong issuer",)),
        ({"exp": int(time.time()) - 600}, ("expired",)),
        ({"_key": OTHER_KEY}, ("bad signature",)),
        ({"shoal_tenant": None}, ("tenant",)),
    ],
)
def test_an_id_token_that_does_not_hold_is_refused(
    web: TestClient, idp: FakeIdp, claims: dict[str, Any], words: tuple[str, ...]
) -> None:
    refused(sign_in(web, idp, **claims), "ID token", *words)
    assert web.get(FLEET).status_code == 401


def test_the_issuers_error_is_shown_by_its_code_only(web: TestClient, idp: FakeIdp) -> None:
    start(web)
    denied = web.get("/signin/callback", params={"error": "access_denied", "state": "s",
                     "error_description": "user cancelled"})  # fmt: skip
    refused(denied, "access_denied", "did not sign you in")
    forged = web.get("/signin/callback", params={"error": "<b>call 555-0100 for help</b>"})
    text = refused(forged, "(an error)")
    assert "555-0100" not in text


def test_a_wrong_client_secret_is_an_administrators_problem(
    client: shoal.Client, idp: FakeIdp
) -> None:
    with TestClient(web_app(client, idp, client_secret="wrong-secret-zz9"),
                    base_url=LOCAL) as web:  # fmt: skip
        text = refused(sign_in(web, idp), "SHOAL_OIDC_CLIENT_SECRET")
    assert idp.secret is not None and idp.secret not in text and "wrong-secret-zz9" not in text


def test_discovery_must_name_the_configured_issuer(web: TestClient, idp: FakeIdp) -> None:
    idp.discovered_issuer = "https://impostor.example"
    went = web.get("/signin/oidc", params={"next": FLEET}, follow_redirects=False)
    refused(went, "another issuer", "SHOAL_OIDC_ISSUER")
    assert "shoal_oidc" not in cookies_of(went)


def test_an_unreachable_issuer_is_said_plainly(client: shoal.Client, idp: FakeIdp) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with TestClient(web_app(client, idp, issuer=gone), base_url=LOCAL) as web:
        went = web.get("/signin/oidc", follow_redirects=False)
        refused(went, "could not be reached")


# -- configuration and redirects ---------------------------------------------------------------


def test_without_a_client_id_there_is_no_redirect_sign_in(
    client: shoal.Client, idp: FakeIdp
) -> None:
    for oidc in (None, OidcSettings(issuer=idp.issuer, jwks=f"{idp.issuer}/jwks")):
        app = create_web_app(client, auth=Auth(enabled=True, oidc=oidc))
        with TestClient(app, base_url=LOCAL) as web:
            went = web.get("/signin/oidc", follow_redirects=False)
            assert went.status_code == 404 and "SHOAL_OIDC_CLIENT_ID" in went.text
            assert web.get("/signin/callback?code=c&state=s").status_code == 404
            assert "Sign in with single sign-on" not in web.get("/signin").text
            assert "Sign in with single sign-on" not in web.get(FLEET).text  # the 401 page
    with TestClient(web_app(client, idp), base_url=LOCAL) as web:
        page = web.get(FLEET)
        assert page.status_code == 401 and "Sign in with single sign-on" in page.text


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "/\t/evil.example",
                                    "/\\evil.example", ""])  # fmt: skip
def test_next_stays_on_this_site(web: TestClient, idp: FakeIdp, target: str) -> None:
    done = sign_in(web, idp, next=target)
    assert done.status_code == 200, done.text
    assert '<meta http-equiv="refresh" content="0; url=/">' in done.text
    assert "evil" not in done.text


def test_no_code_token_or_secret_is_shown_or_logged(
    web: TestClient, idp: FakeIdp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = []
    for claims in ({}, {"nonce": "wrong"}, {"aud": "x"}):
        bodies.append(sign_in(web, idp, **claims).text)
        web.cookies.clear()
    location, _ = start(web)
    code, state = idp.authorize(location)
    bodies.append(web.get("/signin/callback", params={"code": code, "state": "bad"}).text)
    location, _ = start(web)
    _, state = idp.authorize(location)
    bodies.append(web.get("/signin/callback", params={"code": code, "state": state}).text)
    bodies.append(web.get(FLEET).text)
    secret_things = [s for s in [*idp.secrets_out, idp.secret] if s]
    assert len(secret_things) >= 10
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
        if not (r.name.startswith("httpx") and f"{LOCAL}/" in r.getMessage())  # the test's own
    )  # fmt: skip
    assert "token endpoint" in logged  # the refused exchange was logged, without the code
    for thing in secret_things:
        assert all(thing not in body for body in bodies), "a secret is in a page"
        assert thing not in logged, "a secret is in the log"
