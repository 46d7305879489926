"""One model's pages: its versions, lineage and monitoring, and two versions side by side.

GET /fleets/{tenant}/{fleet}/models/{model}            the model page (alias, version)
GET /fleets/{tenant}/{fleet}/models/{model}/compare    versions a and b side by side
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from shoal.http.params import FleetName, ModelPath, Tenant
from shoal.sdk.client import Client
from shoal.sdk.history import Lineage
from shoal.sdk.results import ModelVersion
from shoal.sdk.times import readable
from shoal.web.api import parse_model
from shoal.web.monitoring_pages import model_monitoring
from shoal.web.rendering import fleet_context, render

PAGE_ROWS = 50
MODEL_ALERTS = 10
"""The newest unresolved alerts a model page lists (the rest on /alerts, filtered to it)."""
VersionNumber = Annotated[int, Query(ge=1, le=2**31 - 1)]


def model_router(client: Client) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/fleets/{tenant}/{fleet}/models/{model:path}/compare", response_class=HTMLResponse)
    def compare_page(
        request: Request, tenant: Tenant, fleet: FleetName, model: ModelPath,
        a: VersionNumber, b: VersionNumber,
    ) -> HTMLResponse:  # fmt: skip
        target = client.fleet(f"{tenant}/{fleet}")
        key = parse_model(target, model)
        first, second = target.get(key, version=a), target.get(key, version=b)
        return render(
            request, "compare.html", fleet=fleet_context(target), a=first, b=second,
            key_text=", ".join(f"{k}={v}" for k, v in first.key.items()),
            model_url=f"/fleets/{target.path}/models/{model}",
            rows=compare_rows(first, second, client.lineage(first), client.lineage(second)),
        )  # fmt: skip

    @pages.get("/fleets/{tenant}/{fleet}/models/{model:path}", response_class=HTMLResponse)
    def model_page(
        request: Request, tenant: Tenant, fleet: FleetName, model: ModelPath,
        alias: str | None = None, version: VersionNumber | None = None,
        before: VersionNumber | None = None,
    ) -> HTMLResponse:  # fmt: skip
        target = client.fleet(f"{tenant}/{fleet}")
        key = parse_model(target, model)
        current = target.get(key, alias=alias, version=version)
        versions = target.versions(key, limit=PAGE_ROWS, before=before)
        metric_names = sorted({n for v in versions for n in v.metrics})[:8]
        key_text = ", ".join(f"{k}={v}" for k, v in current.key.items())
        monitoring = model_monitoring(target, key)
        alerts = target.alerts.page(cohort=current.key, limit=MODEL_ALERTS)
        return render(
            request, "model.html", fleet=fleet_context(target), current=current,
            shown_alias=alias, model_url=f"/fleets/{target.path}/models/{model}",
            key_text=key_text, lineage=client.lineage(current), versions=versions,
            metric_names=metric_names, before=before, next_before=versions.next_cursor,
            key_slice=key_slice(key_text, client.baseline(current)),
            monitoring=monitoring, charts=model_charts(monitoring["trend"], current.metrics),
            alerts=alerts.items, more_alerts=alerts.before is not None,
            alerts_url=f"/alerts?{urlencode({'fleet': target.path, 'cohort': model})}",
        )  # fmt: skip

    return pages


LIVE_METRICS = ("mape", "mae", "rmse", "smape", "log_loss", "accuracy", "f1")
"""The live figures a model's error chart can show, in order of preference."""


def model_charts(trend: list[dict[str, Any]], recorded: dict[str, float]) -> dict[str, Any]:
    """The model page's two charts across monitoring windows: the live error against the
    version's evaluated one (``eval_mape`` or ``mape`` as training recorded it), and drift
    (the largest feature PSI and the predictions' PSI)."""
    if not trend:
        return {}
    x = [readable(t["window_start"], utc=False).removesuffix(" 00:00") for t in trend]
    charts: dict[str, Any] = {
        "drift": {"x": x, "max_psi": [t.get("max_psi") for t in trend],
                  "prediction_psi": [t.get("prediction_psi") for t in trend]},
    }  # fmt: skip
    metric = next((m for m in LIVE_METRICS if any(t.get(m) is not None for t in trend)), None)
    if metric is not None:
        charts["errors"] = {
            "x": x, "metric": metric, "live": [t.get(metric) for t in trend],
            "recorded": recorded.get(f"eval_{metric}", recorded.get(metric)),
        }  # fmt: skip
    return charts


def key_slice(key_text: str, baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    """The rows a version trained on, as a person names them: its key, the time range of
    its time column(s) and its row count, from the baseline profile training recorded
    (None for a version registered without one)."""
    if not baseline:
        return None
    spans = [
        (name, str(column.get("min") or "")[:10], str(column.get("max") or "")[:10])
        for name, column in (baseline.get("columns") or {}).items()
        if column.get("kind") == "temporal" and column.get("min")
    ]
    return {"key": key_text, "rows": baseline.get("rows"), "spans": spans}


def compare_rows(
    a: ModelVersion, b: ModelVersion, lineage_a: Lineage, lineage_b: Lineage
) -> list[dict[str, Any]]:
    """Two versions field by field: what made them (lineage), their params and metrics."""

    def dataset(lineage: Lineage) -> str | None:
        data = lineage.dataset
        return f"{data.name} ({data.fingerprint[:12]})" if data else None

    def run(lineage: Lineage) -> str | None:
        return f"run {lineage.run.id}" if lineage.run else None

    fixed = [
        ("flavor", a.flavor, b.flavor), ("artifact", a.artifact_sha256[:16],
                                          b.artifact_sha256[:16]),
        ("aliases", ", ".join(a.aliases) or None, ", ".join(b.aliases) or None),
        ("created", readable(a.created_at), readable(b.created_at)),
        ("dataset", dataset(lineage_a), dataset(lineage_b)),
        ("key slice", (a.slice_fingerprint or "")[:16] or None,
         (b.slice_fingerprint or "")[:16] or None),
        ("run", run(lineage_a), run(lineage_b)), ("code", a.code_ref, b.code_ref),
    ]  # fmt: skip
    params = [(f"params.{n}", a.params.get(n), b.params.get(n))
              for n in sorted(set(a.params) | set(b.params))]  # fmt: skip
    metrics = [(n, a.metrics.get(n), b.metrics.get(n))
               for n in sorted(set(a.metrics) | set(b.metrics))]  # fmt: skip
    rows = [{"name": n, "a": x, "b": y, "differs": x != y, "metric": False}
            for n, x, y in fixed + params]  # fmt: skip
    for name, x, y in metrics:
        change = y - x if isinstance(x, int | float) and isinstance(y, int | float) else None
        rows.append({"name": name, "a": x, "b": y, "differs": x != y, "metric": True,
                     "delta": change})  # fmt: skip
    return rows
