"""The fleet page in a real browser: find a store beyond the top ten, chart the matches,
switch the metric, and open a model by its whole-key row link (Debian's chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser import BROWSER, accessible, serve, shot

import shoal
from shoal.flavors.linear import LinearModel

pytestmark = BROWSER


@pytest.fixture
def site(tmp_path) -> Iterator[str]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    demand = client.fleet("grocer/demand", keys=["store", "sku"])
    demand.register(
        {"key": {"store": f"s{i:03d}", "sku": sku}, "model": LinearModel(1.0, {"price": -0.5}),
         "metrics": {"rmse": 1.0 + i / 10 + j, "bias": 0.01 * i - j},
         "tags": {"region": ("north", "south")[i % 2], "category": sku.split("-")[0]}}
        for i in range(40) for j, sku in enumerate(("dairy-08", "bakery-02"))
    )  # fmt: skip
    with serve(client) as url:
        yield url
    client.close()


def test_find_a_store_chart_it_and_open_a_model(site: str, page: Any) -> None:
    page.goto(site + "/fleets/grocer/demand")
    assert page.get_by_role("link", name="More store values").is_visible()
    page.locator("#histogram .main-svg").first.wait_for()  # drawn after the page loaded
    accessible(page)
    shot(page, "01-fleet")

    page.get_by_role("searchbox", name="Find a store").fill("013")
    page.get_by_role("searchbox", name="Find a store").press("Enter")
    page.wait_for_url("**q=013*")
    page.get_by_role("link", name="s013", exact=True).click()
    page.wait_for_url("**where=store*")
    rows = page.locator("#model-table tbody tr")
    assert rows.count() == 2
    assert "of 2 matching models" in page.locator("#chart-scope").inner_text()
    page.locator("#histogram .main-svg").first.wait_for()  # drawn after the page loaded
    accessible(page)
    shot(page, "02-filtered")

    page.get_by_role("combobox", name="Metric").select_option("bias")
    page.get_by_role("button", name="Chart").click()
    page.wait_for_url("**metric=bias*")
    assert "bias of 2 matching models" in page.locator("#chart-scope").inner_text()
    assert page.locator("#model-table tbody tr").count() == 2  # the filter stays
    shot(page, "03-metric")

    page.get_by_role("link", name="s013 · dairy-08").click()
    page.wait_for_url("**/models/store=s013,sku=dairy-08")
    accessible(page)
    shot(page, "04-model")
