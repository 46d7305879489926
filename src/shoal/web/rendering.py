"""How every page renders: one Jinja2 environment and the filters that make values readable.

Every page module renders through :data:`templates`, so a date, a number or a chart's data
reads the same on every page: ``when`` (UNIX seconds as ``2026-12-07 11:14 UTC``), ``num``
(a metric as a person reads it: four significant digits, thousands separated), ``count``
(an integer with thousands separated), ``delta`` (a signed change) and ``chart_json`` (a
chart's data for charts.js). A flash message (what an action just did) travels in the
``done`` query parameter of the page the action redirects to, so a refresh cannot repeat
the action and the page can still say what happened.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from shoal.sdk.fleet import Fleet
from shoal.sdk.times import readable

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

DONE_CHARS = 300
"""The longest flash message a page shows (a crafted link cannot fill a page)."""


def chart_json(data: Any) -> Markup:
    """Chart data for a ``<script type="application/json">`` block, read by charts.js:
    HTML-safe as ``tojson`` is, with NaN and infinities as null (JSON.parse reads no NaN)."""

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [finite(v) for v in value]
        return value

    return htmlsafe_json_dumps(finite(data))


def number(value: Any, digits: int = 4) -> str:
    """A metric as a person reads it: 0.1235, 12,346, 1.235e-05; nothing as "", and a
    value that is no number as it is (a page must not fail on a value it only shows)."""
    if value is None or value == "" or isinstance(value, bool):
        return "" if value is None or value == "" else str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "n/a" if math.isnan(x) else ("∞" if x > 0 else "-∞")
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    if 1 <= abs(x) < 1e15:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
        text = f"{x:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if 1e-3 <= abs(x) < 1:
        return f"{x:.{digits}g}"
    return f"{x:.{digits - 1}e}"


def count(value: Any) -> str:
    """An integer with its thousands separated; nothing as ""."""
    if value is None:
        return ""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def delta(value: Any, digits: int = 3) -> str:
    """A signed change: +0.012, -3.4; nothing as ""."""
    if value is None:
        return ""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return number(x)
    return ("+" if x > 0 else "") + number(x, digits)


def with_done(url: str, message: str) -> str:
    """``url`` with a flash message the page it leads to shows once (see the module doc)."""
    url, hash_, fragment = url.partition("#")
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}{urlencode({'done': message[:DONE_CHARS]})}{hash_}{fragment}"


def model_path(fleet: Fleet, key: dict[str, Any]) -> str:
    """A model's page, ``/fleets/T/F/models/store=s01,sku=A77``: its key in the fleet's order."""
    model = quote(",".join(f"{k}={key[k]}" for k in fleet.keys), safe="=,/")
    return f"/fleets/{fleet.path}/models/{model}"


def model_href(fleet_path: str, keys: Any, key: dict[str, Any]) -> str:
    """:func:`model_path` for templates that hold a fleet's path and key names (``keys``:
    the fleet's key order; None or empty: the order of ``key``), quoted the same way."""
    order = list(keys) if keys else list(key)
    model = quote(",".join(f"{k}={key[k]}" for k in order), safe="=,/")
    return f"/fleets/{fleet_path}/models/{model}"


def fleet_context(fleet: Fleet) -> dict[str, Any]:
    """What every page of a fleet shows of it: its tenant, name, path and key dimensions."""
    tenant, name = fleet.path.split("/", 1)
    return {"tenant": tenant, "fleet": name, "path": fleet.path, "keys": list(fleet.keys)}


def model_row(fleet: Fleet, version: Any) -> dict[str, Any]:
    """A model version as a table row: its key, version, aliases, metrics and page."""
    return {"key": version.key, "version": version.version, "aliases": version.aliases,
            "metrics": version.metrics, "tags": getattr(version, "tags", {}),
            "url": model_path(fleet, version.key)}  # fmt: skip


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    """A page, with the flash message of the action that led here, if any."""
    done = request.query_params.get("done")
    context.setdefault("done", done[:DONE_CHARS] if done else None)
    return templates.TemplateResponse(request, name, context)


templates.env.filters["when"] = readable
templates.env.filters["chart_json"] = chart_json
templates.env.filters["num"] = number
templates.env.filters["count"] = count
templates.env.filters["delta"] = delta
templates.env.globals["model_href"] = model_href
