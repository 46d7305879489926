"""Options several commands share, declared once so their help reads the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

FleetArgument = Annotated[
    str, typer.Argument(metavar="TENANT/FLEET", help="The fleet, e.g. grocer/demand.")
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON to stdout instead of a table.")
]
"""``--json`` on every listing: one parseable document on stdout, nothing else there."""

IdCursorOption = Annotated[
    int | None,
    typer.Option("--cursor", help="Continue after the page that printed this cursor."),
]
"""``--cursor`` of a newest-first listing by id (runs, alias moves)."""

WHERE_HELP = (
    "Filter, e.g. \"store = 's012' and mape > 0.3\" or \"alias = 'production'\". "
    "Names: alias version status flavor created_at run dataset id tags.NAME params.NAME "
    "metrics.NAME; any other name is a key dimension (store), a metric (mape) or "
    "ALIAS.METRIC (production.mape). "
    "Operators: = == != <> < <= > >=; "
    "Keywords: and or not in is null true false; "
    "e.g. x in ('a', 'b'), x not in (1, 2), x is not null. See docs/search.md."
)
"""``--where`` help; ``tests/test_docs.py`` holds its Names, Operators, Keywords to the parser."""
