"""What a training function returns, and how Shoal reads it.

``fn(frame)`` may return a fitted model, or a :class:`TrainResult` (or a dict with the
same fields) to attach metrics, params, tags, a flavor and the model's in-sample
predictions (the baseline of prediction drift, see ``_work``). Anything else is refused with
a message that says what was returned and what is allowed, as that key's error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from shoal.errors import InvalidInput


@dataclass(frozen=True)
class TrainResult:
    """One key's trained model and what to record with it.

    >>> def fit_one(frame):                                        # doctest: +SKIP
    ...     model = LinearRegression().fit(frame[["price"]], frame["units"])
    ...     return shoal.TrainResult(model, metrics={"r2": model.score(...)})
    """

    model: Any
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, Any] = field(default_factory=dict)
    flavor: str | None = None
    predictions: Any = None
    """The model's predictions on the key's rows, in their order (a 1-D array or list), if
    ``fn`` has them: they become the baseline monitoring tests prediction drift against.
    Without them Shoal predicts on the rows itself, when the model names its inputs and
    the rows hold them; give them when ``fn`` builds the model's inputs (lags, encodings)."""


FIELDS = tuple(f.name for f in fields(TrainResult))

_NOT_MODELS = (str, bytes, bytearray, int, float, bool, list, tuple, set)


def as_result(value: Any) -> TrainResult:
    """Read what ``fn`` returned; InvalidInput names what came back and what is allowed."""
    if isinstance(value, TrainResult):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise InvalidInput(
                f"fn returned a dict with unknown field(s) {unknown}; allowed: {list(FIELDS)}",
                field="fn",
            )
        if value.get("model") is None:
            raise InvalidInput(
                "fn returned a dict without 'model'; return {'model': fitted, 'metrics': ...}",
                field="fn",
            )
        return TrainResult(**value)
    if value is None or isinstance(value, _NOT_MODELS):
        shown = "None" if value is None else type(value).__name__
        raise InvalidInput(
            f"fn returned {shown}; return a fitted model, or a dict or shoal.TrainResult "
            "with model= (and optional metrics, params, tags, flavor)",
            field="fn",
        )
    return TrainResult(model=value)
