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

from shoal.errors import InvalidInput
from shoal.sdk.fleet import Fleet

KEY_HELP = (
    "One key dimension of the model as DIM=VALUE; repeat it for each dimension of the "
    "fleet, e.g. --key store=s012 --key sku=A77. Leave it out for a fleet with no keys."
)


KeyOption = Annotated[
    list[str] | None, typer.Option("--key", "-k", metavar="DIM=VALUE", help=KEY_HELP)
]
"""The ``--key`` option, declared once so every command documents it the same way."""


def _example(fleet: Fleet) -> str:
    return " ".join(f"--key {dim}=VALUE" for dim in fleet.keys) or "no --key at all"


def parse_key(fleet: Fleet, given: Sequence[str] | None) -> dict[str, str]:
    """The ``--key`` options as a complete key of ``fleet``, or an error naming the fix."""
    key: dict[str, str] = {}
    for text in given or ():
        dim, sep, value = text.partition("=")
        dim = dim.strip()
        if not sep or not dim or not value:
            raise InvalidInput(
                f"--key {text!r} must be DIM=VALUE; fleet '{fleet.path}' takes {_example(fleet)}",
                field="key",
            )
        if dim not in fleet.keys:
            dims = ", ".join(fleet.keys) or "none (it is a single model)"
            raise InvalidInput(
                f"--key {dim!r} is not a key dimension of fleet '{fleet.path}'; its dimensions "
                f"are {dims}: pass {_example(fleet)}",
                field="key",
            )
        if dim in key:
            raise InvalidInput(
                f"--key {dim} is given twice ({key[dim]!r} and {value!r}); give each dimension "
                "once",
                field="key",
            )
        key[dim] = value
    missing = [dim for dim in fleet.keys if dim not in key]
    if missing:
        raise InvalidInput(
            f"--key: missing {', '.join(missing)} for fleet '{fleet.path}': pass {_example(fleet)}",
            field="key",
        )
    return key
