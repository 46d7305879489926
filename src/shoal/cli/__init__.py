"""``shoal``: the command line over the SDK, one module per noun.

    shoal fleets                          every fleet, its keys and sizes
    shoal models TENANT/FLEET             a page of models (--where, --sort, --count, --facet)
    shoal export TENANT/FLEET             every model's row to CSV or Parquet (--where, --out)
    shoal model TENANT/FLEET --key ...    the version one model resolves to (--verify loads it)
    shoal versions TENANT/FLEET --key ... every version of one model
    shoal version archive|restore|delete  hide, show again or delete versions (--apply)
    shoal lineage VERSION_ID              dataset, slice, run, code and parent of a version
    shoal alias set|undo|moves            bulk alias moves, each undoable
    shoal datasets [show ID]              data snapshots and what they trained
    shoal train TENANT/FLEET DATA FN      train FN per key of a Parquet file or folder
    shoal evaluate TENANT/FLEET DATA      score an alias's versions on a holdout
    shoal predict TENANT/FLEET DATA       batch scoring of Parquet into --out (logged)
    shoal runs TENANT/FLEET               a fleet's runs: status, counts, time taken
    shoal run show|resume RUN_ID          one run: counts, per-key errors; train what failed
    shoal monitor run|worst|rollup|trend  quality and drift of every model, per window
    shoal alerts rules|add|list|ack|...   alert rules and their alerts
    shoal retrain TENANT/FLEET DATA FN    train the alerting keys again (--where alert.open)
    shoal card show|set|approve|write     model cards: filled by Shoal, approved by people
    shoal token create|list|revoke        API tokens for the servers (secret shown once)
    shoal audit                           who changed what: principal, address, request id
    shoal serve                           the prediction server for every fleet
    shoal ui                              the REST API (/api/v1) and pages
    shoal db upgrade                      bring the store's schema to head
    shoal gc [--apply]                    remove artifact files no version uses
    shoal verify                          check every stored blob against its sha256
    shoal report TENANT/FLEET             the fleet report: one HTML file (or --format pdf)
    shoal demo                            the retail world end to end

Errors are caught in one place, :class:`_ShoalGroup`: a :class:`~shoal.errors.ShoalError`
prints ``error: <message>`` on stderr (the message already names the field and the fix)
and exits with that error's ``exit_code``; nothing Shoal raises on purpose shows a traceback.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from shoal import config
from shoal.cli import _output
from shoal.cli._session import Session
from shoal.cli.access import audit_command, token_app
from shoal.cli.alias import alias_app
from shoal.cli.cards import card_app
from shoal.cli.datasets import datasets_app
from shoal.cli.db import db_app
from shoal.cli.demo import demo_command
from shoal.cli.export import export_command
from shoal.cli.fleets import fleets_command
from shoal.cli.housekeeping import gc_command, verify_command, version_app
from shoal.cli.lineage import lineage_command
from shoal.cli.model import model_command, versions_command
from shoal.cli.models import models_command
from shoal.cli.monitor import alerts_app, monitor_app, retrain_command
from shoal.cli.predict import predict_command
from shoal.cli.report import report_command
from shoal.cli.runs import run_app, runs_command
from shoal.cli.serve import serve_command
from shoal.cli.train import evaluate_command, train_command
from shoal.cli.ui import ui_command
from shoal.errors import ShoalError

if TYPE_CHECKING:
    # The Context that TyperGroup.invoke takes: typer vendors click as typer._click.
    from typer._click import Context as ClickContext

INTERRUPTED = 130
"""Exit status after Ctrl-C: 128 + SIGINT, what shells expect."""


class _ShoalGroup(TyperGroup):
    """The root group: runs every command, and turns deliberate errors into one red line.

    It wraps ``invoke`` rather than ``main`` so the same handling applies under
    ``typer.testing.CliRunner``, which calls the group directly.
    """

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except ShoalError as exc:
            _output.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _output.error("interrupted")
            raise typer.Exit(INTERRUPTED) from None


app = typer.Typer(
    name="shoal",
    cls=_ShoalGroup,
    rich_markup_mode="markdown",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    store: Annotated[
        str | None,
        typer.Option(
            "--store", metavar="URL", help=f"{config.STORE_URL.doc} Env: {config.STORE_URL.env}."
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            metavar="URL",
            help=f"{config.ARTIFACTS_URL.doc} Env: {config.ARTIFACTS_URL.env}.",
        ),
    ] = None,
) -> None:
    """Shoal: MLOps for fleets of models, from ten to a million.

    Every list prints JSON with --json. Exit status: 0 ok, 2 invalid input, 3 not found,
    4 conflict, 5 integrity (stored bytes changed), 6 store unavailable, 7 missing extra,
    8 unauthenticated, 9 forbidden, 10 rate limited.
    """
    state = Session(store, artifacts)
    ctx.obj = state
    ctx.call_on_close(state.close)


app.command("fleets")(fleets_command)
app.command("models")(models_command)
app.command("export")(export_command)
app.command("model")(model_command)
app.command("versions")(versions_command)
app.add_typer(version_app, name="version")
app.command("lineage")(lineage_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("predict")(predict_command)
app.command("runs")(runs_command)
app.add_typer(run_app, name="run")
app.add_typer(alias_app, name="alias")
app.add_typer(datasets_app, name="datasets")
app.add_typer(db_app, name="db")
app.command("gc")(gc_command)
app.command("verify")(verify_command)
app.add_typer(monitor_app, name="monitor")
app.add_typer(alerts_app, name="alerts")
app.add_typer(card_app, name="card")
app.command("report")(report_command)
app.command("retrain")(retrain_command)
app.command("serve")(serve_command)
app.command("ui")(ui_command)
app.command("demo")(demo_command)
app.add_typer(token_app, name="token")
app.command("audit")(audit_command)


def main() -> None:
    """The ``shoal`` console script."""
    app()


__all__ = ["app", "main"]
