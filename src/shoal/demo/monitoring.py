"""The demo's monitoring step: one pass over the replayed week's logs, and what it found.

After the replay, ``grocer/demand`` is monitored in one pass (``fleet.monitor``), with an
alert rule declared on the drift of any feature. The summary shows the stores ranked by
their share of drifting models, so the stores the replay drifted should top the list,
and the command that lists the alerts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from shoal.errors import Conflict
from shoal.sdk.client import Client

FLEET = "grocer/demand"
RULE = ("feature-drift", "psi > 0.2 on any feature")


@dataclass(frozen=True)
class Watched:
    """What the pass found, for the summary and for tests."""

    outcome: Any
    stores: list[dict[str, Any]]
    """The roll-up by store, most drifting first."""
    alerts: int


def monitor_replay(client: Client, logs: str | None = None) -> Watched:
    """Declare the demo's alert rule (once) and run one pass over the fleet's logs."""
    fleet = client.fleet(FLEET)
    with contextlib.suppress(Conflict):  # declared by an earlier run of the demo here
        fleet.alerts.add_rule(*RULE)
    outcome = fleet.monitor("1d", logs=logs)
    stores = fleet.monitoring.rollup("store") if outcome.versions else []
    return Watched(outcome, stores, fleet.alerts.count())


def render_monitoring(
    watched: Watched, drifted: list[str], console: Console, *, shoal: str = "shoal"
) -> None:
    """The pass in figures, the most drifting stores (marking the injected ones), next steps."""
    o = watched.outcome
    console.print(
        Text.assemble(
            "\n", ("Monitoring", "bold"), f": one pass over the logs in {o.seconds:.1f} s"
        ),
        soft_wrap=True,
    )
    lines = [
        f"  {o.versions:,} models, {o.predictions:,} predictions ({o.labelled:,} with actuals); "
        f"{o.tests:,} drift tests, {o.flagged:,} flagged after false-discovery control",
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
        f"  Worst models: {shoal} monitor worst {FLEET} --by max_psi",
        f"  Alerts:       {shoal} alerts list {FLEET}",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False, markup=False)
