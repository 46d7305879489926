"""The grocer's per-key demand models: what ``fleet.train`` calls once per (store, sku).

Both models forecast the holdout weeks from what is known at the cut-off: the calendar
and the planned promotions. Both are :class:`~shoal.flavors.linear.LinearModel` objects,
a couple of hundred bytes of JSON each, so thousands of them save, load and predict in
milliseconds (a skops zip per model would cost more than the fit).

- :class:`SeasonalNaive`, the production baseline: every day of the horizon repeats the
  same weekday of the last training week, the benchmark any forecast must beat.
- :class:`PromoRidge`, the candidate: a ridge regression on day-of-week dummies, a
  trend and the promotion flag, fitted on every training day of its key.

They are module-level dataclasses with ``__call__`` rather than closures because the
local executor pickles ``fn`` to its worker processes; their fields are the
configuration (tags by store and SKU, the trend's origin), pickled with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shoal.errors import InvalidInput
from shoal.flavors.linear import LinearModel
from shoal.train import TrainResult

DOW = ("dow_1", "dow_2", "dow_3", "dow_4", "dow_5", "dow_6")
"""Day-of-week dummies; Monday is the intercept."""
CALENDAR = (*DOW, "trend")
"""Day-of-week dummies and a trend in weeks since the origin."""
WITH_PROMO = (*CALENDAR, "promo")
"""The candidate's features: the calendar plus a promotion flag."""
RIDGE = 1e-3
"""A small penalty so keys that never ran a promotion get promo=0 rather than a singular fit."""

Tags = Mapping[str, Mapping[str, str]]
"""Tags by store id and by SKU id (the two never share a name)."""


def features(
    dates: Sequence[Any] | pd.DatetimeIndex | pd.Series[Any],
    origin: str,
    promo: Sequence[Any] | pd.Series[Any] | None = None,
) -> pd.DataFrame:
    """The model inputs for ``dates``: what a caller passes to ``predict``.

    ``origin`` is the date the trend counts weeks from (the candidate's ``trend_origin``
    param); ``promo`` (0/1 per date) is needed only by the promo-aware candidate.
    """
    names = WITH_PROMO if promo is not None else CALENDAR
    return pd.DataFrame(design(dates, origin, promo), columns=list(names))


def design(dates: Any, origin: str, promo: Any = None) -> np.ndarray:
    """:func:`features` as a bare array, in numpy alone: a training function calls it per key.

    Why not pandas: this runs thousands of times in a demo run, and building a
    ``DatetimeIndex`` and a frame per key cost more than the fit itself.
    """
    days = day_numbers(dates)
    dow = weekday(days)
    columns = [(dow == d).astype("float64") for d in range(1, 7)]
    columns.append((days - day_numbers([origin])[0]) / 7.0)
    if promo is not None:
        columns.append(np.asarray(promo, dtype="float64"))
    return np.column_stack(columns)


def day_numbers(dates: Any) -> np.ndarray:
    """Days since 1970-01-01 (dates, strings or timestamps; the time of day is dropped)."""
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday 0 to Sunday 6, from :func:`day_numbers` (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


@dataclass(frozen=True)
class SeasonalNaive:
    """Train the baseline for one key: its last training week, repeated."""

    tags: Tags = field(default_factory=dict)

    def __call__(self, frame: pd.DataFrame) -> TrainResult:
        days = day_numbers(frame["date"])
        last = days > days.max() - 7
        sales = frame["sales"].to_numpy()[last].tolist()
        week = dict(zip(weekday(days[last]).tolist(), sales, strict=True))
        if len(week) != 7:
            raise InvalidInput(f"the last training week has {len(week)} of 7 days")
        monday = float(week[0])
        model = LinearModel(monday, {f"dow_{d}": float(week[d]) - monday for d in range(1, 7)})
        params = {
            "estimator": "seasonal_naive",
            "season_days": 7,
            "features": "+".join(DOW),
            **_window(days),
        }
        return TrainResult(model, params=params, tags=_key_tags(self.tags, frame))


@dataclass(frozen=True)
class PromoRidge:
    """Train the candidate for one key: ridge on the calendar and the promotion flag."""

    origin: str
    ridge: float = RIDGE
    tags: Tags = field(default_factory=dict)

    def __call__(self, frame: pd.DataFrame) -> TrainResult:
        X = design(frame["date"], self.origin, frame["promo"])
        y = frame["sales"].to_numpy(dtype="float64")
        coef = fit_ridge(X, y, self.ridge).round(6).tolist()
        model = LinearModel(coef[0], dict(zip(WITH_PROMO, coef[1:], strict=True)))
        params = {
            "estimator": "ridge",
            "ridge": self.ridge,
            "features": "+".join(WITH_PROMO),
            "trend_origin": self.origin,
            **_window(day_numbers(frame["date"])),
        }
        return TrainResult(model, params=params, tags=_key_tags(self.tags, frame))


def fit_ridge(X: np.ndarray, y: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Ridge least squares with an unpenalised intercept: ``(1 + p,)``, intercept first.

    The penalty scales with the number of days, so it means the same for any window.
    Because the intercept is free, the training residuals sum to zero.
    """
    A = np.column_stack([np.ones(len(X)), X])
    penalty = np.full(A.shape[1], ridge * len(X))
    penalty[0] = 0.0
    return np.linalg.solve(A.T @ A + np.diag(penalty), A.T @ y)


def holdout_frame(sales: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Keys, the ``sales`` target and every model input, for ``fleet.evaluate``."""
    inputs = features(sales["date"], origin, sales["promo"]).set_index(sales.index)
    return pd.concat([sales[["store", "sku", "sales"]], inputs], axis=1)


def _window(days: np.ndarray) -> dict[str, Any]:
    """The first and last training day, as ISO dates."""
    first, last = np.array([days.min(), days.max()], dtype="datetime64[D]").astype(str)
    return {"train_from": str(first), "train_to": str(last)}


def _key_tags(tags: Tags, frame: pd.DataFrame) -> dict[str, str]:
    """The store's and the SKU's tags for the one key ``frame`` holds."""
    store, sku = frame["store"].iloc[0], frame["sku"].iloc[0]
    return {**tags.get(store, {}), **tags.get(sku, {})}
