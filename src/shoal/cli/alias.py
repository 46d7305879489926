"""``shoal alias``: move an alias over many models by a query, or one model by its key.

Every move is recorded with an id, and the command prints the exact ``shoal alias undo``
line that puts it back, so a promotion is never a one-way door. ``--dry-run`` shows
what would move and changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shoal.cli import _output
from shoal.cli._keys import KeyOption, parse_key
from shoal.cli._options import WHERE_HELP, FleetArgument, IdCursorOption, JsonOption
from shoal.cli._session import fleet as open_fleet
from shoal.cli._session import session
from shoal.errors import InvalidInput, NotFound
from shoal.sdk.fleet import Fleet
from shoal.sdk.results import AliasMove

alias_app = typer.Typer(
    name="alias", help="Move aliases (production, candidate...) in bulk, and undo moves.",
    no_args_is_help=True,
)  # fmt: skip


@alias_app.command("set")
def set_command(
    ctx: typer.Context,
    fleet: FleetArgument,
    alias: Annotated[
        str, typer.Argument(metavar="ALIAS", help="The alias to move, e.g. production.")
    ],
    where: Annotated[
        str | None,
        typer.Option("--where", "-w", help="Move it on every model this selects. " + WHERE_HELP),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="latest|ALIAS",
            help="Which version of each selected model the "
            "alias moves to: its latest, or the version another alias points at. Default: the "
            "one other alias the filter compares (candidate.mape < production.mape promotes "
            "the candidate), else latest.",
        ),
    ] = None,
    key: KeyOption = None,
    version: Annotated[
        int | None,
        typer.Option(
            "--version", "-v", help="With --key: the version number (default: the latest)."
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Move it on every model of the fleet (no --where).")
    ] = False,
    create: Annotated[
        bool,
        typer.Option(
            "--create", help="Confirm a move that starts an alias no model of the fleet has yet."
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would move; change nothing.")
    ] = False,
    preview: Annotated[int, typer.Option("--preview", help="How many moves to list.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Point ALIAS at a version of every model --where selects, or of the one model --key names.

    Many models: shoal alias set grocer/demand production --where "candidate.mape <
    production.mape"

    One model: shoal alias set grocer/demand production --key store=s012 --key sku=A77
    --version 3

    It prints the move id and the exact 'shoal alias undo' command that puts it back.
    """
    target = open_fleet(ctx, fleet)
    if key or version is not None:
        if where is not None or source is not None or every:
            raise InvalidInput("--key and --version move one model; --where, --all and "
                               "--source select many: give one or the other",
                               field="where")  # fmt: skip
        move = _set_one(target, alias, parse_key(target, key), version, dry_run, create)
    elif where is None and not every:
        raise InvalidInput(
            "alias set needs --where EXPR (every model it selects), --all (every model of "
            "the fleet) or --key DIM=VALUE (one model)",
            field="where",
        )
    else:
        with _output.working(f"moving {alias!r}"):
            move = target.promote(alias, where, all=every, source=source, dry_run=dry_run,
                                  create=create, preview=preview)  # fmt: skip
    _report(ctx, move, as_json)


def _set_one(
    fleet: Fleet, alias: str, key: dict[str, str], version: int | None, dry_run: bool,
    create: bool,
) -> AliasMove:  # fmt: skip
    """Move one model's alias, compare-and-set against what was read for the preview."""
    to = fleet.get(key, version=version)
    try:
        now: int | None = fleet.get(key, alias=alias).version
    except NotFound:
        now = None
    expected = {tuple(key[dim] for dim in fleet.keys): now}
    move = fleet.set_alias(alias, [(key, to.version)], expected=expected, dry_run=dry_run,
                           create=create)  # fmt: skip
    shown = [{"key": key, "from": now, "to": to.version}] if move.moved else []
    return AliasMove(move.fleet, move.alias, move.moved, move.unchanged, move.move_id,
                     dry_run=dry_run, source=f"version {to.version}", preview=shown,
                     creates=move.creates, notes=move.notes)  # fmt: skip


def _report(ctx: typer.Context, move: AliasMove, as_json: bool) -> None:
    undo = None
    if move.move_id is not None:
        undo = session(ctx).command("alias", "undo", move.fleet, str(move.move_id))
    if as_json:
        _output.print_json({**move.to_dict(), "undo": undo})
        return
    verb = "would move" if move.dry_run else "moved"
    _output.echo(
        f"{verb} {move.alias!r} on {move.moved} model(s) of {move.fleet} "
        f"(to {move.source}); {move.unchanged} already there"
    )
    for note in move.notes:
        _output.note(note)
    if move.preview:
        _output.table(
            ["key", "from", "to"],
            [(_output.key_text(p["key"]), _version(p["from"]), _version(p["to"]))
             for p in move.preview],
        )  # fmt: skip
        if move.moved > len(move.preview):
            _output.note(f"... and {move.moved - len(move.preview)} more")
    if move.dry_run:
        _output.note(
            "dry run: nothing moved"
            + ("; confirm the new alias with --create" if move.creates else "")
        )
    elif undo:
        _output.echo(f"move {move.move_id}; undo with: {undo}")


def _version(number: Any) -> str:
    return "-" if number is None else str(number)


@alias_app.command("undo")
def undo_command(
    ctx: typer.Context,
    fleet: FleetArgument,
    move_id: Annotated[int, typer.Argument(metavar="MOVE_ID", help="From 'shoal alias moves'.")],
    as_json: JsonOption = False,
) -> None:
    """Put back an alias move, except on models whose alias has moved again since."""
    move = open_fleet(ctx, fleet).undo(move_id)
    if as_json:
        _output.print_json(move.to_dict())
        return
    _output.echo(f"undid move {move_id}: {move.alias!r} moved back on {move.moved} model(s)")
    if move.skipped:
        _output.note(f"{move.skipped} model(s) left alone: their alias moved again since",
                     style="yellow")  # fmt: skip
    if move.move_id is not None:
        _output.echo(f"the undo is move {move.move_id}")


@alias_app.command("moves")
def moves_command(
    ctx: typer.Context,
    fleet: FleetArgument,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
    cursor: IdCursorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recent alias moves of a fleet, newest first, with what selected them and who moved them."""
    rows = open_fleet(ctx, fleet).alias_moves(limit, before=cursor)
    if as_json:
        _output.print_json(rows.to_dict())
        return
    if not rows:
        _output.note("no alias moves yet")
        return
    _output.table(
        ["id", "alias", "moved", "source", "where", "by", "at", "undone by"],
        [
            (r.id, r.alias, r.moved, r.source or "", r.where or "", r.actor, _output.when(r.at),
             r.undone_by or "")
            for r in rows
        ],
    )  # fmt: skip
    _output.next_page(rows.next_cursor)
