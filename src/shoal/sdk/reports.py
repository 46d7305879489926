"""``Fleet.report``: the fleet report of :mod:`shoal.report`, from the SDK.

The report capability does the work; this module only reads what a person passes
(``since="7d"``, ``by="store"``, ``out="report.html"``), checks the alias name, and
writes the files when asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shoal.registry import check_alias

if TYPE_CHECKING:
    from shoal.report.fleet_report import FleetReport
    from shoal.sdk.fleet import Fleet


def fleet_report(
    fleet: Fleet, *, since: str | int = "7d", by: str | None = None,
    across: str | None = None, metric: str | None = None, alias: str = "production",
    window: str | int | None = None, stale_after: str | int = "30d",
    out: str | Path | None = None, format: str | None = None, tables: str | None = None,
    record: bool = True,
) -> FleetReport:  # fmt: skip
    """Build (and with ``out``, write) the fleet's report; see :meth:`Fleet.report`."""
    from shoal.report import fleet_report as reports

    chosen = reports.options(
        since=since, alias=check_alias(alias), by=by, across=across, metric=metric,
        window=window, stale_after=stale_after, record=record,
    )  # fmt: skip
    report = reports.build(fleet._registry, fleet.ref, chosen)
    if out is not None:
        target = Path(out)
        fmt = format or ("pdf" if target.suffix.lower() == ".pdf" else "html")
        reports.write(report, target, fmt=fmt, tables=tables)
    return report
