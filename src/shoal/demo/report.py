"""The demo's fleet report: written after monitoring, so its drift and promotion show."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from shoal.report.fleet_report import FleetReport
from shoal.sdk.client import Client

FLEET = "grocer/demand"


def write_report(client: Client, folder: Path, window: str | None = "1w") -> FleetReport:
    """The grocer fleet's report over the last 30 days, cohorts by store, to ``folder``.

    It reads the ``1w`` windows: the demo's weekly pass is where drift is tested (its daily
    windows hold one forecast per model, too few to test), and the newest window of any
    length would be the replay's last day.
    """
    return client.fleet(FLEET).report(
        since="30d", by="store", window=window, out=folder / "grocer-demand-report.html",
        tables="parquet",
    )  # fmt: skip


def render_report(report: FleetReport, out: Console, *, shoal: str = "shoal") -> None:
    """Where the report is and what it shows first."""
    drift = report.figures.drift
    cohorts = [c for c in report.figures.quality["cohorts"] if c["drifting"]]
    out.print()
    where = report.path.resolve() if report.path else "(not written)"
    out.print(f"[bold]Fleet report[/bold] ({report.seconds:.1f} s): {where}")
    s = report.summary
    out.print(f"  {s['models']:,} models, {s['on_alias']:,} at production; "
              f"{drift['drifting']:,} of {drift['tested']:,} tested drifting")  # fmt: skip
    if cohorts:
        shown = ", ".join(f"{c['cohort']} ({c['drifting']})" for c in cohorts[:5])
        out.print(f"  drifting stores first in it: {shown}")
    moves = report.figures.runs["moves"]
    if moves:
        out.print("  alias moves in it: " + ", ".join(
            f"{m['alias']} ({m['models']:,} models)" for m in moves))  # fmt: skip
    out.print(f"  again, or as a PDF: {shoal} report {FLEET} --by store --out report.pdf")
