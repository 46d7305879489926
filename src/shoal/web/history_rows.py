"""What the history pages show of a record, as plain values a template prints.

A run's figures differ by kind: a training run counts keys, a monitoring pass counts
windows and tests and times each stage (``seconds`` is a dict), a run opened by hand
(``fleet.start_run("backfill")``) records whatever its owner wrote. These helpers turn
any of them into short readable text, here, once, so no template meets a nested dict
or an unformatted float (a dict handed to ``"%.1f"|format`` is what broke the run page).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shoal.sdk.history import Run
from shoal.web.rendering import number

SUMMARY_FIGURES = 4
"""How many of a run's recorded figures a listing's summary shows (the run page shows all)."""
TOP_VALUES = 3
"""How many of a categorical column's most frequent values the dataset page names."""


def figure(value: Any) -> str:
    """One recorded figure as text: a number readable, a mapping as ``name value · ...``
    (a monitoring pass's seconds per stage), a list joined, anything else as it is."""
    if isinstance(value, dict):
        return " · ".join(f"{k} {figure(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(figure(v) for v in value) or "none"
    if value is None:
        return ""
    return number(value)


def figures(run: Run) -> list[tuple[str, str]]:
    """Every figure the run recorded, in the order it recorded them, as (name, text)."""
    return [(str(name), figure(value)) for name, value in run.counts.items()]


def parameters(run: Run) -> list[tuple[str, str]]:
    """What the run was asked to do (its params: the data scored, the window of a pass, the
    alias), as (name, text); unset ones left out."""
    return [(str(name), figure(value)) for name, value in run.params.items()
            if value is not None and value != ""]  # fmt: skip


def duration(run: Run) -> str:
    """How long it ran: its recorded seconds, else finished minus started; "" while it
    runs with no figure yet."""
    seconds = run.seconds
    if seconds is None and run.finished_at is not None:
        seconds = run.finished_at - run.started_at
    return "" if seconds is None else readable_seconds(seconds)


def readable_seconds(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 5 s``, ``2 h 3 min``."""
    if seconds < 60:
        return f"{number(round(seconds, 2 if seconds < 10 else 1))} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,} h {minutes} min"


def summary(run: Run) -> str:
    """A run's counts in a line: a training run's keys, another kind's first figures."""
    if run.kind == "train":
        text = f"{run.done or 0:,} trained, {run.failed or 0:,} failed of {run.keys or 0:,} keys"
        return text + (f", {run.skipped:,} skipped" if run.skipped else "")
    shown = [(n, v) for n, v in run.counts.items() if not isinstance(v, dict | list)]
    return ", ".join(f"{name} {figure(value)}" for name, value in shown[:SUMMARY_FIGURES])


def run_row(run: Run) -> dict[str, Any]:
    """A run as a table row of the run listings."""
    return {"id": run.id, "fleet": run.fleet, "kind": run.kind, "status": run.status,
            "started_at": run.started_at, "finished_at": run.finished_at,
            "duration": duration(run), "summary": summary(run),
            "who": run.created_by or "unknown"}  # fmt: skip


def model_url(fleet: str, key: dict[str, str]) -> str:
    """A model's page from its fleet path and key (in the fleet's order, as stored), as
    :func:`shoal.web.rendering.model_path` builds it from a Fleet."""
    model = quote(",".join(f"{k}={v}" for k, v in key.items()), safe="=,/")
    return f"/fleets/{fleet}/models/{model}"


def column_rows(schema: list[dict[str, Any]], profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The dataset page's columns: the schema, joined by name with what the profile
    recorded of each (counts, range, mean, or the most frequent values)."""
    profiled = (profile or {}).get("columns") or {}
    rows = []
    for column in schema:
        seen = profiled.get(column.get("name"), {})
        top = seen.get("top") or []
        values = ", ".join(f"{t.get('value')} ({number(t.get('count'))})"
                           for t in top[:TOP_VALUES])  # fmt: skip
        rows.append({
            "name": column.get("name"), "type": column.get("type"),
            "nullable": column.get("nullable"), "kind": seen.get("kind", ""),
            "count": seen.get("count"), "nulls": seen.get("nulls"),
            "distinct": seen.get("distinct"), "min": seen.get("min"), "max": seen.get("max"),
            "mean": seen.get("mean"), "std": seen.get("std"), "top": values,
        })  # fmt: skip
    return rows


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site (``/…``, not ``//host`` nor ``/\\host``,
    which browsers read as another site, and no control character); else None."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 32 or c == "\\" for c in target) or len(target) > 2000:
        return None
    return target
