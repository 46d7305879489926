"""``shoal fleets``: every fleet this store holds, with its keys and sizes."""

from __future__ import annotations

import typer

from shoal.cli import _output
from shoal.cli._options import JsonOption
from shoal.cli._session import client


def fleets_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List every fleet: tenant, fleet, key dimensions, models and versions.

    The counts are kept by every write, so this stays instant at a million models.
    """
    rows = [info.to_dict() for info in client(ctx).fleets()]
    if as_json:
        _output.print_json(rows)
        return
    if not rows:
        _output.note("no fleets yet: register models with the SDK, or run 'shoal demo'")
        return
    _output.table(
        ["tenant", "fleet", "keys", "models", "versions"],
        [
            (r["tenant"], r["fleet"], ", ".join(r["keys"]) or "-", r["models"], r["versions"])
            for r in rows
        ],
    )
