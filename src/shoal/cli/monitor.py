"""``shoal monitor``, ``shoal alerts`` and ``shoal retrain``: fleet monitoring from a shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from shoal.cli import _output
from shoal.cli._keys import KeyOption, parse_key
from shoal.cli._options import FleetArgument, JsonOption
from shoal.cli._session import fleet
from shoal.sdk import times

monitor_app = typer.Typer(name="monitor", help="Quality and drift of every model, per window.")
alerts_app = typer.Typer(name="alerts", help="Alert rules and the alerts they raise.")

WindowOption = Annotated[
    str, typer.Option("--window", "-w", help="Window length: 1d, 6h, 30m, 1w.")
]
AtOption = Annotated[
    str | None, typer.Option("--at", help="A time inside the window to read (default: newest).")
]
FIGURE_COLUMNS = ("predictions", "labelled", "mae", "mape", "smape", "max_psi",
                  "max_psi_feature", "drifted_features", "missing_rate")  # fmt: skip


@monitor_app.command("run")
def run_command(
    ctx: typer.Context,
    path: FleetArgument,
    window: WindowOption = "1d",
    since: Annotated[str | None, typer.Option("--since", help="Start, e.g. 2026-11-20.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="End (default: now).")] = None,
    logs: Annotated[
        str | None, typer.Option("--logs", metavar="URL", help="The logs (SHOAL_LOGS_URL).")
    ] = None,
    alpha: Annotated[
        float, typer.Option("--alpha", help="False discovery rate of the drift flags.")
    ] = 0.05,
    min_psi: Annotated[float, typer.Option("--min-psi", help="Smallest PSI flagged.")] = 0.1,
    executor: Annotated[
        str, typer.Option("--executor", help="local (DuckDB here) or ray (parts as Ray tasks).")
    ] = "local",
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Ray tasks at once.")
    ] = None,
    time: Annotated[
        str,
        typer.Option(
            "--time",
            metavar="at|event",
            help="Cut windows by when predictions were made (at) or by the time they are for "
            "(event: event_at, e.g. a predict request's as_of; a backfill lands in its days).",
        ),
    ] = "at",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    as_json: JsonOption = False,
) -> None:
    """One monitoring pass: every model's quality and drift per window, then alert rules."""
    say = None if quiet or as_json else (lambda text: _output.note(text))
    outcome = fleet(ctx, path).monitor(
        window, since=since, until=until, logs=logs, alpha=alpha, min_psi=min_psi,
        executor=executor, workers=workers, progress=say, time=time,
    )  # fmt: skip
    record = {k: v for k, v in vars(outcome).items()}
    if as_json:
        _output.print_json(record)
        return
    _output.fields([
        ("run", outcome.run_id),
        ("windows", ", ".join(times.iso(w) or "" for w in outcome.windows)),
        ("models", f"{outcome.versions:,} versions answered"),
        ("predictions", f"{outcome.predictions:,} ({outcome.labelled:,} with actuals)"),
        ("drift tests", f"{outcome.tests:,}, {outcome.flagged:,} flagged at FDR {alpha}"),
        ("drifting", f"{outcome.drifting_models:,} models"),
        ("alerts", f"{outcome.alerts_opened} opened, {outcome.alerts_resolved} resolved, "
                   f"{outcome.alerts_open} unresolved"),
        ("seconds", _output.number(outcome.seconds)),
    ])  # fmt: skip
    for error in outcome.webhook_errors:
        _output.error(f"webhook: {error}")
    if outcome.drifting_models:
        _output.note(f"worst: shoal monitor worst {path} --by max_psi")


def _print_rows(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json:
        _output.print_json(rows)
        return
    _output.table(
        ["key", "version", *FIGURE_COLUMNS],
        [(_output.key_text(r["key"]), r.get("version"),
          *(_output.number(r.get(c)) if isinstance(r.get(c), float) else r.get(c)
            for c in FIGURE_COLUMNS)) for r in rows],
        title=title,
    )  # fmt: skip


@monitor_app.command("worst")
def worst_command(
    ctx: typer.Context,
    path: FleetArgument,
    by: Annotated[str, typer.Option("--by", help="A figure: max_psi, mape, mae, ...")] = "max_psi",
    n: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many.")] = 20,
    window: Annotated[str | None, typer.Option("--window", "-w", help="Window length.")] = None,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """The worst models of a window by one figure."""
    rows = fleet(ctx, path).monitoring.worst(by, n, window=window, at=at)
    _print_rows(rows, as_json, f"worst {n} by {by}")


@monitor_app.command("rollup")
def rollup_command(
    ctx: typer.Context,
    path: FleetArgument,
    by: Annotated[str, typer.Option("--by", help="A key dimension, e.g. store.")],
    window: Annotated[str | None, typer.Option("--window", "-w", help="Window length.")] = None,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per value of a key dimension: models, share drifting, median MAPE."""
    rows = fleet(ctx, path).monitoring.rollup(by, window=window, at=at)
    if as_json:
        _output.print_json(rows)
        return
    _output.table(
        [by, "models", "tested", "drifting", "share of tested", "median mape", "predictions",
         "labelled"],
        [(g[by], g["models"], g.get("tested"), g["drifting"], _share(g["share_drifting"]),
          _output.number(g["median_mape"]), g["predictions"], g["labelled"]) for g in rows],
    )  # fmt: skip


@monitor_app.command("trend")
def trend_command(
    ctx: typer.Context,
    path: FleetArgument,
    key: KeyOption = None,
    window: Annotated[str | None, typer.Option("--window", "-w", help="Window length.")] = None,
    as_json: JsonOption = False,
) -> None:
    """One model's figures across windows, oldest first."""
    target = fleet(ctx, path)
    rows = target.monitoring.trend(parse_key(target, key), window)
    if as_json:
        _output.print_json(rows)
        return
    _output.table(
        ["window", "version", *FIGURE_COLUMNS],
        [(r["window"], r["version"],
          *(_output.number(r.get(c)) if isinstance(r.get(c), float) else r.get(c)
            for c in FIGURE_COLUMNS)) for r in rows],
    )  # fmt: skip


@alerts_app.command("rules")
def rules_command(ctx: typer.Context, path: FleetArgument, as_json: JsonOption = False) -> None:
    """The fleet's alert rules."""
    rows = fleet(ctx, path).alerts.rules()
    if as_json:
        _output.print_json(rows)
        return
    _output.table(
        ["id", "name", "rule", "webhook", "enabled"],
        [(r["id"], r["name"], r["expression"], r["webhook"] or "", r["enabled"]) for r in rows],
    )


@alerts_app.command("add")
def add_command(
    ctx: typer.Context,
    path: FleetArgument,
    name: Annotated[str, typer.Argument(help="The rule's name.")],
    expression: Annotated[
        str, typer.Argument(help='e.g. "psi > 0.2 on any feature for 2 windows".')
    ],
    webhook: Annotated[
        str | None, typer.Option("--webhook", metavar="URL", help="POST new alerts here.")
    ] = None,
) -> None:
    """Declare an alert rule, checked after every monitoring pass."""
    rule = fleet(ctx, path).alerts.add_rule(name, expression, webhook=webhook)
    _output.echo(f"rule {rule['id']} {rule['name']}: {rule['expression']}")


@alerts_app.command("remove")
def remove_command(
    ctx: typer.Context,
    path: FleetArgument,
    name: Annotated[str, typer.Argument(help="The rule's name.")],
) -> None:
    """Delete an alert rule and its alerts."""
    rule = fleet(ctx, path).alerts.remove_rule(name)
    _output.echo(f"removed rule {rule['name']}")


@alerts_app.command("list")
def list_command(
    ctx: typer.Context,
    path: FleetArgument,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="open, acknowledged, resolved.")
    ] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="One rule's alerts.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Alerts, newest first (unresolved unless --state says)."""
    states = tuple(state) if state else ("open", "acknowledged")
    rows = fleet(ctx, path).alerts.list(states, rule=rule, limit=limit)
    if as_json:
        _output.print_json(rows)
        return
    if not rows:
        _output.note("no alerts")
        return
    _output.table(
        ["id", "state", "rule", "key", "version", "value", "feature", "since"],
        [(a["id"], a["state"], a["rule"], _output.key_text(a["key"]), a["version"],
          _output.number(a["value"]), a["feature"] or "", times.iso(a["first_window"]))
         for a in rows],
    )  # fmt: skip


def _transition(ctx: typer.Context, path: str, alert_id: int, state: str) -> None:
    alerts = fleet(ctx, path).alerts
    row = alerts.acknowledge(alert_id) if state == "acknowledged" else alerts.resolve(alert_id)
    _output.echo(f"alert {row['id']} {row['state']}")


@alerts_app.command("ack")
def ack_command(
    ctx: typer.Context, path: FleetArgument, alert_id: Annotated[int, typer.Argument()]
) -> None:
    """Acknowledge an alert: someone is on it (it stays until the rule stops matching)."""
    _transition(ctx, path, alert_id, "acknowledged")


@alerts_app.command("resolve")
def resolve_command(
    ctx: typer.Context, path: FleetArgument, alert_id: Annotated[int, typer.Argument()]
) -> None:
    """Resolve an alert by hand."""
    _transition(ctx, path, alert_id, "resolved")


def retrain_command(
    ctx: typer.Context,
    path: FleetArgument,
    data: Annotated[
        Path | None,
        typer.Argument(help="Parquet file or folder (default: the last training run's)."),
    ] = None,
    fn: Annotated[
        str | None,
        typer.Argument(metavar="[FN]", help="package.module:function (default: the run's)."),
    ] = None,
    where: Annotated[str, typer.Option("--where", help="Which keys: alert.open.")] = "alert.open",
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule's alerts.")] = None,
    alias: Annotated[str, typer.Option("--alias", help="Point it at the new versions.")] = (
        "candidate"
    ),
    workers: Annotated[int | None, typer.Option("--workers", min=1)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    as_json: JsonOption = False,
) -> None:
    """Train FN again for the models with an unresolved alert; point ALIAS at them."""
    run = fleet(ctx, path).retrain(
        None if data is None else str(data),
        fn,
        where=where,
        rule=rule,
        alias=alias,
        workers=workers,
        progress=not quiet,
    )
    if run is None:
        _output.note("no model has an unresolved alert: nothing to retrain")
        if as_json:
            _output.print_json(None)
        return
    if as_json:
        _output.print_json(run.to_dict())
        return
    _output.fields([
        ("run", run.id), ("keys", f"{run.keys} ({run.done} done, {run.failed} failed)"),
        ("alias", f"{alias} points at the {run.done} new versions"),
        ("next", f"shoal evaluate {path} HOLDOUT --alias {alias}"),
    ])  # fmt: skip
    if run.failed:
        raise typer.Exit(1)


def _share(share: float | None) -> str:
    """A share of tested models; "not tested" where no model of the group had a feature
    tested (never 0%, which would read as healthy)."""
    return "not tested" if share is None else f"{share:.0%}"
