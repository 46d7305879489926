"""``shoal predict``: batch scoring of a Parquet file or folder, from a shell or a scheduler.

Output is Parquet laid out like the input (a folder partitioned by store comes out
partitioned by store), written under ``OUT.partial`` and renamed when complete; running
the same command again after an interrupt scores only what was not done. Progress goes
to stderr, so ``--json`` leaves one document on stdout. The command exits with status 1
when no row could be scored, so a scheduler notices; rows not scored are listed per key.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._options import FleetArgument, JsonOption
from shoal.cli._session import fleet, session
from shoal.cli.train import ByOption, QuietOption, WorkersOption
from shoal.errors import InvalidInput


def predict_command(
    ctx: typer.Context,
    path: FleetArgument,
    data: Annotated[
        str,
        typer.Argument(
            metavar="DATA", help="A Parquet file or folder: a path or a URL (s3://bucket/prefix)."
        ),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="The folder to write (a path or a URL); must not hold files unless --overwrite.",
        ),
    ],
    alias: Annotated[str, typer.Option("--alias", help="Whose versions score.")] = "production",
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            min=1,
            help="Score with this version number of every key instead of an alias.",
        ),
    ] = None,
    by: ByOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="The time every row is for (2026-11-25), logged as its event time."
        ),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option("--time-column", help="A column holding each row's event time instead."),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="Where parts are scored: local or ray.")
    ] = "local",
    workers: WorkersOption = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUT once the new results are complete.")
    ] = False,
    log: Annotated[
        bool,
        typer.Option(
            "--log/--no-log",
            help="Append the predictions to the prediction logs (SHOAL_LOGS_URL) for monitoring.",
        ),
    ] = True,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, help="Rows per part of a single file.")
    ] = 1_000_000,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Score every row of DATA with its key's version at ALIAS; write Parquet to OUT."""
    result = fleet(ctx, path).predict(
        data, alias=None if version is not None else alias, version=version, by=by or None,
        as_of=as_of, time_column=time_column, out=out, overwrite=overwrite, log=log,
        executor=executor, workers=workers, batch_rows=batch_rows, progress=not quiet,
    )  # fmt: skip
    if as_json:
        _output.print_json({"run_id": result.run_id, **result.counts(), "files": result.files})
    else:
        not_scored = sum(result.problem_rows.values())
        _output.fields(
            [
                ("run", result.run_id),
                ("rows", f"{result.rows_scored:,} of {result.rows_in:,} scored"),
                ("keys", f"{result.keys_scored:,}"),
                ("versions", f"{result.versions_loaded:,}"),
                ("not scored", ", ".join(f"{n:,} rows: {why}"
                                         for why, n in result.problem_rows.items()) or "none"),
                ("output", f"{len(result.files)} file(s) in {out}"),
                ("logged", f"{result.log_files} file(s)" if log else "no (--no-log)"),
                ("seconds", _output.number(result.seconds)),
                ("rows/s", f"{result.rows_per_second:,.0f}"),
            ],
            title=f"batch scoring of {path}",
        )  # fmt: skip
        for problem in result.problems[:10]:
            _output.error(f"{_output.key_text(problem.key)}: {problem.reason}, "
                          f"{problem.rows} row(s): {problem.detail}")  # fmt: skip
        if not_scored and result.rows_scored:
            _output.note("every key's problems: "
                         + session(ctx).command("run", "show", str(result.run_id)))  # fmt: skip
    if not result.rows_scored:
        raise InvalidInput(
            f"no row of {data!r} could be scored ({dict(result.problem_rows)}); see the "
            "problems above", field="data",
        )  # fmt: skip
