"""First paint in a fresh browser tab: what a person waits for before a page shows anything.

The server time of ``_pages_cases`` is not what a person sees: a page that answers in 20 ms
can still paint after seconds if its ``<head>`` makes the browser fetch and parse a large
script first. Here Debian's chromium (driven by playwright, never downloaded) opens each
page in a fresh browser context (an empty cache, as a new tab of a new visitor), and the
browser's own ``first-contentful-paint`` entry is read, ``repeat`` times per page, against
the app served on a loopback port (uvicorn in a thread) over the seeded store.
Target: under 500 ms for every page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import percentile

CHROMIUM = Path("/usr/bin/chromium")
TARGET_PAINT_MS = 500.0
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
FIRST_PAINT = (
    "() => new Promise(done => new PerformanceObserver((list, observer) => {"
    " const paint = list.getEntries().find(e => e.name === 'first-contentful-paint');"
    " if (paint) { observer.disconnect(); done(paint.startTime); }"
    "}).observe({type: 'paint', buffered: true}))"
)


@dataclass
class Paint:
    name: str
    url: str
    paints_ms: list[float] = field(default_factory=list)
    error: str = ""

    def pct(self, q: float) -> float:
        return percentile(self.paints_ms, q) if self.paints_ms else float("nan")

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.paints_ms) and self.pct(100) < TARGET_PAINT_MS


def available() -> str | None:
    """Why first paint cannot be measured here, or None when it can."""
    if not CHROMIUM.exists():
        return f"no chromium at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the dev extras)"
    return None


def measure_paints(base_url: str, pages: list[tuple[str, str]], repeat: int,
                   advance: Any) -> list[Paint]:  # fmt: skip
    """Each page's first-contentful-paint, ``repeat`` times, each in a fresh context."""
    from playwright.sync_api import sync_playwright

    results = [Paint(name, url) for name, url in pages]
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            for result in results:
                for _ in range(repeat + 1):  # the first load warms the server, untimed
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    try:
                        tab = context.new_page()
                        answer = tab.goto(base_url + result.url, wait_until="commit")
                        if answer is None or answer.status != 200:
                            result.error = f"HTTP {answer.status if answer else 'no answer'}"
                            break
                        result.paints_ms.append(float(tab.evaluate(FIRST_PAINT)))
                    finally:
                        context.close()
                if result.paints_ms:
                    result.paints_ms.pop(0)
                advance(1)
        finally:
            browser.close()
    return results
