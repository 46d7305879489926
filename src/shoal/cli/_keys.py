"""``--key DIM=VALUE``: how every command names one model of a fleet.

One spelling everywhere: the option is repeated once per key dimension, in any order
(``--key store=s012 --key sku=A77``). Naming the dimension makes a command line
readable on its own and survives a fleet whose key order someone forgot. The checks
here speak in command-line terms (``--key``) so the fix is something one can type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from shoal.sdk.fleet import Fleet
from shoal.sdk.keys import parse_key_pairs

KEY_HELP = (
    "One key dimension of the model as DIM=VALUE; repeat it for each dimension of the "
    "fleet, e.g. --key store=s012 --key sku=A77. Leave it out for a fleet with no keys."
)


KeyOption = Annotated[
    list[str] | None, typer.Option("--key", "-k", metavar="DIM=VALUE", help=KEY_HELP)
]
"""The ``--key`` option, declared once so every command documents it the same way."""


def parse_key(fleet: Fleet, given: Sequence[str] | None) -> dict[str, str]:
    """The ``--key`` options as a complete key of ``fleet``, or an error naming the fix."""
    return parse_key_pairs(fleet.path, fleet.keys, list(given or ()), option="--key", field="key")
