"""``shoal train``, ``shoal evaluate`` and ``shoal run resume``: fleet training from a shell.

The function to train is named like an entry point, ``package.module:function`` (the
current folder is importable, as with ``python -m``); the data is a Parquet file or
folder. Progress goes to stderr, so ``--json`` leaves one document on stdout. A run with
failed keys exits with status 1 after printing them, so a scheduler notices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._options import FleetArgument, JsonOption
from shoal.cli._session import client, fleet, session
from shoal.cli.runs import run_app, show_run
from shoal.errors import InvalidInput
from shoal.sdk.history import Run

DataArgument = Annotated[
    Path, typer.Argument(metavar="DATA", help="A Parquet file, or a folder of Parquet files.")
]
ByOption = Annotated[
    list[str] | None,
    typer.Option("--by", help="A column holding a key, once per key in the fleet's order "
                 "(default: columns named like the keys)."),
]  # fmt: skip
ExecutorOption = Annotated[
    str | None, typer.Option("--executor", help="Where keys train: local or ray.")
]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, help="How many keys train at once.")
]
MetricOption = Annotated[
    list[str] | None,
    typer.Option(
        "--metric",
        help="A figure to compute, once per figure: mae, rmse, mape, smape (numbers) or "
        "accuracy, f1 (labels). Default: by the target column's type.",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or lines.")]


def train_command(
    ctx: typer.Context,
    path: FleetArgument,
    data: DataArgument,
    fn: Annotated[
        str, typer.Argument(metavar="FN", help="The training function, package.module:function.")
    ],
    by: ByOption = None,
    executor: ExecutorOption = None,
    workers: WorkersOption = None,
    max_retries: Annotated[
        int, typer.Option("--max-retries", min=0, help="Retries of a key whose fn raises.")
    ] = 1,
    timeout_per_key: Annotated[
        float | None, typer.Option("--timeout-per-key", help="Seconds before a key is stopped.")
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train FN once per key of DATA and register every model, with lineage and a run."""
    run = fleet(ctx, path).train(
        str(data), fn, by=by or None, executor=executor or "local", workers=workers,
        max_retries=max_retries, timeout_per_key=timeout_per_key, progress=not quiet,
    )  # fmt: skip
    _report(ctx, run, as_json)


@run_app.command("resume")
def resume_command(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(metavar="RUN_ID", help="From 'shoal runs'.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="The data, if the run trained on a frame.")
    ] = None,
    fn: Annotated[
        str | None,
        typer.Option("--fn", help="package.module:function, if the run's fn had no name."),
    ] = None,
    executor: ExecutorOption = None,
    workers: WorkersOption = None,
    take_over: Annotated[
        bool,
        typer.Option(
            "--take-over",
            help="Resume even while another process holds the run (it stops at its next write).",
        ),
    ] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train the failed and missing keys of a run, continuing the same run.

    A run another live process holds is refused (exit 4), naming the holder."""
    record = client(ctx).run(run_id)
    if record.fleet is None:  # runs.fleet_id may be NULL; client.fleet(None) would misreport
        raise InvalidInput(f"run {run_id} belongs to no fleet; nothing to resume", field="run")
    run = fleet(ctx, record.fleet).resume(
        record, data=None if data is None else str(data), fn=fn, executor=executor,
        workers=workers, progress=not quiet, take_over=take_over,
    )  # fmt: skip
    _report(ctx, run, as_json)


def evaluate_command(
    ctx: typer.Context,
    path: FleetArgument,
    data: DataArgument,
    alias: Annotated[str, typer.Option("--alias", help="Whose versions to score.")] = "candidate",
    target: Annotated[str, typer.Option("--target", help="The column of actual values.")] = "y",
    metric: MetricOption = None,
    by: ByOption = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Score each key's version at ALIAS on a holdout; record eval_mape (or eval_accuracy)..."""
    result = fleet(ctx, path).evaluate(
        str(data), alias=alias, target=target, metrics=metric or None, by=by or None,
        progress=not quiet,
    )  # fmt: skip
    if as_json:
        _output.print_json(result.to_dict())
        return
    _output.fields(
        [
            ("alias", result.alias),
            ("evaluated", result.evaluated),
            ("skipped", f"{result.skipped} (no version at {result.alias!r})"),
            ("failed", result.failed),
            ("seconds", _output.number(result.seconds)),
            *((f"mean {name}", _output.number(value)) for name, value in result.summary.items()),
        ],
        title=f"evaluation of {path}",
    )
    for key, error in result.errors[:10]:
        _output.error(f"{_output.key_text(key)}: {error}")
    _output.note(
        "compare and promote: "
        + session(ctx).command(
            "alias", "set", path, "production", "--where",
            _winner_rule(alias, result.summary), "--dry-run",
        )
    )  # fmt: skip


def _winner_rule(alias: str, summary: dict[str, float]) -> str:
    """The promote rule to suggest: lower error wins, higher accuracy or F1 wins."""
    if "accuracy" in summary or "f1" in summary:
        name = "accuracy" if "accuracy" in summary else "f1"
        return f"{alias}.eval_{name} > production.eval_{name}"
    name = "mape" if "mape" in summary or not summary else next(iter(summary))
    return f"{alias}.eval_{name} < production.eval_{name}"


def _report(ctx: typer.Context, run: Run, as_json: bool) -> None:
    if as_json:
        _output.print_json(run.to_dict())
    else:
        show_run(run, errors=10)
    if run.status != "succeeded":
        if not as_json:
            _output.note(
                "after fixing the cause, train the failed keys with: "
                + session(ctx).command("run", "resume", str(run.id))
            )
        raise typer.Exit(1)
