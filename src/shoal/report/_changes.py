"""What changed since the previous report of the same fleet, and what a report records.

A report records bounded figures (counts, each metric's quantiles, the medians of its
largest cohorts), never a copy of a million models; the next report diffs those figures
and reads the per-model events from the store by time: models created, versions
registered, alias moves, versions archived or deleted, alerts opened, and, for models
with a new version, the report's metric before and after.
"""

from __future__ import annotations

from typing import Any

from shoal.report._compute import Figures, Frame, higher_is_better

SHOWN_MOVERS = 10


def recorded(figures: Figures, frame: Frame) -> dict[str, Any]:
    """The bounded figures a report leaves for the next one to compare against."""
    s = figures.summary
    medians = {str(row["cohort"]): row["median_metric"] for row in figures.quality["cohorts"]}
    return {
        "models": s["models"], "versions": s["versions"], "on_alias": s["on_alias"],
        "stale": s["stale"], "metric": frame.inputs.metric, "by": frame.by,
        "metrics": {d["metric"]: {"p50": d["p50"], "p90": d["p90"], "mean": d["mean"],
                                  "models": d["models"]}
                    for d in figures.quality["distributions"]},
        "cohort_medians": medians,
        "alerts": {"open": figures.alerts["open"],
                   "acknowledged": figures.alerts["acknowledged"]},
        "drifting": figures.drift["drifting"], "tested": figures.drift["tested"],
        "gaps": {g["gap"]: g["models"] for g in figures.gaps["gaps"]},
    }  # fmt: skip


def changes(frame: Frame, figures: Figures) -> dict[str, Any] | None:
    """The diff against the previous report, or None for a fleet's first report."""
    inputs = frame.inputs
    previous = inputs.previous
    if previous is None:
        return None
    before: dict[str, Any] = previous["summary"] or {}
    at = float(previous["created_at"])
    events = inputs.changes
    (added,) = frame.sql(f"SELECT count(*) FROM fleet WHERE model_created_at > {at}")[0]
    new_alerts = frame.sql(
        f"SELECT rule, count(*) FROM alerts WHERE opened_at > {at} GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    moves = [
        {"alias": alias, "moves": int(n), "models": int(moved or 0), "undone": int(undone or 0)}
        for alias, n, moved, undone in events.get("moves", [])
    ]
    now = figures.summary
    return {
        "previous_id": previous["id"], "previous_at": at, "previous_by": previous["created_by"],
        "models_before": before.get("models"), "models_now": now["models"],
        "models_added": int(added),
        "added_examples": frame.keys_of(f"model_created_at > {at}") if added else [],
        "versions_registered": events.get("versions", 0),
        "moves": moves,
        "promoted": sum(m["models"] for m in moves if m["alias"] == inputs.alias),
        "retired": events.get("retired", {}),
        "new_alerts": [{"rule": r, "alerts": int(n)} for r, n in new_alerts],
        "figures": _figure_moves(before, figures),
        "metrics": _metric_moves(before, figures),
        "cohorts": _cohort_moves(before, figures, frame),
        "models": _model_moves(frame),
    }  # fmt: skip


def _figure_moves(before: dict[str, Any], figures: Figures) -> list[dict[str, Any]]:
    now = {
        "models": figures.summary["models"], "on_alias": figures.summary["on_alias"],
        "stale": figures.summary["stale"], "open alerts": figures.alerts["open"],
        "drifting": figures.drift["drifting"], "tested for drift": figures.drift["tested"],
    }  # fmt: skip
    old = {
        "models": before.get("models"), "on_alias": before.get("on_alias"),
        "stale": before.get("stale"), "open alerts": (before.get("alerts") or {}).get("open"),
        "drifting": before.get("drifting"), "tested for drift": before.get("tested"),
    }  # fmt: skip
    return [{"figure": k, "before": old[k], "now": v} for k, v in now.items()]


def _metric_moves(before: dict[str, Any], figures: Figures) -> list[dict[str, Any]]:
    old = before.get("metrics") or {}
    out = []
    for d in figures.quality["distributions"]:
        prev = old.get(d["metric"])
        if not prev:
            continue
        out.append({
            "metric": d["metric"], "p50_before": prev.get("p50"), "p50_now": d["p50"],
            "p90_before": prev.get("p90"), "p90_now": d["p90"],
            "higher_is_better": d["higher_is_better"],
        })  # fmt: skip
    return out


def _cohort_moves(before: dict[str, Any], figures: Figures, frame: Frame) -> list[dict[str, Any]]:
    """Cohorts whose median of the report's metric moved most since the previous report."""
    if before.get("by") != frame.by or before.get("metric") != frame.inputs.metric:
        return []
    old = before.get("cohort_medians") or {}
    moved = []
    for row in figures.quality["cohorts"]:
        prev, now = old.get(str(row["cohort"])), row["median_metric"]
        if prev is None or now is None or prev == now:
            continue
        moved.append({"cohort": row["cohort"], "before": prev, "now": now, "change": now - prev})
    moved.sort(key=lambda m: -abs(m["change"]))
    return moved[:SHOWN_MOVERS]


def _model_moves(frame: Frame) -> dict[str, Any]:
    """Models with a new version since the previous report: the metric before and after."""
    rows = frame.inputs.changes.get("metric_moves") or []
    metric = frame.inputs.metric
    if not rows or metric is None:
        return {"metric": metric, "compared": 0, "better": 0, "worse": 0, "top": []}
    up = higher_is_better(metric)
    better = sum(1 for r in rows if (r[3] > r[2]) == up and r[3] != r[2])
    worse = sum(1 for r in rows if (r[3] < r[2]) == up and r[3] != r[2])
    top = sorted(rows, key=lambda r: -abs(r[3] - r[2]))[:SHOWN_MOVERS]
    keys = frame.keys_for([int(r[0]) for r in top])
    return {
        "metric": metric, "compared": len(rows), "better": better, "worse": worse,
        "top": [{"key": keys.get(int(r[0]), str(r[0])), "before": r[2], "after": r[3]}
                for r in top],
    }  # fmt: skip
