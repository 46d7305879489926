"""Champion against challenger in a real browser: compare, roll up by store, open a model
and come back; preview the promotion with its metric change; a typo in the source alias."""

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
    stores = [f"s{i:02d}" for i in range(6)]
    for version in (1, 2):
        demand.register(
            {"key": {"store": s, "sku": k}, "model": LinearModel(float(version), {"p": 1.0}),
             "metrics": {"mape": 0.2 + i / 100 + (0 if version == 1 else
                                                  (0.02 if k == "C" else -0.05))}}
            for i, s in enumerate(stores) for k in ("A", "B", "C")
        )  # fmt: skip
    demand.set_alias("production", {(s, k): 1 for s in stores for k in "ABC"}, create=True)
    demand.set_alias("candidate", {(s, k): 2 for s in stores[:4] for k in "ABC"}, create=True)
    with serve(client) as url:
        yield url
    client.close()


def test_champion_rollup_model_and_preview(site: str, page: Any) -> None:
    page.goto(site + "/fleets/grocer/demand/champion?a=production&b=candidate&metric=mape")
    assert "candidate better in 8" in page.locator("main").inner_text()
    accessible(page)
    shot(page, "01-champion")
    page.get_by_label("Roll up by").select_option("store")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**by=store**")
    rollup = page.locator("table.rollup").inner_text()
    assert "s00" in rollup and "s03" in rollup
    accessible(page)
    shot(page, "02-by-store")
    page.get_by_role("link", name="store=s00,sku=A").click()
    page.wait_for_url("**/models/store=s00,sku=A")
    page.wait_for_load_state("networkidle")  # its charts' script loaded before going back
    page.go_back()
    page.wait_for_url("**by=store**")
    page.get_by_role("button", name="Preview moving production to candidate").click()
    body = page.locator("main").inner_text()
    assert "Would move" in body and "8 better, 0 worse" in body
    accessible(page)
    shot(page, "03-preview")
    page.goto(site + "/fleets/grocer/demand?where=store%20%3D%20%27s01%27")
    page.wait_for_load_state("networkidle")  # its chart's script loaded before moving on
    page.get_by_role("textbox", name="Alias").fill("production")
    page.get_by_role("textbox", name="Source").fill("candiate")
    page.get_by_role("button", name="Preview").click()
    assert "did you mean 'candidate'" in page.get_by_role("alert").inner_text()
    accessible(page)
    shot(page, "04-typo")
