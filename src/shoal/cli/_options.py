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

WHERE_HELP = (
    "Filter, e.g. \"store = 's012' and mape > 0.3\" or \"alias = 'production'\". Names are "
    "key dimensions, metrics (mape), tags.X, params.X, ALIAS.metric, version, flavor, "
    "created_at; operators = != < <= > >= in, is null, and, or, not."
)
