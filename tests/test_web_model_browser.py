"""The model page in chromium: its charts draw after the content, it fits 1,280 px and
passes axe-core; compare reads as changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import monitor_world as world
from tests.browser import BROWSER, accessible, serve, shot

import shoal

pytestmark = BROWSER


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    world.monitored_two_days(fleet, tmp_path, drift=frozenset({"s01/k02"}))
    with serve(client) as url:
        yield url
    client.close()


def test_a_drifting_model_reads_as_charts_and_fits_the_screen(site: str, page: Any) -> None:
    page.goto(site + "/fleets/grocer/demand/models/store=s01,sku=k02")
    page.locator("#drift .main-svg").first.wait_for()  # drawn once the page had loaded
    page.locator("#errors .main-svg").first.wait_for()
    accessible(page)
    shot(page, "01-model")
