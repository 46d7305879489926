"""Build, render, record and write one fleet report.

``build`` reads the fleet in one snapshot (:mod:`._collect`), computes every section in
DuckDB (:mod:`._compute`, :mod:`._changes`), renders one self-contained HTML page (inline
CSS and SVG, no script, no URL outside the file) and records the report's bounded
figures so the next one can say what changed. ``write`` puts the page (or a PDF printed
from it) and, on request, every table whole beside it, each file written then renamed.
"""

from __future__ import annotations

import base64
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shoal.errors import InvalidInput
from shoal.registry import FleetRef, Registry
from shoal.report import _svg
from shoal.report._changes import changes, recorded
from shoal.report._collect import collect
from shoal.report._compute import (
    SHOWN_COHORTS,
    Figures,
    Frame,
    alerts,
    drift,
    gaps,
    model_table,
    quality,
    runs,
    summary,
)

TABLE_FORMATS = ("csv", "parquet")
INLINE_CSV_BYTES = 400_000
"""A table is offered as a CSV download inside the page up to this size; the page's
inline downloads stop at ``INLINE_TOTAL``, so the file stays small at any fleet size."""
INLINE_TOTAL = 1_500_000


@dataclass(frozen=True)
class ReportOptions:
    """What a report covers: the period, the alias it judges, how it cuts the fleet."""

    since: float
    since_text: str
    alias: str = "production"
    by: str | None = None
    across: str | None = None
    metric: str | None = None
    window_seconds: int | None = None
    stale_after: float = 30 * 86400
    record: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since_text, "alias": self.alias, "by": self.by,
            "across": self.across, "metric": self.metric, "window_seconds": self.window_seconds,
            "stale_after_days": self.stale_after / 86400,
        }  # fmt: skip


@dataclass
class FleetReport:
    """One fleet report: its figures by section, its tables whole, and its page."""

    fleet: str
    generated_at: float
    options: ReportOptions
    figures: Figures
    models: pa.Table
    report_id: int | None
    seconds: float
    html: str = ""
    path: Path | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        return self.figures.summary

    @property
    def tables(self) -> dict[str, pa.Table]:
        """Every table of the report whole, the per-model table (``models``) included."""
        return {"models": self.models, **self.figures.tables}

    def section(self, name: str) -> Any:
        """One section's figures: summary, runs, quality, drift, alerts, gaps, changes."""
        if name not in SECTIONS:
            raise InvalidInput(f"section must be one of {SECTIONS}, got {name!r}", field="section")
        return getattr(self.figures, name)

    def to_dict(self) -> dict[str, Any]:
        """The report's figures (what ``--json`` prints); tables are exported, not inlined."""
        f = self.figures
        return {
            "fleet": self.fleet, "report_id": self.report_id,
            "generated_at": self.generated_at, "options": self.options.to_dict(),
            "seconds": round(self.seconds, 3),
            "path": None if self.path is None else str(self.path),
            "files": [str(p) for p in self.files],
            "summary": f.summary, "runs": f.runs, "quality": f.quality,
            "drift": _json_drift(f.drift), "alerts": f.alerts, "gaps": f.gaps,
            "changes": f.changes,
        }  # fmt: skip


SECTIONS = ("summary", "runs", "quality", "drift", "alerts", "gaps", "changes")


def _json_drift(section: dict[str, Any]) -> dict[str, Any]:
    heat = section.get("heat")
    if not heat:
        return section
    cells = [{"row": a, "col": b, **v} for (a, b), v in heat["cells"].items()]
    return {**section, "heat": {"rows": heat["rows"], "cols": heat["cols"], "cells": cells}}


def resolve_dimensions(
    fleet: FleetRef, by: str | None, across: str | None
) -> tuple[str | None, str | None, bool]:
    """(by, across, by is a tag): cohorts by a key dimension or a tag; the heat map's second
    dimension is another key dimension (the fleet's first other key by default)."""
    keys = list(fleet.keys)
    tag = False
    if by is None:
        by = keys[0] if keys else None
    elif by.startswith("tag."):
        by, tag = by[4:], True
        if not by:
            raise InvalidInput("by 'tag.' names no tag: write e.g. by='tag.region'", field="by")
    elif by not in keys:
        raise InvalidInput(
            f"by {by!r} is not a key of {fleet.path} (keys: {keys}); cut by a tag with 'tag.NAME'",
            field="by",
        )
    if across is not None and across not in keys:
        raise InvalidInput(f"across {across!r} is not a key of {fleet.path} (keys: {keys})",
                           field="across")  # fmt: skip
    if across is None:
        others = [k for k in keys if k != by or tag]
        across = others[0] if others and (tag or len(keys) > 1) else None
    if across is not None and across == by and not tag:
        raise InvalidInput("across must differ from by: the heat map needs two dimensions",
                           field="across")  # fmt: skip
    return by, across, tag


def build(
    registry: Registry, fleet: FleetRef, options: ReportOptions,
    progress: Callable[[str], None] | None = None,
) -> FleetReport:  # fmt: skip
    """Read, compute, render and (unless ``options.record`` is false) record a report;
    ``progress`` hears each stage as it starts."""
    say = progress or (lambda _text: None)
    started = time.perf_counter()
    now = time.time()
    by, across, tag = resolve_dimensions(fleet, options.by, options.across)
    with registry.reports.snapshot(fleet) as snap:
        inputs = collect(
            snap, now=now, since=options.since, alias=options.alias,
            tag=by if tag else None, window_seconds=options.window_seconds,
            metric=options.metric, say=say,
        )  # fmt: skip
    say("computing the sections")
    frame = Frame(inputs, by=by, across=across, tag=tag, stale_after=options.stale_after)
    figures = Figures(
        summary=summary(frame), quality=quality(frame), drift=drift(frame),
        alerts=alerts(frame), gaps=gaps(frame), changes=None, runs=runs(inputs),
    )  # fmt: skip
    figures.changes = changes(frame, figures)
    figures.tables.update(frame.tables)
    models = model_table(frame)
    report_id = None
    if options.record:
        report_id = registry.reports.record(fleet, now, options.to_dict(), recorded(figures, frame))
    report = FleetReport(
        fleet=fleet.path, generated_at=now, options=options, figures=figures, models=models,
        report_id=report_id, seconds=0.0,
    )  # fmt: skip
    report.seconds = time.perf_counter() - started
    say("rendering the page")
    report.html = render(report, by=by)
    report.seconds = time.perf_counter() - started
    return report


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("shoal.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    report: FleetReport, *, by: str | None, sidecar: str | None = None,
    links: Callable[[str], Any] | None = None, toolbar: Any = None,
) -> str:  # fmt: skip
    """The report as one self-contained HTML page.

    ``links(name)`` makes a table's export links (a server links to its export route);
    by default a table small enough is embedded whole as a CSV download. ``toolbar`` is
    markup a server shows under the header (hidden in print).
    """
    f = report.figures
    readable = _svg.when
    trend = f.quality["trend"]
    labels = [readable(t["window_start"])[:10] for t in trend]
    mape = [t["median_mape"] for t in trend]
    drifting = [float(t["drifting"]) for t in trend]
    features = [(x["feature"], x["models"]) for x in f.drift["features"]]
    return _environment().get_template("report.html").render(
        version=_version(), s=f.summary, runs=f.runs, q=f.quality, d=f.drift, a=f.alerts,
        gaps=f.gaps, c=f.changes, by=by, report_id=report.report_id,
        generated=readable(report.generated_at), period_from=readable(report.options.since),
        seconds=report.seconds, sidecar=sidecar, n=_svg.number, when=readable,
        pct=_percent, export=links or _InlineTables(report.figures.tables).link,
        toolbar=toolbar, duration=_duration, shown_cohorts=SHOWN_COHORTS,
        hist=_histogram, heat=_heat(f.drift),
        trend_mape=_svg.trend(list(zip(labels, mape, strict=True)), "median MAPE"),
        trend_drift=_svg.trend(list(zip(labels, drifting, strict=True)), "drifting"),
        feature_bars=_svg.bars(features, "features that drift most"),
    )  # fmt: skip


def _histogram(d: dict[str, Any]) -> Any:
    found = d["histogram"]
    return _svg.histogram(found["edges"], found["counts"], d["metric"]) if found else ""


def _heat(drift: dict[str, Any]) -> Any:
    heat = drift.get("heat")
    if not heat:
        return ""
    return _svg.heat_map(heat["rows"], heat["cols"], heat["cells"], drift["by"], drift["across"])


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("shoal")
    except PackageNotFoundError:
        return "dev"


def _duration(days: float | None) -> str:
    """An age in days as a person says it: 40 s, 12 min, 5.2 h, 3.1 d."""
    if days is None:
        return "—"
    seconds = days * 86400
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{days:,.1f} d"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


class _InlineTables:
    """CSV downloads embedded in the page, whole, while they stay small."""

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables = tables
        self.spent = 0

    def link(self, name: str) -> Any:
        from markupsafe import Markup

        table = self.tables.get(name)
        if table is None or table.num_rows == 0:
            return ""
        data = table_bytes(table, "csv")
        if len(data) > INLINE_CSV_BYTES or self.spent + len(data) > INLINE_TOTAL:
            return Markup(f' <span class="export muted">({table.num_rows:,} rows: '
                          f"write with --tables)</span>")  # fmt: skip
        self.spent += len(data)
        encoded = base64.b64encode(data).decode("ascii")
        return Markup(
            f' <a class="export" download="{name}.csv" href="data:text/csv;base64,{encoded}">'
            f"CSV ({table.num_rows:,} rows)</a>"
        )


def table_bytes(table: pa.Table, fmt: str) -> bytes:
    """A table as CSV or Parquet bytes."""
    sink = io.BytesIO()
    if fmt == "csv":
        pacsv.write_csv(table, sink)
    else:
        pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def write(
    report: FleetReport, out: Path, *, fmt: str = "html", tables: str | None = None
) -> list[Path]:
    """Write the page (``html``) or a PDF of it (``pdf``) to ``out``; with ``tables``
    (``csv`` or ``parquet``), every table whole into ``<stem>.tables/`` beside it."""
    if fmt not in ("html", "pdf"):
        raise InvalidInput(f"format must be 'html' or 'pdf', got {fmt!r}", field="format")
    if tables is not None and tables not in TABLE_FORMATS:
        raise InvalidInput(f"tables must be one of {TABLE_FORMATS}, got {tables!r}",
                           field="tables")  # fmt: skip
    out = Path(out)
    if out.is_dir():
        raise InvalidInput(f"out {str(out)!r} is a folder: name the file to write, e.g. "
                           f"{str(out / ('report.' + fmt))!r}", field="out")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sidecar = None
    if tables is not None:
        folder = out.with_name(out.stem + ".tables")
        folder.mkdir(exist_ok=True)
        for name, table in report.tables.items():
            target = folder / f"{name}.{tables}"
            _atomic(target, table_bytes(table, tables))
            written.append(target)
        sidecar = f"{folder.name}/models.{tables}"
    html = (
        render(report, by=report.figures.quality["by"], sidecar=sidecar) if sidecar else report.html
    )
    if fmt == "html":
        _atomic(out, html.encode("utf-8"))
    else:
        from shoal.report.pdf import print_pdf

        _atomic(out, print_pdf(html))
    report.path = out
    report.files = [out, *written]
    return report.files


def _atomic(target: Path, data: bytes) -> None:
    temp = target.with_name(f".{target.name}.partial")
    temp.write_bytes(data)
    temp.replace(target)


_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def span_seconds(text: str | int | float, field: str) -> int:
    """``"7d"``, ``"12h"``, ``"2w"``, ``"30m"`` (or seconds) as seconds, at least a minute."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = int(text)
    else:
        match = _SPAN.match(str(text))
        if match is None:
            raise InvalidInput(f"{field} {text!r} is not a length of time; write e.g. 7d, 12h, "
                               "2w or 30m", field=field)  # fmt: skip
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 60 or seconds > 100 * 366 * 86400:
        raise InvalidInput(f"{field} must be between a minute and a century, got {seconds} s",
                           field=field)  # fmt: skip
    return seconds


def options(
    *, since: str | int | float = "7d", alias: str = "production", by: str | None = None,
    across: str | None = None, metric: str | None = None, window: str | int | None = None,
    stale_after: str | int | float = "30d", record: bool = True, now: float | None = None,
) -> ReportOptions:  # fmt: skip
    """Report options from what a person types (``since="7d"``, ``window="1d"``)."""
    now = time.time() if now is None else now
    return ReportOptions(
        since=now - span_seconds(since, "since"), since_text=str(since), alias=alias, by=by,
        across=across, metric=metric,
        window_seconds=None if window is None else span_seconds(window, "window"),
        stale_after=float(span_seconds(stale_after, "stale_after")), record=record,
    )  # fmt: skip
