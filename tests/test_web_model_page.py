"""The model page and the compare page as a fleet owner reads them (issue 17, item 3).

The dataset and the run are links; the key slice reads as its key, the time range of its
rows and their count (from the baseline training recorded), never a bare fingerprint;
numbers are readable (no 16-digit floats); monitoring is drawn as charts across windows
whose script loads after the content; two versions compare with each metric's change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression
from tests import monitor_world as world

import shoal
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.web import create_web_app

MODEL = "/fleets/grocer/demand/models/store=s00,sku=A77"


def fit(frame: pd.DataFrame) -> Any:
    model = LinearRegression().fit(frame[["price"]], frame["units"])
    return {
        "model": model,
        "metrics": {"mape": 0.123456789012, "rmse": 12345.678},
        "tags": {"region": "north"},
    }


@pytest.fixture
def client(tmp_path: Path) -> Iterator[shoal.Client]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    demand = client.fleet("grocer/demand", keys=["store", "sku"])
    first = LinearModel(1.0, {"price": -0.5})
    demand.register([{"key": {"store": "s00", "sku": "A77"}, "model": first,
                      "metrics": {"mape": 0.2, "rmse": 12000.0},
                      "params": {"features": "+".join(f"feature_{i}" for i in range(40))},
                      "tags": {"region": "north", "format": "express"}}])  # fmt: skip
    frame = pd.DataFrame({
        "date": pd.date_range("2025-01-06", periods=10, freq="D"),
        "store": "s00", "sku": "A77", "price": [float(i) for i in range(10)],
        "units": [10.0 - i for i in range(10)],
    })  # fmt: skip
    demand.train(frame, fit, workers=1, progress=False)
    yield client
    client.close()


def test_the_model_page_links_its_dataset_and_names_its_key_slice(client: shoal.Client) -> None:
    http = TestClient(create_web_app(client, auth=Auth.off()), base_url="http://127.0.0.1")
    page = http.get(MODEL).text
    dataset = client.lineage(client.fleet("grocer/demand").get({"store": "s00", "sku": "A77"}))
    assert dataset.dataset is not None
    assert f'href="/datasets/{dataset.dataset.id}"' in page
    slice_text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.split("key slice")[1]))
    assert "store=s00, sku=A77 · date 2025-01-06..2025-01-15 · 10 rows" in slice_text
    assert "0.1235" in page and "0.123456789" not in page  # four significant digits
    assert "12,346" in page  # thousands separated, no decimals past four digits
    assert re.search(r'<th scope="row">region</th><td><a href="[^"]*region', page)  # tags link
    assert "plotly.min.js" not in page  # no chart, no 4.8 MB script


def test_compare_shows_each_metrics_change(client: shoal.Client) -> None:
    http = TestClient(create_web_app(client, auth=Auth.off()), base_url="http://127.0.0.1")
    page = http.get(MODEL + "/compare?a=1&b=2").text
    row = re.search(r"<th scope=\"row\">mape.*?</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(0))
    assert cells == ["0.2", "0.1235", "-0.0765"]
    assert re.search(r"created.*\d{4}-\d\d-\d\d \d\d:\d\d UTC", page, re.S)


@pytest.fixture
def monitored(tmp_path: Path) -> Iterator[shoal.Client]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    world.monitored_two_days(fleet, tmp_path, drift=frozenset({"s01/k02"}))
    yield client
    client.close()


def test_monitoring_is_charted_across_windows_after_the_content(monitored: shoal.Client) -> None:
    http = TestClient(create_web_app(monitored, auth=Auth.off()), base_url="http://127.0.0.1")
    page = http.get("/fleets/grocer/demand/models/store=s01,sku=k02").text
    assert 'id="errors-data"' in page and 'id="drift-data"' in page
    assert '<script src="/static/charts.js" defer></script>' in page
    assert "plotly.min.js" not in page  # charts.js fetches it after the load event
    script = http.get("/static/charts.js").text
    assert 'addEventListener("load"' in script and "/static/plotly.min.js" in script
