"""``evaluate_fleet``: score the version each key's alias points at on a holdout frame.

The order of work:

1. Refuse what cannot work before anything is read: an unknown metric, a bad alias or
   prefix, a key or target column missing from the data.
2. Resolve every model's version at the alias in one query (model key -> version row).
3. Stream the data's partitions, grouped by key in one pass (the same slicing training
   uses); for each key with a version, load it, predict its rows with its flavor and
   compute the metrics with numpy. A key without a version is skipped; a key whose load
   or predict fails is that key's error, never an abort.
4. Record the figures as metrics of the evaluated versions, named ``PREFIX + metric``
   (``eval_mape``), one write transaction per batch with one audit row each.

Versions are immutable, with one exception: evaluation metrics are the only metrics added
to a version after registration, and evaluating again overwrites them (every
``PREFIX*`` metric this call computes is replaced, per version). Each metric row's
``latest`` flag is whether that version is its model's latest, read in the same
transaction, so plain filters on the latest versions (``eval_mape < 0.2``) see them too.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shoal.artifacts import BlobRef
from shoal.data import key_groups
from shoal.errors import InvalidInput
from shoal.registry import FleetRef, Registry, check_alias
from shoal.registry.records import NAME
from shoal.train._book import key_strings
from shoal.train._progress import reporter
from shoal.train._runner import check_columns
from shoal.train._source import open_source
from shoal.train._work import widens

REGRESSION = ("mae", "rmse", "mape", "smape")
CLASSIFICATION = ("accuracy", "f1")
METRICS = REGRESSION + CLASSIFICATION
MAX_ERRORS = 100


@dataclass(frozen=True)
class EvalOptions:
    """What to evaluate: the alias, the metrics, the target column, keys and naming."""

    by: tuple[str, ...]
    alias: str = "candidate"
    metrics: tuple[str, ...] | None = None
    """None: regression figures for a numeric target, classification ones for text or bool."""
    target: str = "y"
    prefix: str = "eval_"
    progress: bool = True
    batch_size: int = 500

    def check(self, fleet: FleetRef) -> None:
        check_alias(self.alias)
        if len(self.by) != len(fleet.keys):
            raise InvalidInput(
                f"by={list(self.by)} names {len(self.by)} column(s) but fleet '{fleet.path}' "
                f"is keyed by {list(fleet.keys)}: name one column per key, in that order",
                field="by",
            )
        if self.metrics is not None:
            _check_metrics(self.metrics)
        if not isinstance(self.prefix, str) or not self.prefix:
            raise InvalidInput(
                "prefix must be non-empty text (default 'eval_'): evaluation metrics must "
                "never overwrite the metrics a version was registered with",
                field="prefix",
            )
        for name in self.metrics or METRICS:
            if not NAME.match(self.prefix + name):
                raise InvalidInput(
                    f"prefix {self.prefix!r} makes metric name {self.prefix}{name!s}, which is "
                    "not a valid metric name: use letters, digits and '_', e.g. 'eval_'",
                    field="prefix",
                )


def _check_metrics(metrics: tuple[str, ...]) -> None:
    unknown = [name for name in metrics if name not in METRICS]
    if unknown or not metrics:
        raise InvalidInput(
            f"metrics must name some of {list(METRICS)}, got {list(metrics)}", field="metrics"
        )
    if any(n in REGRESSION for n in metrics) and any(n in CLASSIFICATION for n in metrics):
        raise InvalidInput(
            f"metrics {list(metrics)} mix regression figures ({', '.join(REGRESSION)}) with "
            f"classification ones ({', '.join(CLASSIFICATION)}): a target is one or the "
            "other, so pick from one list",
            field="metrics",
        )


@dataclass
class EvalOutcome:
    """What an evaluation found: counts, the first errors, per-metric means."""

    evaluated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[tuple[dict[str, str], str]] = field(default_factory=list)
    seconds: float = 0.0
    summary: dict[str, float] = field(default_factory=dict)


def evaluate_fleet(
    registry: Registry, fleet: FleetRef, data: Any, options: EvalOptions
) -> EvalOutcome:
    """Evaluate every key of ``data`` at ``options.alias`` (see the module doc)."""
    started = time.perf_counter()
    options.check(fleet)
    source = open_source(data)
    check_columns(source, options.by, fleet)
    if options.target not in source.columns:
        raise InvalidInput(
            f"target column {options.target!r} not in the data (columns: "
            f"{source.columns[:20]}); pass target='...' naming the actual values",
            field="target",
        )
    metrics = options.metrics
    if metrics is None:
        metrics = default_metrics(source.schema.field(options.target).type)
        options = dataclasses.replace(options, metrics=metrics)
    total = source.key_counts(options.by)
    resolved = resolve_alias(registry, fleet, options.alias)
    outcome = EvalOutcome()
    totals: dict[str, list[float]] = {name: [] for name in metrics}
    pending: list[tuple[dict[str, Any], dict[str, float]]] = []
    progress = reporter(options.progress)
    progress.start(f"evaluating {fleet.path} at {options.alias!r}", total)
    try:
        for partition in source.partitions():
            groups = key_groups(partition, list(options.by), fingerprints=False)
            holdout = _Holdout(groups.table, options)
            for key, start, stop in zip(groups.keys, groups.starts, groups.stops, strict=True):
                rows = (start, stop)
                strings = key_strings(key)
                row = resolved.get(strings)
                if row is None:
                    outcome.skipped += 1
                    progress.advance(1, 0)
                    continue
                try:
                    scores = _score(registry, fleet, row, holdout, rows, options)
                except Exception as exc:
                    outcome.failed += 1
                    if len(outcome.errors) < MAX_ERRORS:
                        shown = dict(zip(fleet.keys, strings, strict=True))
                        outcome.errors.append((shown, f"{type(exc).__name__}: {exc}"))
                    progress.advance(1, 1)
                    continue
                outcome.evaluated += 1
                for name, value in scores.items():
                    if not math.isnan(value):
                        totals[name].append(value)
                pending.append((row, scores))
                progress.advance(1, 0)
                if len(pending) >= options.batch_size:
                    record_metrics(registry, fleet, pending, options)
                    pending = []
        record_metrics(registry, fleet, pending, options)
    finally:
        progress.stop()
        source.close()
    outcome.summary = {name: float(np.mean(v)) for name, v in totals.items() if v}
    outcome.seconds = time.perf_counter() - started
    return outcome


def default_metrics(target: pa.DataType) -> tuple[str, ...]:
    """Classification figures for a text, bool or dictionary target, else regression ones.

    An integer target is taken as a quantity (units sold), the common case in a fleet;
    integer class labels need ``metrics=("accuracy", "f1")``.
    """
    t = pa.types
    labels = (
        t.is_string(target) or t.is_large_string(target) or t.is_boolean(target)
        or t.is_dictionary(target) or getattr(t, "is_string_view", lambda _: False)(target)
    )  # fmt: skip
    return CLASSIFICATION if labels else REGRESSION


def resolve_alias(
    registry: Registry, fleet: FleetRef, alias: str
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every model's version at ``alias``, by key, with its blob's location, in one query."""
    return registry.versions.at_alias(fleet, alias)


class _Holdout:
    """One partition of the holdout, sorted by key, converted and sliced once.

    Per key, pandas work costs more than scoring a small model: a conversion, a column
    selection (which builds a column index), a NaN filter. So the partition is converted
    once, each distinct feature list is selected once, and the target is one float array;
    a key's rows are then slices of those. When pandas would widen an int or bool column
    with nulls for every key, keys are converted one by one instead, as in training.
    """

    def __init__(self, table: pa.Table, options: EvalOptions) -> None:
        self.table = table
        self.options = options
        self.labels = any(name in CLASSIFICATION for name in options.metrics or ())
        self.frame = None if widens(table) else table.to_pandas()
        self.selected: dict[tuple[str, ...], pd.DataFrame] = {}
        self.target: np.ndarray | None = None
        self.present: np.ndarray | None = None
        if self.frame is not None:
            try:
                self.target, self.present = self._actual(self.frame)
            except (TypeError, ValueError):
                self.target = None  # each key then says what is wrong with its values
        others = [c for c in table.column_names if c not in (*options.by, options.target)]
        self.default_features = tuple(others)

    def _actual(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The target column (floats, or labels as Python objects) and where it is set."""
        column = frame[self.options.target]
        if self.labels:
            present = column.notna().to_numpy()
            return column.to_numpy(dtype=object), present
        actual = column.to_numpy(dtype=float, na_value=np.nan)
        return actual, ~np.isnan(actual)

    def rows(
        self, features: tuple[str, ...], start: int, stop: int
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """The key's feature columns and its target as floats (rows without one dropped)."""
        if self.frame is None or self.target is None or self.present is None:
            frame = self.table.slice(start, stop - start).to_pandas()
            actual, keep = self._actual(frame)
            X = frame[list(features)]
        else:
            selected = self.selected.get(features)
            if selected is None:
                selected = self.selected[features] = self.frame[list(features)]
            X = selected.iloc[start:stop]
            actual, keep = self.target[start:stop], self.present[start:stop]
        if not keep.all():
            X, actual = X[keep], actual[keep]
        return X, actual


def _score(
    registry: Registry, fleet: FleetRef, row: dict[str, Any], holdout: _Holdout,
    span: tuple[int, int], options: EvalOptions,
) -> dict[str, float]:  # fmt: skip
    from shoal.flavors import get_flavor

    signature = row["signature"] or {}
    inputs = tuple(item["name"] for item in signature.get("inputs", []))
    X, actual = holdout.rows(inputs or holdout.default_features, *span)
    if len(actual) == 0:
        raise InvalidInput(f"this key has no rows with a {options.target!r} value")
    location = None
    if row["pack"] is not None or row["offset"] is not None:
        location = BlobRef(row["artifact_sha256"], row["artifact_size"], row["pack"],
                           row["offset"] or 0)  # fmt: skip
    model = registry.versions.load(fleet, row, location=location)
    predicted = np.asarray(get_flavor(row["flavor"]).predict(model, X))
    if predicted.shape != actual.shape:
        raise InvalidInput(
            f"the model predicted {predicted.shape} values for {actual.shape[0]} rows"
        )
    names = options.metrics or REGRESSION
    if holdout.labels:
        return classification_metrics(actual, predicted, names)
    try:
        predicted = predicted.astype(float)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"the model predicts labels ({predicted[:3].tolist()}...), not numbers: score it "
            "with metrics=('accuracy', 'f1')"
        ) from None
    scores = compute_metrics(actual, predicted, names)
    bad = [name for name, value in scores.items() if math.isinf(value)]
    if bad or not np.isfinite(predicted).all():
        raise InvalidInput("the model's predictions are not all finite numbers")
    return scores


def compute_metrics(
    actual: np.ndarray, predicted: np.ndarray, names: Sequence[str] = METRICS
) -> dict[str, float]:
    """MAE, RMSE, MAPE (a fraction; rows with a zero actual left out) and sMAPE (0..2).

    MAPE is NaN when every actual is zero; NaN figures are not recorded.
    """
    error = predicted - actual
    out: dict[str, float] = {}
    for name in names:
        if name == "mae":
            out[name] = float(np.mean(np.abs(error)))
        elif name == "rmse":
            out[name] = float(np.sqrt(np.mean(error**2)))
        elif name == "mape":
            nonzero = actual != 0
            out[name] = (
                float(np.mean(np.abs(error[nonzero]) / np.abs(actual[nonzero])))
                if nonzero.any()
                else math.nan
            )
        elif name == "smape":
            scale = np.abs(actual) + np.abs(predicted)
            ratio = np.divide(2 * np.abs(error), scale, out=np.zeros_like(scale), where=scale != 0)
            out[name] = float(np.mean(ratio))
    return out


def classification_metrics(
    actual: np.ndarray, predicted: np.ndarray, names: Sequence[str] = CLASSIFICATION
) -> dict[str, float]:
    """Accuracy and macro F1 of predicted labels against actual ones.

    Labels compare as Python values, so ``1`` and ``1.0`` are one class (a holdout whose
    int labels pandas widened to float still matches). Macro F1 averages the per-class F1
    over every class in either array, as ``sklearn.metrics.f1_score(average="macro")``
    does; a class never predicted and never present cannot occur.
    """
    labels = predicted.tolist()
    if any(p is None or (isinstance(p, float) and math.isnan(p)) for p in labels):
        raise InvalidInput("the model predicted missing labels (None or NaN) for some rows")
    hits = np.fromiter(
        (a == p for a, p in zip(actual.tolist(), labels, strict=True)),
        dtype=bool, count=len(actual),
    )  # fmt: skip
    out: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            out[name] = float(hits.mean())
        elif name == "f1":
            true_positive: dict[Any, int] = {}
            actual_count: dict[Any, int] = {}
            predicted_count: dict[Any, int] = {}
            for a, p, hit in zip(actual.tolist(), labels, hits.tolist(), strict=True):
                actual_count[a] = actual_count.get(a, 0) + 1
                predicted_count[p] = predicted_count.get(p, 0) + 1
                if hit:
                    true_positive[a] = true_positive.get(a, 0) + 1
            classes = set(actual_count) | set(predicted_count)
            f1 = [
                2 * true_positive.get(c, 0) / (actual_count.get(c, 0) + predicted_count.get(c, 0))
                for c in classes
            ]
            out[name] = float(np.mean(f1))
        else:
            raise InvalidInput(
                f"{name!r} scores numbers; for labels use one of {list(CLASSIFICATION)}",
                field="metrics",
            )
    return out


def record_metrics(
    registry: Registry,
    fleet: FleetRef,
    scored: Sequence[tuple[dict[str, Any], dict[str, float]]],
    options: EvalOptions,
) -> None:
    """Replace the evaluation metrics of the scored versions: one write transaction."""
    if not scored:
        return
    names = [options.prefix + name for name in options.metrics or ()]
    rows = [
        (row["version_id"], row["model_id"],
         {options.prefix + k: v for k, v in scores.items() if not math.isnan(v)})
        for row, scores in scored
    ]  # fmt: skip
    registry.versions.record_evaluation(fleet, rows, names, alias=options.alias)
