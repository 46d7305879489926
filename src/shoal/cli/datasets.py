"""``shoal datasets``: registered data snapshots, and which models each one trained."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._options import JsonOption
from shoal.cli._session import client
from shoal.sdk.results import Dataset

datasets_app = typer.Typer(
    name="datasets", help="Registered data snapshots: list them, or show one and what it "
    "trained.", invoke_without_command=True,
)  # fmt: skip


@datasets_app.callback()
def list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List registered datasets, newest first; 'shoal datasets show ID' for one."""
    if ctx.invoked_subcommand is not None:
        return
    found = client(ctx).datasets.list(limit)
    if as_json:
        _output.print_json([d.to_dict() for d in found])
        return
    if not found:
        _output.note("no datasets yet: register one with client.datasets.register(frame, ...)")
        return
    _output.table(
        ["id", "tenant", "name", "rows", "fingerprint", "created"],
        [
            (
                d.id,
                d.tenant,
                d.name,
                d.row_count,
                _output.short(d.fingerprint),
                _output.when(d.created_at),
            )
            for d in found
        ],
    )


@datasets_app.command("show")
def show_command(
    ctx: typer.Context,
    dataset_id: Annotated[int, typer.Argument(metavar="ID", help="From 'shoal datasets'.")],
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="How many trained versions to list.")
    ] = 1000,
    as_json: JsonOption = False,
) -> None:
    """One dataset: schema, rows, fingerprint, and the model versions trained on it."""
    datasets = client(ctx).datasets
    found = datasets.get(dataset_id)
    trained = datasets.models(found, limit)
    if as_json:
        _output.print_json({**found.to_dict(), "models": trained})
        return
    _show(found)
    _output.table(
        ["column", "type", "nullable"],
        [(c.get("name"), c.get("type"), c.get("nullable")) for c in found.schema],
        title="schema",
    )
    if not trained:
        _output.note("no model versions name this dataset")
        return
    _output.table(
        ["fleet", "key", "version", "version id"],
        [(m["fleet"], _output.key_text(m["key"]), m["version"], m["version_id"]) for m in trained],
        title=f"trained on it ({len(trained)}{'+' if len(trained) >= limit else ''})",
    )


def _show(d: Dataset) -> None:
    _output.fields(
        [
            ("id", d.id),
            ("name", f"{d.tenant}/{d.name}"),
            ("rows", d.row_count),
            ("fingerprint", d.fingerprint),
            ("location", d.location or "-"),
            ("created", f"{_output.when(d.created_at)} by {d.created_by}"),
        ],
        title=f"dataset {d.id}",
    )
