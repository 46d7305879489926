"""Per-key demand models, fitted for thousands of keys at once with numpy.

A fleet of (store, sku) models is a batch of small regressions that share their dates.
Fitting them one by one in a Python loop is what makes per-key training slow; here the
baseline model's design matrix is the same for every key, so one least-squares call
fits all of them, and the promo-aware candidate (whose promo column differs per key)
is one batched solve of the normal equations. Each row of coefficients becomes a
:class:`~shoal.flavors.linear.LinearModel`, a couple of hundred bytes of JSON.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shoal.flavors.linear import LinearModel

BASELINE = ("dow_1", "dow_2", "dow_3", "dow_4", "dow_5", "dow_6", "trend")
"""Day-of-week dummies (Monday is the intercept) and a trend in weeks since the origin."""
WITH_PROMO = (*BASELINE, "promo")
"""The candidate's features: the baseline plus a promotion flag."""
RIDGE = 1e-3
"""A small penalty so keys that never ran a promotion get promo=0 rather than a singular fit."""


def features(
    dates: Sequence | pd.DatetimeIndex, origin: str, promo: Sequence | None = None
) -> pd.DataFrame:
    """The model inputs for ``dates``: what a caller passes to ``predict``.

    ``origin`` is the date the trend counts weeks from (the model's ``trend_origin``
    param); ``promo`` (0/1 per date) is needed only by promo-aware models.
    """
    index = pd.DatetimeIndex(dates)
    dow = index.day_of_week.to_numpy()
    frame = pd.DataFrame({f"dow_{d}": (dow == d).astype("float64") for d in range(1, 7)})
    frame["trend"] = (index - pd.Timestamp(origin)).days.to_numpy() / 7.0
    if promo is not None:
        frame["promo"] = np.asarray(promo, dtype="float64")
    return frame


def shared_solver(X: np.ndarray) -> np.ndarray:
    """The least-squares solver for one design ``X`` (days x p, no intercept column).

    Computed once (a pseudo-inverse, intercept row first), it fits any number of keys
    with one matrix product in :func:`fit_shared`. Why not ``np.linalg.lstsq`` per
    block: it redoes the SVD for each call, and on a busy machine its threaded LAPACK
    call was measured 100x slower than this product.
    """
    return np.linalg.pinv(np.column_stack([np.ones(len(X)), X]))


def fit_shared(solver: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Least squares for every column of ``Y`` (days x keys): ``(keys, 1 + p)``."""
    return (solver @ Y).T


def fit_batched(X: np.ndarray, Y: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Ridge-regularised least squares per key: ``X`` is (keys, days, p), ``Y`` (keys, days).

    The intercept is not penalised. Returns ``(keys, 1 + p)``, intercept first.
    """
    keys, days, _ = X.shape
    A = np.concatenate([np.ones((keys, days, 1)), X], axis=2)
    gram = np.einsum("kdi,kdj->kij", A, A)
    penalty = np.full(A.shape[2], ridge * days)
    penalty[0] = 0.0
    gram += np.diag(penalty)
    rhs = np.einsum("kdi,kd->ki", A, Y)
    return np.linalg.solve(gram, rhs[..., None])[..., 0]


def predict(coef: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Predictions (keys, days) for a shared design (days, p) or per-key designs."""
    if X.ndim == 2:
        return coef[:, :1] + coef[:, 1:] @ X.T
    return coef[:, :1] + np.einsum("kdp,kp->kd", X, coef[:, 1:])


def holdout_metrics(actual: np.ndarray, forecast: np.ndarray) -> dict[str, np.ndarray]:
    """MAPE, sMAPE, RMSE and MAE per key (row) over the holdout days (columns).

    MAPE skips days with zero sales (it is undefined there); a key with none left
    gets NaN, and the caller leaves that metric out rather than store a fake number.
    """
    err = forecast - actual
    sold = actual > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(sold, np.abs(err) / np.where(sold, actual, 1.0), 0.0)
        mape = ape.sum(axis=1) / sold.sum(axis=1)
        denom = np.abs(actual) + np.abs(forecast)
        smape = np.where(denom > 0, 2.0 * np.abs(err) / np.where(denom > 0, denom, 1.0), 0.0)
    return {
        "mape": mape,
        "smape": smape.mean(axis=1),
        "rmse": np.sqrt((err**2).mean(axis=1)),
        "mae": np.abs(err).mean(axis=1),
    }


def to_models(coef: np.ndarray, names: Sequence[str]) -> list[LinearModel]:
    """One LinearModel per row of ``coef`` (intercept first, then ``names``)."""
    rounded = coef.round(6).tolist()
    return [LinearModel(row[0], dict(zip(names, row[1:], strict=True))) for row in rounded]
