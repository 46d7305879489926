"""How every command prints: JSON to stdout, rich tables to stdout, notes and errors to stderr.

JSON goes through ``json.dumps`` and plain ``typer.echo``, never through rich, so a
long value is never wrapped or highlighted and ``shoal ... --json | jq`` always parses.
Consoles are made per call, not at import, so they write to whatever ``sys.stdout`` and
``sys.stderr`` are at that moment (the test runner swaps them) and re-check for a terminal.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shoal.sdk.times import readable

# Piped output has no terminal width; a table cut at 80 columns would hide key values.
_PIPE_WIDTH = 200


def out() -> Console:
    """A console on stdout, wide when piped so tables are not truncated."""
    console = Console()
    return console if console.is_terminal else Console(width=_PIPE_WIDTH)


def err() -> Console:
    """A console on stderr for notes, hints and errors, which must not pollute stdout."""
    return Console(stderr=True, soft_wrap=True)


def error(message: str) -> None:
    """``error: <message>`` in red on stderr, as plain text (messages may contain ``[``)."""
    err().print(Text(f"error: {message}", style="bold red"))


def note(message: str, style: str = "dim") -> None:
    """A line for the person at the terminal (cursors, hints), kept off stdout."""
    err().print(Text(message, style=style))


def when(ts: float | str | None) -> str:
    """A timestamp short enough for a table cell: ``2026-11-24 21:30`` (UTC)."""
    return readable(ts, utc=False)


def number(value: Any) -> str:
    """A metric for a table: 4 significant digits is what a person compares by eye."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def pairs(mapping: Mapping[str, Any] | None) -> str:
    """``mape=0.31 rmse=2.4``: a dict in one table cell."""
    return " ".join(f"{k}={number(v)}" for k, v in (mapping or {}).items())


def print_json(data: Any) -> None:
    """Machine output: one JSON document on stdout."""
    typer.echo(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """A rich table on stdout; cells are shown as plain text, never as markup."""
    grid = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for name in columns:
        grid.add_column(name, overflow="fold")
    for row in rows:
        grid.add_row(*[Text("" if cell is None else str(cell)) for cell in row])
    out().print(grid)


def fields(items: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """A two-column name/value listing, for one object (a lineage, a dataset)."""
    grid = Table(title=title, title_justify="left", show_header=False, show_edge=False, box=None)
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in items:
        grid.add_row(name, Text("" if value is None else str(value)))
    out().print(grid)


@contextlib.contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner on stderr while a long call runs; silent when stderr is not a terminal."""
    console = err()
    if not console.is_terminal:
        yield
        return
    with console.status(message):
        yield


@contextlib.contextmanager
def stages(first: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr whose text each stage of a long call replaces (with the time
    since it started); silent when stderr is not a terminal."""
    console = err()
    if not console.is_terminal:
        yield lambda _text: None
        return
    started = time.perf_counter()
    with console.status(first) as status:
        yield lambda text: status.update(f"{text} ({time.perf_counter() - started:.1f} s)")


def next_page(cursor: str | None) -> None:
    """Where the next page starts, for the person at the terminal (never on stdout)."""
    if cursor:
        note(f"next page: --cursor {cursor}")


def echo(message: str) -> None:
    """A plain line on stdout (a count, a revision): what a script would capture."""
    typer.echo(message)


def short(sha: str | None, n: int = 12) -> str:
    """A fingerprint cut to a length a person can compare; ``--json`` has the whole."""
    return "" if not sha else sha[:n]


def key_text(key: Mapping[str, Any]) -> str:
    """``store=s012 sku=A77``: a model's key as typed on the command line."""
    return " ".join(f"{dim}={value}" for dim, value in key.items()) or "(single model)"
