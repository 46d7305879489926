"""One parser for a model's key written as ``DIM=VALUE`` pairs, shared by the CLI and REST.

The CLI takes the pairs as repeated ``--key store=s012 --key sku=A77``; a REST path takes
them joined by commas, ``store=s012,sku=A77``. Both come here, so one mistake (a missing
dimension, an unknown one, one given twice) is one error with one status everywhere:
``InvalidInput`` naming the field and the spelling that fixes it. A value may hold any
character in a path, ``/`` and ``,`` included, but for a comma followed by ``NAME=``: a
path is split only there (:func:`split_path_key`), so ``sku=A,77`` is one value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shoal.errors import InvalidInput


def parse_key_pairs(
    path: str, dims: Sequence[str], pairs: Sequence[str], *, option: str, field: str
) -> dict[str, str]:
    """``pairs`` (``DIM=VALUE`` each) as a complete key of fleet ``path`` keyed by ``dims``.

    ``option`` is how the caller spells one pair in its errors (``--key`` on the command
    line, ``model`` in a URL); ``field`` names the input in the error.
    """
    example = _example(dims, option)
    key: dict[str, str] = {}
    for text in pairs:
        dim, sep, value = text.partition("=")
        dim = dim.strip()
        if not sep or not dim or not value:
            raise InvalidInput(
                f"{option} {text!r} must be DIM=VALUE; fleet '{path}' takes {example}",
                field=field,
            )
        if dim not in dims:
            have = ", ".join(dims) or "none (it is a single model)"
            raise InvalidInput(
                f"{option} {dim!r} is not a key dimension of fleet '{path}'; its dimensions "
                f"are {have}: pass {example}",
                field=field,
            )
        if dim in key:
            raise InvalidInput(
                f"{option} {dim} is given twice ({key[dim]!r} and {value!r}); give each "
                "dimension once",
                field=field,
            )
        key[dim] = value
    missing = [dim for dim in dims if dim not in key]
    if missing:
        raise InvalidInput(
            f"{option}: missing {', '.join(missing)} for fleet '{path}': pass {example}",
            field=field,
        )
    return key


_PAIR_START = re.compile(r",(?=[A-Za-z_][A-Za-z0-9_]*=)")
"""A comma that starts the next ``NAME=`` of a path key: the only place a path is split."""


def split_path_key(text: str) -> list[str]:
    """``store=s012,sku=A77`` as ``DIM=VALUE`` pairs, split only at a comma followed by a
    name and ``=``: a value may hold commas (``sku=A,77``, ``name=a, b``) unless one is
    followed by ``NAME=``, which reads as the next pair (so a misspelt dimension after a
    comma is named as unknown, not swallowed by the value before it)."""
    return _PAIR_START.split(text) if text else []


def _example(dims: Sequence[str], option: str) -> str:
    if option.startswith("--"):
        return " ".join(f"{option} {dim}=VALUE" for dim in dims) or f"no {option} at all"
    return ",".join(f"{dim}=VALUE" for dim in dims) or "an empty key"
