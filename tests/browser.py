"""The browser every page test drives: Debian's chromium through playwright, offline.

``page`` is a fresh tab in a fresh profile whose console must stay free of errors (a missing
script, a failed request, a JavaScript error); ``shot`` keeps a full-page screenshot under
``test-artifacts/screens/<test>/``; ``accessible`` runs axe-core (bundled in the
``axe-playwright-python`` package, never downloaded) and fails on any serious or critical
violation; ``first_paint_ms`` reads the browser's own first-contentful-paint timing.

conftest.py loads this module as a plugin, so ``page`` is a fixture of every test; a browser
test module sets ``pytestmark = BROWSER`` (slow, skipped where chromium is missing).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shoal.web import create_web_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screens"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]
SERIOUS = ("serious", "critical")


@pytest.fixture
def page(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh chromium tab (1,280 px wide); the test fails on any console error."""
    sync_api = pytest.importorskip("playwright.sync_api")
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        tab = browser.new_page()
        problems: list[str] = []
        tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.on("requestfailed", lambda r: _aborted(r) or problems.append(f"failed: {r.url}"))
        tab.artifacts = folder  # type: ignore[attr-defined]
        tab.problems = problems  # type: ignore[attr-defined]
        yield tab
        browser.close()
    assert problems == [], problems


def _aborted(request: Any) -> bool:
    """A request the browser dropped because the page navigated away (plotly, fetched after
    the load event, is often still on its way when a test clicks on): not a failure."""
    return "ERR_ABORTED" in (request.failure or "")


def shot(page: Any, name: str) -> None:
    """A full-page screenshot, kept for a person to look at."""
    page.screenshot(path=str(page.artifacts / f"{name}.png"), full_page=True)


def _axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


def accessible(page: Any) -> None:
    """axe-core over the page as it stands: no serious or critical violation, and no
    horizontal overflow at the tab's width (a table or card wider than the screen)."""
    pytest.importorskip("axe_playwright_python")
    page.evaluate(_axe_source())  # evaluated by the browser's devtools protocol: the CSP allows it
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    serious = [v for v in found if v["impact"] in SERIOUS]
    assert serious == [], f"{page.url}: {serious}"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow} px wider than the window"


def first_paint_ms(page: Any) -> float:
    """The browser's first-contentful-paint of the page now shown, in milliseconds."""
    return float(
        page.evaluate(
            "() => new Promise(done => new PerformanceObserver((list, observer) => {"
            " const paint = list.getEntries().find(e => e.name === 'first-contentful-paint');"
            " if (paint) { observer.disconnect(); done(paint.startTime); }"
            "}).observe({type: 'paint', buffered: true}))"
        )
    )


@contextmanager
def serve(client: Any, **options: Any) -> Iterator[str]:
    """The web app over ``client`` on a free loopback port, auth off unless ``auth=`` says;
    yields the site's base URL (no trailing slash)."""
    from shoal.http.auth import Auth
    from shoal.testing import ThreadServer

    options.setdefault("auth", Auth.off())
    with ThreadServer(create_web_app(client, **options)) as server:
        yield str(server.url).rstrip("/")
