"""Hardening headers and the Host allow-list on both HTTP apps, and pages with no inline script.

Every answer of the web app (JSON, pages, error pages, static files, a 500) and of the
prediction server carries the Content-Security-Policy and its companions; a request for a
Host the server does not answer to (DNS rebinding) is a 400 in the JSON error shape. A
real chromium loads the pages of a small monitored fleet under that policy: no violation,
no console message, and plotly still draws.
"""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from tests import monitor_world as world

import shoal
from shoal import config
from shoal.errors import InvalidInput
from shoal.http.auth import Auth
from shoal.http.headers import CONTENT_SECURITY_POLICY, HEADERS, host_name
from shoal.serve import create_app
from shoal.testing import ThreadServer
from shoal.web import create_web_app

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = [ROOT / "src/shoal/web/templates", ROOT / "src/shoal/report/templates"]
LOCAL = "http://127.0.0.1"
MODEL = "store=s01,sku=k02"
FLEET = "/fleets/grocer/demand"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "screens"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[shoal.Client]:
    """grocer/demand: 3 x 4 models monitored over two days, one drifting with an open alert."""
    root = tmp_path_factory.mktemp("headers")
    client = shoal.connect(f"sqlite:///{root / 'shoal.db'}", str(root / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    world.monitored_two_days(fleet, root, drift=frozenset({"s01/k02"}))
    yield client
    client.close()


@pytest.fixture
def web(store: shoal.Client) -> Iterator[TestClient]:
    app = create_web_app(store, auth=Auth.off())

    @app.get("/api/v1/boom")
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/framed-on-purpose")
    def own_header() -> PlainTextResponse:
        return PlainTextResponse("mine", headers={"X-Frame-Options": "SAMEORIGIN"})

    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as http:
        yield http


@pytest.fixture
def serve(store: shoal.Client, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(store, auth=Auth.off(), logs_url=str(tmp_path / "logs")), base_url=LOCAL
    ) as http:
        yield http


def assert_hardened(reply: httpx.Response) -> None:
    for name, value in HEADERS:
        assert reply.headers.get_list(name) == [value], (name, reply.request.url)


def test_every_web_answer_carries_the_headers(web: TestClient) -> None:
    answers = {
        "json": web.get("/api/v1/tenants"),
        "page": web.get(FLEET),
        "model page": web.get(f"{FLEET}/models/{MODEL}"),
        "error page": web.get("/no/such/page"),
        "json error": web.get("/api/v1/nope"),
        "css": web.get("/static/shoal.css"),
        "charts": web.get("/static/charts.js"),
        "plotly": web.get("/static/plotly.min.js"),
        "500 page": web.get("/boom"),
        "500 json": web.get("/api/v1/boom"),
    }
    statuses = {name: reply.status_code for name, reply in answers.items()}
    assert statuses == {**dict.fromkeys(answers, 200), "error page": 404, "json error": 404,
                        "500 page": 500, "500 json": 500}  # fmt: skip
    for reply in answers.values():
        assert_hardened(reply)
    assert answers["charts"].headers["content-type"].startswith("text/javascript")
    assert "Plotly.newPlot" in answers["charts"].text
    assert "text/html" in answers["500 page"].headers["content-type"]


def test_a_header_the_app_sets_itself_is_kept(web: TestClient) -> None:
    reply = web.get("/framed-on-purpose")
    assert reply.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_every_prediction_server_answer_carries_the_headers(serve: TestClient) -> None:
    rows = [{"store": "s00", "sku": "k00", "x1": 10.0, "x2": 0.5, "promo": False}]
    answers = [
        serve.get("/healthz"),
        serve.get("/metrics"),
        serve.post("/api/v1/fleets/grocer/demand/predict", json={"rows": rows, "version": 1}),
        serve.post("/api/v1/fleets/grocer/nope/predict", json={"rows": rows}),
        serve.post("/api/v1/fleets/grocer/demand/predict", json={"rows": []}),
    ]
    assert [r.status_code for r in answers] == [200, 200, 200, 404, 422]
    for reply in answers:
        assert_hardened(reply)


def refused(reply: httpx.Response, host: str) -> dict[str, Any]:
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = reply.json()["error"]
    assert error["type"] == "InvalidHost" and error["field"] == "host"
    assert host in error["message"], error
    assert "--allow-host" in error["message"] and "SHOAL_ALLOWED_HOSTS" in error["message"]
    assert error["request_id"] == reply.headers["x-request-id"]
    assert_hardened(reply)
    return error


@pytest.fixture(params=["web", "serve"])
def running(
    request: pytest.FixtureRequest, store: shoal.Client, tmp_path: Path
) -> Iterator[tuple[ThreadServer, str]]:
    """Each app on a real uvicorn on 127.0.0.1 (what a DNS-rebinding page would reach),
    and a path it answers 200 to."""
    if request.param == "web":
        app, path = create_web_app(store, auth=Auth.off()), "/api/v1/tenants"
    else:
        app, path = create_app(store, auth=Auth.off(), logs_url=str(tmp_path / "logs")), "/healthz"
    with ThreadServer(app) as server:
        yield server, path


def test_a_foreign_host_is_refused_and_the_loopback_names_pass(
    running: tuple[ThreadServer, str],
) -> None:
    server, path = running
    with httpx.Client(base_url=server.url, timeout=10) as http:
        error = refused(http.get(path, headers={"Host": "attacker.example"}), "attacker.example")
        assert "--allow-host attacker.example" in error["message"]
        rebound = http.get(path, headers={"Host": f"attacker.example:{server.port}"})
        refused(rebound, "attacker.example")
        refused(http.post(path, headers={"Host": "attacker.example"}, json={}), "attacker.example")
        for host in (f"localhost:{server.port}", "localhost", f"127.0.0.1:{server.port}",
                     f"[::1]:{server.port}", "LOCALHOST.", "[::1]"):  # fmt: skip
            reply = http.get(path, headers={"Host": host})
            assert reply.status_code == 200, (host, reply.text)
            assert_hardened(reply)


def test_a_request_without_a_host_is_refused(running: tuple[ThreadServer, str]) -> None:
    """HTTP/1.0 may leave Host out: that names no server, so it is refused too."""
    server, _ = running
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b'"InvalidHost"' in body and b"no Host header" in body
    assert b"content-security-policy" in head.lower()


def test_extra_hosts_from_the_argument_and_the_setting(
    store: shoal.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_ALLOWED_HOSTS", " models.corp , *.example.com,")
    assert config.allowed_hosts() == ["models.corp", "*.example.com"]
    assert config.ALLOWED_HOSTS in config.SETTINGS
    apps = {
        "web": create_web_app(store, auth=Auth.off(), allowed_hosts=["shoal.internal"]),
        "serve": create_app(store, auth=Auth.off(), logs_url=str(tmp_path / "logs"),
                            allowed_hosts=["shoal.internal"]),
    }  # fmt: skip
    for name, app in apps.items():
        path = "/api/v1/tenants" if name == "web" else "/healthz"
        with TestClient(app, base_url="http://shoal.internal:8080") as http:
            for host in ("shoal.internal:8080", "models.corp", "a.example.com",
                         "deep.a.example.com:443", "A.Example.COM"):  # fmt: skip
                assert http.get(path, headers={"Host": host}).status_code == 200, (name, host)
            for host in ("example.com", "evilexample.com", "example.com.attacker.net",
                         "a.example.com.evil", "testserver", "other.internal"):  # fmt: skip
                refused(http.get(path, headers={"Host": host}), host)


def test_the_default_test_host_is_not_allowed(store: shoal.Client) -> None:
    with TestClient(create_web_app(store, auth=Auth.off())) as http:  # base_url http://testserver
        refused(http.get("/api/v1/tenants"), "testserver")
    with TestClient(create_web_app(store, auth=Auth.off(), allowed_hosts=["testserver"])) as http:
        assert http.get("/api/v1/tenants").status_code == 200


@pytest.mark.parametrize("entry", ["*", "*.", "a*.example.com", "http://x.example", "a b"])
def test_a_malformed_allowed_host_is_refused_at_once(
    store: shoal.Client, entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInput, match="allowed host"):
        create_web_app(store, auth=Auth.off(), allowed_hosts=[entry])
    monkeypatch.setenv("SHOAL_ALLOWED_HOSTS", f"ok.example,{entry}")
    with pytest.raises(InvalidInput, match="allowed host"):
        create_web_app(store, auth=Auth.off())


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("LocalHost.", "localhost"),
        ("shoal.example.com:443", "shoal.example.com"),
        ("host:port", None),
        ("[::1", None),
        ("[::1]x", None),
        ("[evil.com]", None),
        ("a b", None),
        ("a/b", None),
        ("", None),
        ("-bad.example", None),
    ],
)
def test_host_names_are_read_as_a_browser_sends_them(host: str, name: str | None) -> None:
    assert host_name(host) == name


class Scripts(HTMLParser):
    """Every script tag's attributes, inline handlers and javascript: URLs of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.unsafe: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
        for name, value in attrs:
            if name.startswith("on"):
                self.unsafe.append(f"<{tag} {name}=...>")
            if (value or "").strip().lower().startswith("javascript:"):
                self.unsafe.append(f"<{tag} {name}={value}>")


def test_no_page_holds_an_inline_script(web: TestClient, store: shoal.Client) -> None:
    run = next(iter(store.fleet("grocer/demand").runs()))
    pages = {
        "home": web.get("/"),
        "fleet": web.get(FLEET),
        "filtered": web.get(FLEET, params={"where": "mape > 0.05", "sort": "-mape"}),
        "model": web.get(f"{FLEET}/models/{MODEL}"),
        "compare": web.get(f"{FLEET}/models/{MODEL}/compare", params={"a": 1, "b": 1}),
        "card": web.get(f"{FLEET}/models/{MODEL}/card"),
        "report": web.get(f"{FLEET}/report"),
        "monitoring": web.get(f"{FLEET}/monitoring"),
        "alerts": web.get("/alerts"),
        "run": web.get(f"/runs/{run.id}"),
        "preview": web.post(f"{FLEET}/aliases", data={"alias": "production", "where": ""}),
        "error": web.get("/no/such/page"),
    }
    charts = 0
    for name, reply in pages.items():
        assert "text/html" in reply.headers["content-type"], name
        assert_hardened(reply)
        parsed = Scripts()
        parsed.feed(reply.text)
        inline = [
            s for s in parsed.scripts if not s.get("src") and s.get("type") != "application/json"
        ]
        assert inline == [], (name, inline)
        assert parsed.unsafe == [], (name, parsed.unsafe)
        charts += sum(s.get("src") == "/static/charts.js" for s in parsed.scripts)
    assert charts >= 3  # the fleet pages' histogram and the model page's trend


def test_no_template_holds_an_inline_script_or_handler() -> None:
    for folder in TEMPLATES:
        for template in sorted(folder.iterdir()):
            text = template.read_text()
            for tag in re.findall(r"<script\b[^>]*>", text, flags=re.I):
                assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
            assert not re.search(r"\son[a-z]+\s*=", text, flags=re.I), template.name
            assert "javascript:" not in text.lower(), template.name


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin")
def test_the_pages_draw_their_charts_in_chromium_under_the_policy(
    store: shoal.Client, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    messages: list[str] = []
    with (
        ThreadServer(create_web_app(store, auth=Auth.off())) as server,
        sync_api.sync_playwright() as play,
    ):
        browser = play.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        tab = browser.new_page()
        tab.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        tab.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        tab.on("requestfailed", lambda r: messages.append(f"failed: {r.url}"))
        # Runs before the page's own scripts (and outside its policy): keeps every violation.
        tab.add_init_script(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.__violations"
            ".push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile));"
        )
        for name, path, chart in (("fleet", FLEET, "#histogram"),
                                  ("model", f"{FLEET}/models/{MODEL}", "#drift")):  # fmt: skip
            reply = tab.goto(server.url + path)
            assert reply is not None and reply.status == 200
            assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            tab.locator(f"{chart} svg.main-svg").first.wait_for(timeout=15_000)
            assert tab.locator(f"{chart} .plot-container").count() == 1
            tab.wait_for_load_state("networkidle")
            tab.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            assert tab.evaluate("window.__violations") == [], name
        assert messages == [], messages
        # The policy is in force, and the listener would have seen a violation: an inline
        # script added now does not run, and is reported.
        ran = tab.evaluate(
            "() => { const s = document.createElement('script'); s.textContent ="
            " 'window.__ran = true'; document.body.append(s); return window.__ran === true; }"
        )
        assert ran is False
        tab.wait_for_function("window.__violations.length > 0")
        assert "script-src" in tab.evaluate("window.__violations")[0]
        browser.close()
