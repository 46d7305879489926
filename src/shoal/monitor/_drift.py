"""Drift statistics on binned counts, vectorised over every (version, window) of a pass,
and the fleet-wide control of false discoveries.

Per numeric feature: PSI (the effect size) and a two-sample Kolmogorov-Smirnov test on
the cumulative counts at the baseline's bin edges (the p-value). Per categorical feature:
PSI and a chi-square test of homogeneity on the top values and "other". Both tests take
the baseline's size into account, not only the window's: a per-key baseline of a few
hundred rows is itself a sample.

KS on binned data compares the two distributions at the edges only, so its statistic is
at most the exact one: under no drift its p-values are conservative (never too small),
which is what a false-discovery control needs.

A fleet of 100,000 models with 10 features runs a million tests per window; at a 5 %
level, 50,000 would fire on a fleet where nothing drifted. :func:`benjamini_hochberg`
turns the window's p-values into q-values; a feature is flagged when its q-value is at
most ``alpha`` (the expected share of false flags among the flags) *and* its PSI reaches
``min_psi``, so a statistically certain but negligible shift in a huge window is not
reported. Flags are ranked by PSI.

The prediction's test (logged predictions against the version's own in-sample
predictions recorded at training) is a separate family, :func:`by_window`, with the same
``alpha`` and ``min_psi``: it answers another question (did the output move, whatever
moved it), it is not one more feature, and mixed into the features' family its q-values
would depend on how many features the fleet happens to log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

MIN_TESTED = 5
"""Fewer values than this (in the window or the baseline) and a feature is not tested."""

SMOOTHING = 0.5
"""Added to every slot's count before PSI, so an empty bin on either side stays finite."""


@dataclass
class Tested:
    """One feature's figures for every group (row) of a pass."""

    n: np.ndarray
    missing: np.ndarray
    out_of_range: np.ndarray
    psi: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    tested: np.ndarray


def psi(base: np.ndarray, seen: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Population stability index per row over the ``valid`` slots (smoothed counts)."""
    b = np.where(valid, base + SMOOTHING, 0.0)
    c = np.where(valid, seen + SMOOTHING, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = b / b.sum(axis=1, keepdims=True)
        q = c / c.sum(axis=1, keepdims=True)
        terms = np.where(valid, (q - p) * np.log(q / p), 0.0)
    psi: np.ndarray = terms.sum(axis=1)
    return psi


def numeric(
    counts: np.ndarray, bins: np.ndarray, base: np.ndarray, width: int, ok: np.ndarray
) -> Tested:
    """Figures from the query's codes: ``counts`` is ``(rows, width + 3)`` (bins, over,
    under, missing); ``bins`` and ``base`` are each row's baseline (see ``_reference``)."""
    rows = len(counts)
    idx = np.arange(rows)
    under = counts[:, width + 1]
    missing = counts[:, width + 2]
    over = counts[idx, np.minimum(bins, width)]
    over = np.where(bins <= width, over, 0)
    # Slots in order along the axis: under, bin 0 .. bin width-1, over.
    seen = np.zeros((rows, width + 2))
    seen[:, 0] = under
    in_bin = np.arange(width)[None, :] < bins[:, None]
    seen[:, 1 : width + 1] = np.where(in_bin, counts[:, :width], 0)
    seen[:, width + 1] = over
    ref = np.zeros((rows, width + 2))
    ref[:, 1 : width + 1] = base
    valid = np.zeros((rows, width + 2), dtype=bool)
    valid[:, 0] = True
    valid[:, 1 : width + 1] = in_bin
    valid[:, width + 1] = True
    n = seen.sum(axis=1)
    m = ref.sum(axis=1)
    tested = ok & (n >= MIN_TESTED) & (m >= MIN_TESTED)
    with np.errstate(invalid="ignore", divide="ignore"):
        cdf_seen = np.cumsum(seen, axis=1) / n[:, None]
        cdf_ref = np.cumsum(ref, axis=1) / m[:, None]
        d = np.abs(cdf_seen - cdf_ref).max(axis=1)
        effective = np.sqrt(n * m / (n + m))
        p = special.kolmogorov(effective * d)
    return Tested(
        n=n + missing, missing=missing, out_of_range=under + over,
        psi=np.where(tested, psi(ref, seen, valid), np.nan),
        statistic=np.where(tested, d, np.nan), p_value=np.where(tested, p, np.nan),
        tested=tested,
    )  # fmt: skip


def categorical(counts: np.ndarray, base: np.ndarray, width: int, ok: np.ndarray) -> Tested:
    """``counts`` is ``(rows, width + 2)``: other, each top value, missing."""
    seen = counts[:, : width + 1].astype(np.float64)
    base = base.astype(np.float64)
    missing = counts[:, width + 1]
    n = seen.sum(axis=1)
    m = base.sum(axis=1)
    tested = ok & (n >= MIN_TESTED) & (m >= MIN_TESTED)
    # Chi-square's p-value is only sound when each cell expects about 5 counts: values too
    # rare for that (in this window or in the baseline) are pooled into "other" first, or
    # small windows over many rare values would flag drift that is not there.
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (seen + base) / (n + m)[:, None]
    rare = (np.minimum(n, m)[:, None] * share < 5.0) & (np.arange(width + 1) > 0)
    seen = seen.copy()
    seen[:, 0] += np.where(rare, seen, 0).sum(axis=1)
    seen[rare] = 0
    base = base.copy()
    base[:, 0] += np.where(rare, base, 0).sum(axis=1)
    base[rare] = 0
    columns = seen + base
    valid = columns > 0
    total = (n + m)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected_seen = n[:, None] * columns / total
        expected_base = m[:, None] * columns / total
        chi = np.where(
            valid,
            (seen - expected_seen) ** 2 / expected_seen
            + (base - expected_base) ** 2 / expected_base,
            0.0,
        ).sum(axis=1)
    dof = valid.sum(axis=1) - 1
    p = np.where(dof > 0, stats.chi2.sf(chi, np.maximum(dof, 1)), 1.0)
    return Tested(
        n=n + missing, missing=missing, out_of_range=np.zeros(len(counts)),
        psi=np.where(tested, psi(base, seen, valid), np.nan),
        statistic=np.where(tested, chi, np.nan), p_value=np.where(tested, p, np.nan),
        tested=tested,
    )  # fmt: skip


def by_window(p_values: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of one test per row, each window its own family.

    Used for prediction drift: one test per (version, window), controlled across the
    fleet's versions of a window apart from the feature tests (see ``_runner``), so its
    q-values mean the same whether the fleet logs two features or fifty.
    """
    q = np.full(p_values.shape, np.nan)
    for start in np.unique(windows):
        in_window = windows == start
        q[in_window] = benjamini_hochberg(p_values[in_window])
    return q


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of one family of tests (NaN stays NaN, is not counted)."""
    q = np.full(p_values.shape, np.nan)
    present = ~np.isnan(p_values)
    p = p_values[present]
    if len(p) == 0:
        return q
    order = np.argsort(p, kind="stable")
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty_like(ranked)
    adjusted[order] = np.minimum(ranked, 1.0)
    q[present] = adjusted
    return q
