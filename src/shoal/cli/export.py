"""``shoal export``: a fleet's per-model table, whole, to a CSV or Parquet file.

One row per model the filter selects, read in keyset chunks and written chunk by chunk,
so a million models take the memory of one chunk. The file appears when it is complete
(written beside it, then renamed); ``--out -`` writes CSV to stdout for a pipe. Progress
and notes go to stderr, so ``--json`` (or the table on stdout) stays parseable.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._options import WHERE_HELP, FleetArgument, JsonOption
from shoal.cli._session import fleet as open_fleet
from shoal.cli.housekeeping import size
from shoal.errors import InvalidInput
from shoal.sdk.export import CHUNK, ExportResult


def export_command(
    ctx: typer.Context,
    fleet: FleetArgument,
    where: Annotated[str | None, typer.Option("--where", "-w", help=WHERE_HELP)] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", metavar="csv|parquet",
            help="File format. Default: from --out's suffix, else parquet (csv for --out -).",
        ),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out", "-o", metavar="FILE",
            help="Where to write; '-' for stdout. Default: TENANT-FLEET-models.parquet "
            "(or .csv) in the current folder.",
        ),
    ] = None,
    chunk: Annotated[
        int, typer.Option("--chunk", help="Models read and written at a time (1 to 100,000).")
    ] = CHUNK,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Export one row per model: keys, version, status, flavor, created_at, run and dataset
    ids, an alias.NAME column per alias (the version number it points at) and a
    metric.NAME column per metric.

    With --where, only the models it selects ("alias = 'production'" exports the
    production versions). Prints the rows, bytes and path written.
    """
    target = open_fleet(ctx, fleet)
    if out == "-":
        if as_json:
            raise InvalidInput("--json prints to stdout, where --out - writes the table: "
                               "pick one", field="json")  # fmt: skip
        result = target.export(sys.stdout.buffer, where=where, format=format or "csv",
                               progress=not quiet, chunk=chunk)  # fmt: skip
        sys.stdout.buffer.flush()
        _output.note(_summary(result, "stdout"))
        return
    if out is None:
        out = f"{target.path.replace('/', '-')}-models.{(format or 'parquet').lower()}"
    result = target.export(out, where=where, format=format, progress=not quiet, chunk=chunk)
    if as_json:
        _output.print_json(result.to_dict())
    else:
        _output.echo(_summary(result, result.path))


def _summary(result: ExportResult, where: str) -> str:
    return (
        f"exported {result.rows:,} model(s), {len(result.columns)} columns, "
        f"{size(result.bytes)} of {result.format} to {where}"
    )
