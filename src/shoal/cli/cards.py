"""``shoal card``: model cards, filled from what Shoal tracks, edited and approved by people.

shoal card show grocer/demand --key store=s01 --key sku=A7 [--format md|html|json]
shoal card set grocer/demand --key ... --owner "demand team" --intended-use "..."
shoal card approve|archive|draft grocer/demand --key ...
shoal card write grocer/demand --where "store = 's01'" --out cards.zip [--format html]
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shoal.cli import _output
from shoal.cli._keys import KeyOption, parse_key
from shoal.cli._options import WHERE_HELP, FleetArgument, JsonOption
from shoal.cli._session import fleet as open_fleet
from shoal.errors import InvalidInput
from shoal.report.cards import ModelCard

card_app = typer.Typer(
    name="card",
    help="Model cards: show, edit, approve, archive, and write a filter's cards to a folder "
    "or zip.",
    no_args_is_help=True,
)

FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="md (Markdown) or html: a self-contained page.")
]


def _done(card: ModelCard, action: str, as_json: bool) -> None:
    if as_json:
        _output.print_json(card.to_dict())
        return
    who = f" by {card.approved_by}" if card.status == "approved" else ""
    _output.echo(f"{action}: {card.fleet} {_output.key_text(card.key)} is {card.status}{who}")
    _output.note(card.summary)


@card_app.command("show")
def show_command(
    ctx: typer.Context,
    fleet: FleetArgument,
    key: KeyOption = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="md, html (a self-contained page), json, or pdf "
            "(printed by headless Chromium; needs --out).",
        ),
    ] = "md",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the card to this file instead.")
    ] = None,
) -> None:
    """Print one model's card (Markdown, HTML or JSON), or write it (also as a PDF)."""
    if format not in ("md", "html", "json", "pdf"):
        raise InvalidInput(f"--format must be md, html, json or pdf, got {format!r}",
                           field="format")  # fmt: skip
    if format == "pdf" and out is None:
        raise InvalidInput("a PDF is written to a file: add --out card.pdf", field="out")
    target = open_fleet(ctx, fleet)
    card = target.cards.get(parse_key(target, key))
    if format == "pdf":
        from shoal.report.pdf import print_pdf

        data = print_pdf(card.to_html())
    elif format == "json":
        data = (json.dumps(card.to_dict(), indent=2, default=str) + "\n").encode()
    else:
        data = (card.to_markdown() if format == "md" else card.to_html()).encode()
    if out is None:
        if format == "json":
            _output.print_json(card.to_dict())
        else:
            typer.echo(data.decode(), nl=False)
        return
    temp = out.with_name(f".{out.name}.partial")
    temp.write_bytes(data)
    temp.replace(out)
    _output.note(f"wrote {out} ({len(data):,} bytes)")


@card_app.command("set")
def set_command(
    ctx: typer.Context,
    fleet: FleetArgument,
    key: KeyOption = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Who answers for the model (one line).")
    ] = None,
    intended_use: Annotated[
        str | None, typer.Option("--intended-use", help="What the model is for (4,000 chars).")
    ] = None,
    limitations: Annotated[
        str | None,
        typer.Option("--limitations", help="Where it should not be trusted (4,000 chars)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write the fields people own. Changing an approved card puts it back to draft."""
    if owner is None and intended_use is None and limitations is None:
        raise InvalidInput(
            "nothing to set: pass --owner, --intended-use or --limitations", field="owner"
        )
    target = open_fleet(ctx, fleet)
    found = parse_key(target, key)
    before = target.cards.get(found).status
    card = target.cards.update(
        found, owner=owner, intended_use=intended_use, limitations=limitations
    )
    _done(card, "set", as_json)
    if before == "approved" and card.status == "draft":
        _output.note("the card was approved: its text changed, so it is a draft again")


def _status_command(status: str, action: str, doc: str) -> Any:
    def command(
        ctx: typer.Context, fleet: FleetArgument, key: KeyOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        target = open_fleet(ctx, fleet)
        cards = target.cards
        change = {"approved": cards.approve, "archived": cards.archive, "draft": cards.draft}
        _done(change[status](parse_key(target, key)), action, as_json)

    command.__doc__ = doc
    return command


card_app.command("approve")(_status_command(
    "approved", "approved",
    "Approve a draft card (it needs an owner and an intended use); records who and when.",
))  # fmt: skip
card_app.command("archive")(_status_command(
    "archived", "archived", "Archive a card: the model is retired, its card kept.",
))  # fmt: skip
card_app.command("draft")(_status_command(
    "draft", "reopened", "Reopen an approved or archived card as a draft.",
))  # fmt: skip


@card_app.command("write")
def write_command(
    ctx: typer.Context,
    fleet: FleetArgument,
    out: Annotated[
        str, typer.Option("--out", "-o", metavar="DIR|FILE.zip",
                          help="A folder, or a zip when it ends with .zip.")
    ],
    where: Annotated[str | None, typer.Option("--where", "-w", help=WHERE_HELP)] = None,
    format: FormatOption = "md",
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Write the card of every model a filter selects (every model without --where), one
    file per model named by its key, read in bulk."""
    target = open_fleet(ctx, fleet)
    with _progress() as advance:
        written = target.cards.write(out, where=where, format=format, progress=advance)
    if as_json:
        _output.print_json(written.to_dict())
        return
    _output.echo(
        f"wrote {written.cards:,} cards to {written.path} ({written.bytes / 1000:.1f} kB, "
        f"largest {written.largest / 1000:.1f} kB)"
    )


@contextlib.contextmanager
def _progress() -> Iterator[Any]:
    """A rich bar on stderr at a terminal; nothing when piped."""
    console = _output.err()
    if not console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("writing cards"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )  # fmt: skip
    task = bar.add_task("cards", total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield advance
