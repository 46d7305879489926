"""The history pages in a real browser: alias moves with an undo from the list, runs, and a
dataset's reverse lineage to a model. Every page is checked by axe-core and for overflow at
1,280 px; screenshots are kept under ``test-artifacts/screens/<test>/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from tests.browser import BROWSER, accessible, serve, shot

import shoal
from shoal.flavors.linear import LinearModel

pytestmark = BROWSER


def fit(frame: pd.DataFrame) -> Any:
    return LinearRegression().fit(frame[["price"]], frame["units"])


@pytest.fixture
def site(tmp_path) -> Iterator[str]:
    """20 registered models with production on all, two trained on a dataset, one move."""
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    demand = client.fleet("grocer/demand", keys=["store", "sku"])
    stores = [f"s{i:02d}" for i in range(10)]
    demand.register(
        {"key": {"store": s, "sku": k}, "model": LinearModel(1.0, {"price": -0.5}),
         "metrics": {"mape": 0.1}}
        for s in stores for k in ("A77", "B12")
    )  # fmt: skip
    demand.set_alias("production", {(s, k): 1 for s in stores for k in ("A77", "B12")},
                     create=True)  # fmt: skip
    sales = pd.DataFrame({"store": ["s00"] * 4 + ["s01"] * 4, "sku": ["A77"] * 8,
                          "price": [1.0, 2, 3, 4] * 2, "units": [4.0, 3, 2, 1] * 2})  # fmt: skip
    demand.train(sales, fit, workers=1, progress=False, dataset_name="sales-2026")
    demand.promote("candidate", "store = 's00'", source="latest", create=True)
    with serve(client) as url:
        yield url
    client.close()


def test_undo_a_move_from_the_list_then_runs_and_a_dataset_to_its_model(
    site: str, page: Any
) -> None:
    page.goto(site + "/fleets/grocer/demand")
    accessible(page)
    page.goto(site + "/fleets/grocer/demand/alias-moves")
    assert page.get_by_role("heading", name="Alias moves of grocer/demand").is_visible()
    newest = page.locator("#moves tbody tr").first
    assert "candidate" in newest.inner_text() and "store = 's00'" in newest.inner_text()
    accessible(page)
    shot(page, "01-alias-moves")
    page.get_by_role("button", name="Undo move 2").click()
    page.wait_for_url("**/fleets/grocer/demand/alias-moves?done=*")
    assert "Undid move 2" in page.get_by_role("status").inner_text()
    assert page.get_by_role("button", name="Undo move 2").count() == 0
    assert "undone by move 3" in page.locator("#moves").inner_text()
    accessible(page)
    shot(page, "02-undone")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    page.wait_for_url("**/runs")
    row = page.locator("#runs tbody tr").first
    assert "train" in row.inner_text() and "2 trained, 0 failed of 2 keys" in row.inner_text()
    accessible(page)
    shot(page, "03-runs")
    row.get_by_role("link").first.click()
    page.wait_for_url("**/runs/*")
    assert "succeeded" in page.get_by_role("heading", level=1).inner_text()
    accessible(page)
    shot(page, "04-run")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Datasets").click()
    page.wait_for_url("**/datasets")
    assert "grocer/sales-2026" in page.locator("#datasets").inner_text()
    accessible(page)
    shot(page, "05-datasets")
    page.get_by_role("link", name="grocer/sales-2026").click()
    page.wait_for_url("**/datasets/*")
    assert "price" in page.locator("main").inner_text()
    accessible(page)
    shot(page, "06-dataset")
    page.get_by_role("link", name="store=s00,sku=A77").click()
    page.wait_for_url("**/models/store=s00,sku=A77?version=2")
    assert page.get_by_role("heading", name="Version 2").is_visible()
    accessible(page)
    shot(page, "07-model")
