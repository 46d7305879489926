"""``shoal report``: a fleet's report as one self-contained HTML file (or a PDF)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._options import FleetArgument, JsonOption
from shoal.cli._session import fleet


def report_command(
    ctx: typer.Context,
    path: FleetArgument,
    since: Annotated[
        str, typer.Option("--since", help="The period: runs, alerts and changes since, e.g. 7d.")
    ] = "7d",
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="Cohorts by a key (store) or a tag (tag.region); default: the first key."
        ),
    ] = None,
    across: Annotated[
        str | None,
        typer.Option("--across", help="The drift heat map's second key (default: the next key)."),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="The metric cohorts and worst models rank by "
            "(default: the most widely carried, mape first).",
        ),
    ] = None,
    alias: Annotated[
        str, typer.Option("--alias", help="The alias whose versions are judged.")
    ] = "production",
    window: Annotated[
        str | None, typer.Option("--window", help="Monitoring window length to read (1d, 6h).")
    ] = None,
    stale_after: Annotated[
        str, typer.Option("--stale-after", help="An alias version older than this is a gap.")
    ] = "30d",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The file to write (default TENANT-FLEET-report.html)."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="html or pdf (default: from --out's suffix, else html)."),
    ] = None,
    tables: Annotated[
        str | None,
        typer.Option(
            "--tables",
            help="Also write every table whole (per-model table "
            "included) as csv or parquet into <out>.tables/.",
        ),
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record/--no-record",
            help="Record the report, so the next one says what changed since.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Write the fleet report: summary, quality, drift, alerts, coverage gaps, changes."""
    target = fleet(ctx, path)
    suffix = fmt or ("pdf" if out is not None and out.suffix.lower() == ".pdf" else "html")
    if out is None:
        out = Path(f"{target.ref.tenant}-{target.ref.name}-report.{suffix}")
    with _output.stages(f"reading {path}") as say:
        report = target.report(
            since=since, by=by, across=across, metric=metric, alias=alias, window=window,
            stale_after=stale_after, out=out, format=suffix, tables=tables, record=record,
            progress=say,
        )  # fmt: skip
    if as_json:
        _output.print_json(report.to_dict())
        return
    s = report.summary
    _output.fields([
        ("report", out),
        ("models", f"{s['models']:,} ({s['on_alias']:,} at {s['alias']})"),
        ("drifting", f"{report.figures.drift['drifting']:,} of "
                     f"{report.figures.drift['tested']:,} tested"),
        ("open alerts", f"{report.figures.alerts['open']:,}"),
        ("recorded", f"#{report.report_id}" if report.report_id else "no (--no-record)"),
        ("seconds", _output.number(report.seconds)),
    ])  # fmt: skip
    for extra in report.files[1:]:
        _output.note(f"table: {extra}")
