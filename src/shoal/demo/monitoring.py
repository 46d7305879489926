"""The demo's monitoring step: the replayed week's logs by event time, and what they show.

The replay sends each day's forecasts with ``as_of`` = that day, so the logs hold the day
each forecast is for (``event_at``) beside the minute the demo ran (``at``). After it,
``grocer/demand`` is monitored by event time (``time="event"``) over the replayed days,
twice, with an alert rule declared on the drift of any feature:

- ``1d``: seven daily windows, one per replayed day: predictions, actuals and error per
  day, a trend (each model forecasts once a day, too few values to test drift on);
- ``1w``: the week as one weekly window (the replay starts on a Thursday, as ``1w``
  windows do): seven forecasts per model, so drift is tested, and the alert rules run.

The summary shows the daily error of the stores the replay drifted beside the others',
the stores ranked by their share of drifting models (the drifted stores should top the
list), and the commands that show a model's trend and the alerts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.text import Text

from shoal.errors import Conflict
from shoal.sdk.client import Client

FLEET = "grocer/demand"
RULE = ("feature-drift", "psi > 0.2 on any feature")


@dataclass(frozen=True)
class Watched:
    """What the passes found, for the summary and for tests."""

    outcome: Any
    """The drift pass (the weekly window; the only pass when no days were given)."""
    stores: list[dict[str, Any]]
    """The roll-up by store of the drift pass's window, most drifting first."""
    alerts: int
    daily: Any = None
    """The daily pass by event time (None when no days were given)."""
    days: list[dict[str, Any]] = field(default_factory=list)
    """Per replayed day: ``day``, and each store's roll-up of that day's window."""
    window: str = "1d"
    """The drift pass's window length."""
    worst: dict[str, Any] | None = None
    """The key of the most drifted model of the drift pass, for the trend command to show."""


def monitor_replay(client: Client, logs: str | None = None, days: Sequence[str] = ()) -> Watched:
    """Declare the demo's alert rule (once) and monitor the replayed ``days`` (ISO dates)
    by event time, daily and weekly; without ``days``, one daily pass by ``at``."""
    fleet = client.fleet(FLEET)
    with contextlib.suppress(Conflict):  # declared by an earlier run of the demo here
        fleet.alerts.add_rule(*RULE)
    if not days:
        outcome = fleet.monitor("1d", logs=logs)
        stores = fleet.monitoring.rollup("store") if outcome.versions else []
        return Watched(outcome, stores, fleet.alerts.count())
    first = dt.datetime.fromisoformat(min(days)).replace(tzinfo=dt.UTC)
    end = dt.datetime.fromisoformat(max(days)).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    # The daily pass checks no rules: a day's single forecast per model tests no drift, and
    # the weekly pass, which does, would otherwise see its alerts resolved in between.
    daily = fleet.monitor("1d", logs=logs, time="event", since=first, until=end, alerts=False)
    weekly = fleet.monitor("1w", logs=logs, time="event", since=first, until=end)
    stores = fleet.monitoring.rollup("store", window="1w", at=first) if weekly.versions else []
    worst = fleet.monitoring.worst("max_psi", 1, window="1w", at=first) if stores else []
    per_day = []
    if daily.versions:
        for start in daily.windows:
            when = dt.datetime.fromtimestamp(start, dt.UTC)
            per_day.append({
                "day": when.date().isoformat(),
                "stores": fleet.monitoring.rollup("store", window="1d", at=when),
            })  # fmt: skip
    return Watched(weekly, stores, fleet.alerts.count(), daily, per_day, "1w",
                   worst[0]["key"] if worst else None)  # fmt: skip


def daily_error(
    watched: Watched, drifted: Sequence[str]
) -> list[tuple[str, float | None, float | None]]:
    """Per day: the median of the drifted stores' median MAPE, and of the other stores'."""

    def median(values: list[Any]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    out = []
    for day in watched.days:
        stores = day["stores"]
        hit = median([g["median_mape"] for g in stores if g["store"] in drifted])
        rest = median([g["median_mape"] for g in stores if g["store"] not in drifted])
        out.append((day["day"], hit, rest))
    return out


def render_monitoring(
    watched: Watched, drifted: list[str], console: Console, *, shoal: str = "shoal"
) -> None:
    """The passes in figures, the daily error, the most drifting stores (marking the
    injected ones), next steps."""
    o, d = watched.outcome, watched.daily
    seconds = o.seconds + (d.seconds if d is not None else 0.0)
    how = "by event time (the day each forecast is for)" if d is not None else "one pass"
    console.print(
        Text.assemble("\n", ("Monitoring", "bold"), f": {how}, in {seconds:.1f} s"),
        soft_wrap=True,
    )
    lines = []
    if d is not None and watched.days:
        span = f"{watched.days[0]['day']} to {watched.days[-1]['day']}"
        lines.append(
            f"  {len(watched.days)} daily windows, {span}: {d.models:,} models, "
            f"{d.predictions:,} predictions ({d.labelled:,} with actuals)"
        )
        shown = ", ".join(
            f"{_number(hit)} vs {_number(rest)}" for _, hit, rest in daily_error(watched, drifted)
        )
        lines.append(f"  Median MAPE per day, drifted stores vs the others: {shown}")
        lines.append(
            f"  One weekly window for drift: {o.tests:,} drift tests, {o.flagged:,} flagged "
            "after false-discovery control"
        )
    else:
        lines.append(
            f"  {o.models:,} models, {o.predictions:,} predictions ({o.labelled:,} with "
            f"actuals); {o.tests:,} drift tests, {o.flagged:,} flagged after false-discovery "
            "control"
        )
    lines += [
        f"  {o.drifting_models:,} models drifting; {watched.alerts:,} unresolved alerts "
        f"of rule '{RULE[1]}'",
        "  Stores by share of drifting models (* = drift injected by the replay):",
    ]
    for group in watched.stores[:5]:
        mark = "*" if group["store"] in drifted else " "
        mape, share = group["median_mape"], group["share_drifting"]
        tested = group.get("tested", group["models"])
        lines.append(
            f"  {mark} {group['store']:<6} {group['drifting']:>3}/{tested:<3} tested drifting "
            f"({'not tested' if share is None else f'{share:.0%}'}), median MAPE "
            f"{'n/a' if mape is None else f'{mape:.2f}'}"
        )
    lines += [
        f"  Worst models:   {shoal} monitor worst {FLEET} --by max_psi --window {watched.window}",
        f"  A model's days: {shoal} monitor trend {FLEET} {_key(watched.worst)} --window 1d",
        f"  Alerts:         {shoal} alerts list {FLEET}",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False, markup=False)


def _key(key: dict[str, Any] | None) -> str:
    if not key:
        return "--key store=... --key sku=..."
    return " ".join(f"--key {dim}={value}" for dim, value in key.items())


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
