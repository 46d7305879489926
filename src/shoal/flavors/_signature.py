"""What a model takes and returns, stored with every version and checked before predicting.

Dtypes are compared by kind, not by exact name: a model trained on ``float64`` accepts an
``int64`` or ``bool`` column (all numbers), but not a string column. That keeps the check
useful (a request with text in a numeric feature fails with the column named) without
rejecting inputs that every model library accepts anyway. ``"any"`` turns the check off
for one column, for models that record feature names but not their types.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

ANY = "any"
"""Dtype string that accepts any column type."""


@dataclass(frozen=True)
class Signature:
    """Named, typed inputs and the output dtype of a model; JSON-safe via :meth:`to_dict`.

    >>> sig = Signature([("x1", "float64"), ("x2", "int64")], output="float64")
    >>> Signature.from_dict(sig.to_dict()) == sig
    True
    """

    inputs: tuple[tuple[str, str], ...]
    output: str | None = None

    def __post_init__(self) -> None:
        pairs = tuple((str(name), str(dtype)) for name, dtype in self.inputs)
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise InvalidInput(f"signature inputs repeat column(s) {dupes}", field="inputs")
        object.__setattr__(self, "inputs", pairs)

    @property
    def names(self) -> list[str]:
        """Input column names, in the order the model expects them."""
        return [name for name, _ in self.inputs]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        output: str | None = None,
        *,
        columns: Sequence[str] | None = None,
    ) -> Signature:
        """The signature of a sample frame: its columns (or ``columns``) and their dtypes."""
        present = _columns(frame)
        if columns is None:
            columns = present
        missing = [c for c in columns if c not in present]
        if missing:
            raise InvalidInput(
                f"sample is missing column(s) {missing} that the model uses", field="sample"
            )
        return cls(tuple((str(c), str(frame[c].dtype)) for c in columns), output)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: ``{"inputs": [{"name", "dtype"}...], "output": dtype | None}``."""
        return {
            "inputs": [{"name": name, "dtype": dtype} for name, dtype in self.inputs],
            "output": self.output,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Inverse of :meth:`to_dict`; raises InvalidInput on any other shape."""
        try:
            inputs = [(item["name"], item["dtype"]) for item in data["inputs"]]
            output = data.get("output")
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                'signature must look like {"inputs": [{"name": ..., "dtype": ...}], '
                f'"output": ...}}; got {data!r}',
                field="signature",
            ) from exc
        return cls(tuple(inputs), output)

    def validate(self, X: Any, *, allow_extra: bool = False) -> None:
        """Raise InvalidInput naming the first missing, extra or mistyped column of ``X``.

        Extra columns are an error by default (a typo in a feature name shows up as one
        missing and one extra column); the server passes ``allow_extra=True`` because its
        requests also carry the key columns.
        """
        columns = _columns(X)
        expected = self.names
        missing = [name for name in expected if name not in columns]
        if missing:
            raise InvalidInput(
                f"X is missing column(s) {missing} that the model needs; "
                f"expected columns {expected}",
                field=f"X.{missing[0]}",
            )
        extra = [str(c) for c in columns if c not in set(expected)]
        if extra and not allow_extra:
            raise InvalidInput(
                f"X has unexpected column(s) {extra}; the model takes {expected} "
                "(drop the others, or validate with allow_extra=True)",
                field=f"X.{extra[0]}",
            )
        dtypes = dict(zip(X.columns, X.dtypes, strict=True))  # one Series, not one per column
        for name, dtype in self.inputs:
            actual = str(dtypes[name])
            if not _compatible(dtype, dtypes[name]):
                raise InvalidInput(
                    f"X column {name!r} has dtype {actual} but the model needs {dtype} "
                    f"({_kind_of(dtype)}); convert the column before predicting",
                    field=f"X.{name}",
                )


def _columns(X: Any) -> list[Any]:
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        raise InvalidInput(
            f"X must be a pandas DataFrame with named columns, got {type(X).__name__}",
            field="X",
        )
    return list(X.columns)


def _kind(dtype: Any) -> str:
    """Coarse kind of a pandas/numpy dtype: number, string, category, datetime or its name."""
    from pandas.api import types as pdt

    if isinstance(dtype, str):
        if dtype in (ANY, "number"):
            return dtype
        name = dtype
        try:
            dtype = pdt.pandas_dtype(name)
        except TypeError:
            return name
    if isinstance(dtype, pdt.CategoricalDtype):
        return "category"
    if pdt.is_bool_dtype(dtype) or pdt.is_numeric_dtype(dtype):
        return "number"
    if pdt.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pdt.is_string_dtype(dtype) or pdt.is_object_dtype(dtype):
        return "string"
    return str(dtype)


def _kind_of(dtype: str) -> str:
    kind = _kind(dtype)
    return "any type" if kind == ANY else f"a {kind}"


def _compatible(declared: str, actual: Any) -> bool:
    want = _cached_kind(declared)
    return want == ANY or want == _cached_kind(actual)


@functools.lru_cache(maxsize=512)
def _kind_cached(dtype: Any) -> str:
    return _kind(dtype)


def _cached_kind(dtype: Any) -> str:
    """:func:`_kind`, remembered: a server checks the same few dtypes on every request."""
    try:
        return _kind_cached(dtype)
    except TypeError:  # an unhashable dtype
        return _kind(dtype)


def select_columns(X: Any, names: Sequence[str]) -> pd.DataFrame:
    """``X[names]`` in the model's order, or InvalidInput naming the missing columns."""
    present = _columns(X)
    frame: pd.DataFrame = X  # _columns raised unless it is one
    if present == list(names):  # already in order: no copy, no new column index
        return frame
    columns = set(present)
    missing = [n for n in names if n not in columns]
    if missing:
        raise InvalidInput(
            f"X is missing column(s) {missing} that the model needs; expected {list(names)}",
            field=f"X.{missing[0]}",
        )
    return frame[list(names)]


def signature_or_none(pairs: Iterable[tuple[str, str]], output: str | None) -> Signature | None:
    """A Signature from pairs, or None when there are no named inputs to describe."""
    pairs = tuple(pairs)
    return Signature(pairs, output) if pairs else None
