"""``monitor_fleet``: one pass over a fleet's logs, its results stored, its rules checked.

Stages (each timed in the run's counts): find the log files of the span; read which
versions answered; load those versions' baselines in bulk; run the DuckDB pass
(``_query``); compute the drift statistics and the fleet-wide false-discovery control
(``_drift``) per window; replace the windows' results in one transaction; check the alert
rules. A pass is idempotent: running it again over the same windows (after late feedback
arrived, say) replaces their results.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from shoal import faults
from shoal.errors import InvalidInput
from shoal.monitor import _drift, _query
from shoal.monitor._alerting import check_rules
from shoal.monitor._logs import TIMES, find
from shoal.monitor._reference import Reference, build
from shoal.monitor._window import Span, span
from shoal.registry import FleetRef, Lease, Registry, Scope, new_holder
from shoal.registry.monitoring import FIGURES, RESULT_COLUMNS, compute_rollups


@dataclass(frozen=True)
class MonitorOptions:
    window: int
    logs_url: str
    since: float | None = None
    until: float | None = None
    alpha: float = 0.05
    min_psi: float = 0.1
    target: str | None = None
    threads: int | None = None
    memory_limit: str | None = "2GB"
    rows_per_part: int = 5_000_000
    """Logged rows per part of the query: bounds its memory (see ``_query.run``)."""
    executor: str = "local"
    """``local`` (DuckDB in this process) or ``ray`` (parts as Ray tasks, ``_ray``)."""
    workers: int | None = None
    alerts: bool = True
    quality_alerts: bool = True
    """Check the built-in quality rule (``_quality``) too, unless the fleet turned it off."""
    actor: str = "shoal"
    time: str = "at"
    """What windows are cut by: ``at`` (when predictions were made) or ``event`` (the time
    they are for, ``event_at``; ``at`` where a row has none). See ``_logs`` and ``_query``."""

    def check(self) -> None:
        if not 0 < self.alpha < 1:
            raise InvalidInput(f"alpha must be in (0, 1), got {self.alpha!r}", field="alpha")
        if isinstance(self.rows_per_part, bool) or self.rows_per_part < 1000:
            raise InvalidInput(
                f"rows_per_part must be at least 1000, got {self.rows_per_part!r}",
                field="rows_per_part",
            )
        if self.executor not in ("local", "ray"):
            raise InvalidInput(
                f"executor must be 'local' or 'ray', got {self.executor!r}", field="executor"
            )
        if self.min_psi < 0:
            raise InvalidInput(f"min_psi must be >= 0, got {self.min_psi!r}", field="min_psi")
        if self.time not in TIMES:
            raise InvalidInput(
                f"time must be 'at' (windows by when predictions were made) or 'event' (by "
                f"the time they are for), got {self.time!r}",
                field="time",
            )


@dataclass
class MonitorOutcome:
    """What a pass found, in figures."""

    run_id: int
    windows: list[float]
    versions: int = 0
    predictions: int = 0
    labelled: int = 0
    tests: int = 0
    flagged: int = 0
    drifting_models: int = 0
    models: int = 0
    tested_models: int = 0
    """Models with at least one feature tested: the others are "not tested", not healthy."""
    figures: list[str] = field(default_factory=list)
    """Figures with a value in this pass: what "worst by" offers for this fleet."""
    unknown_versions: int = 0
    alerts_opened: int = 0
    alerts_resolved: int = 0
    alerts_open: int = 0
    webhook_errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


Report = Callable[[str], None]
MAX_FEATURE_NAME = 200
"""``monitor_features.feature`` holds this many characters."""
BASELINE_CHUNK = 10_000
"""Versions whose profiles are read and parsed at a time (about 50 MB of JSON text)."""


def monitor_fleet(
    registry: Registry, fleet: FleetRef, options: MonitorOptions, report: Report | None = None
) -> MonitorOutcome:
    options.check()
    say = report or (lambda _text: None)
    began = time.perf_counter()
    covered = span(options.window, options.since, options.until, time.time())
    params = {
        "window": options.window, "since": covered.start, "until": covered.end,
        "logs": options.logs_url, "alpha": options.alpha, "min_psi": options.min_psi,
        "time": options.time,
    }  # fmt: skip
    holder = new_holder()  # held while it runs: a pass whose process died reads interrupted
    run_id = registry.runs.start(
        fleet, "monitor", params=params, actor=options.actor, with_code_ref=False, holder=holder
    )
    outcome = MonitorOutcome(run_id=run_id, windows=covered.starts)
    keeper = registry.runs.keep(Lease(run_id, holder))
    try:
        _pass(registry, fleet, options, covered, outcome, say)
        if options.alerts:
            say("checking alert rules")
            stage = time.perf_counter()
            alerted = check_rules(registry, fleet, options.window, actor=options.actor,
                                  quality=options.quality_alerts)  # fmt: skip
            outcome.alerts_opened, outcome.alerts_resolved = alerted.opened, alerted.resolved
            outcome.alerts_open, outcome.webhook_errors = alerted.open_now, alerted.webhook_errors
            outcome.timings["alerts"] = time.perf_counter() - stage
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        keeper.stop()
        registry.runs.finish(fleet_scope(fleet), run_id, status, error=repr(exc)[:2000])
        raise
    keeper.stop()
    outcome.seconds = time.perf_counter() - began
    registry.runs.finish(fleet_scope(fleet), run_id, "succeeded", counts=_counts(outcome))
    return outcome


def fleet_scope(fleet: FleetRef) -> Scope:
    return Scope(fleet.tenant)


def _counts(outcome: MonitorOutcome) -> dict[str, Any]:
    return {
        "windows": len(outcome.windows), "versions": outcome.versions,
        "predictions": outcome.predictions, "labelled": outcome.labelled,
        "tests": outcome.tests, "flagged": outcome.flagged,
        "drifting_models": outcome.drifting_models, "unknown_versions": outcome.unknown_versions,
        "models": outcome.models, "tested_models": outcome.tested_models,
        "figures": outcome.figures,
        "alerts_opened": outcome.alerts_opened, "alerts_resolved": outcome.alerts_resolved,
        "seconds": {k: round(v, 3) for k, v in outcome.timings.items()},
    }  # fmt: skip


def _pass(
    registry: Registry,
    fleet: FleetRef,
    options: MonitorOptions,
    covered: Span,
    outcome: MonitorOutcome,
    say: Report,
) -> None:
    timings = outcome.timings
    stage = time.perf_counter()
    files = find(
        options.logs_url, fleet.tenant, fleet.name, covered.days, feedback_from=covered.days[0],
        time=options.time, since=covered.start,
    )  # fmt: skip
    say(f"{len(files.predictions)} prediction and {len(files.feedback)} feedback files")
    if not files.predictions:
        timings["find"] = time.perf_counter() - stage
        return
    spill = tempfile.mkdtemp(prefix="shoal-monitor-")
    con = _query.connect(
        threads=options.threads or os.cpu_count(), memory_limit=options.memory_limit,
        filesystem=files.filesystem, spill=spill,
    )  # fmt: skip
    try:
        columns = _query.describe(con, files)
        if "version_id" not in columns.predictions or "at" not in columns.predictions:
            raise InvalidInput(
                "the prediction logs have no version_id or at column; are they Shoal's logs?",
                field="logs",
            )
        t = _query.moment(columns, options.time)
        ids = con.sql(
            f"SELECT DISTINCT version_id FROM {_query._files(files.predictions)} "
            f"WHERE {t} >= {covered.start!r} AND {t} < {covered.end!r}"
        ).fetchnumpy()["version_id"]
        ids = sorted(int(v) for v in ids)
        timings["find"] = time.perf_counter() - stage
        stage = time.perf_counter()
        features = {
            c[len("feature.") :]: c for c in columns.predictions if c.startswith("feature.")
        }
        too_long = [name for name in features if len(name) > MAX_FEATURE_NAME]
        if too_long:
            raise InvalidInput(
                f"feature name(s) {too_long[:3]} are longer than {MAX_FEATURE_NAME} characters, "
                "which the store keeps per feature; shorten them in the requests",
                field="features",
            )
        # The predictions against each version's recorded in-sample predictions, or a
        # regression's against its training target for versions without them (not when a
        # logged feature is itself named "prediction": its drift row would take that name).
        compare_predictions = "prediction" not in features
        chunks = registry.monitoring.references(fleet, ids, BASELINE_CHUNK)
        reference = build(
            con, chunks, features, prediction=compare_predictions, target=options.target,
            fallback=not columns.classification,
        )  # fmt: skip
        answered = len(reference.version_ids)
        timings["baselines"] = time.perf_counter() - stage
        rows = _query.predicted_rows(con, files)
        parts = max(1, -(-rows // options.rows_per_part))
        if options.executor == "ray":  # at least a part per worker
            parts = max(parts, options.workers or os.cpu_count() or 1)
        say(f"{answered:,} versions answered; one pass over {rows:,} logged rows"
            + (f" in {parts} parts" if parts > 1 else ""))  # fmt: skip
        stage = time.perf_counter()
        if options.executor == "ray":
            from shoal.monitor._ray import run_parts

            table = run_parts(
                files, columns, reference, covered, fleet.keys, parts=parts,
                workers=options.workers, memory_limit=options.memory_limit, report=say,
                time=options.time,
            )  # fmt: skip
        else:
            table = _query.run(
                files, columns, reference, covered, fleet.keys, con=con, parts=parts,
                time=options.time, report=say,
            )  # fmt: skip
        timings["query"] = time.perf_counter() - stage
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    stage = time.perf_counter()
    known = np.isin(table["version_id"].to_numpy(), reference.version_ids)
    outcome.unknown_versions = int((~known).sum())
    table = table.filter(pa.array(known))
    windows = _figures(table, reference, columns, options, outcome)
    timings["statistics"] = time.perf_counter() - stage
    stage = time.perf_counter()
    say(f"storing {outcome.versions:,} results of {len(windows)} window(s)")
    keys = registry.monitoring.model_keys(fleet, reference.model_ids.tolist())
    registry.monitoring.store_windows(
        fleet, options.window, outcome.run_id,
        [(start, results, features, compute_rollups(fleet, results, keys))
         for start, (results, features) in sorted(windows.items())],
    )  # fmt: skip
    faults.point("monitor.results_stored")
    timings["store"] = time.perf_counter() - stage


def _column(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.zeros(table.num_rows)
    values: np.ndarray = table[name].to_numpy(zero_copy_only=False).astype(np.float64)
    return values


def _counts_of(table: pa.Table, prefix: str, slots: int) -> np.ndarray:
    counts: np.ndarray = np.nan_to_num(
        np.column_stack([_column(table, f"{prefix}_{k}") for k in range(slots)])
    )
    return counts


def _figures(
    table: pa.Table,
    reference: Reference,
    columns: _query.Columns,
    options: MonitorOptions,
    outcome: MonitorOutcome,
) -> dict[float, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Per window: the ``monitor_results`` rows and the ``monitor_features`` rows."""
    rows = table.num_rows
    vids = table["version_id"].to_numpy()
    at = np.searchsorted(reference.version_ids, vids)
    w = table["w"].to_numpy().astype(np.float64)
    predictions = _column(table, "predictions")
    labelled = _column(table, "labelled")
    outcome.versions = rows
    outcome.predictions = int(predictions.sum())
    outcome.labelled = int(labelled.sum())
    quality = _quality(table, labelled, columns.classification)
    # One test per (feature, group). The prediction's test is not in the features'
    # false-discovery family: against a version's own in-sample predictions it is flagged
    # under a family of its own (the window's prediction tests across the fleet); against
    # the training target (older versions: its spread includes the noise a model does not
    # predict) it is a figure to read, ``prediction_psi``, never a flag.
    tested: list[tuple[str, str, _drift.Tested]] = []
    is_feature: list[bool] = []
    for i, f in enumerate(reference.numeric):
        counts = _counts_of(table, f"n{i}", f.slots)
        bins = f.bins[at]
        tested.append((f.name, "ks", _drift.numeric(counts, bins, f.counts[at], f.width, bins > 0)))
        is_feature.append(f.column != "prediction")
    for i, cat in enumerate(reference.categorical):
        counts = _counts_of(table, f"c{i}", cat.slots)
        tested.append(
            (
                cat.name,
                "chi2",
                _drift.categorical(counts, cat.counts[at], cat.width, cat.tested[at]),
            )
        )
        is_feature.append(cat.column != "prediction")
    # Benjamini-Hochberg over every feature test of a window, across the whole fleet.
    q_values = [np.full(rows, np.nan) for _ in tested]
    family = [j for j, keep in enumerate(is_feature) if keep]
    if family:
        p_all = np.column_stack([tested[j][2].p_value for j in family])
        for start in np.unique(w):
            in_window = w == start
            q = _drift.benjamini_hochberg(p_all[in_window].ravel()).reshape(-1, len(family))
            for k, j in enumerate(family):
                q_values[j][in_window] = q[:, k]
    flagged = [
        (q <= options.alpha) & (t.psi >= options.min_psi) & keep
        for (_, _, t), q, keep in zip(tested, q_values, is_feature, strict=True)
    ]
    own = (
        reference.prediction_own[at] if reference.prediction_own is not None
        else np.zeros(rows, dtype=bool)
    )  # fmt: skip
    own_tests = 0
    for j in (j for j, keep in enumerate(is_feature) if not keep):
        test = tested[j][2]
        q_values[j] = _drift.by_window(np.where(own & test.tested, test.p_value, np.nan), w)
        flagged[j] = (q_values[j] <= options.alpha) & (test.psi >= options.min_psi) & own
        own_tests += int((test.tested & own).sum())
    features = [tested[j][2] for j in family]
    feature_names = [tested[j][0] for j in family]
    outcome.tests = int(sum(t.tested.sum() for t in features)) + own_tests
    outcome.flagged = int(sum(f.sum() for f in flagged))

    def stacked(values: list[np.ndarray], empty: Any) -> np.ndarray:
        return np.column_stack(values) if values else np.full((rows, 0), empty)

    feature_psi = stacked([np.where(t.tested, t.psi, -np.inf) for t in features], -np.inf)
    drifted = stacked([flagged[j] for j in family], False)
    tested_count = stacked([t.tested for t in features], False)
    missing = stacked([t.missing for t in features], 0.0).sum(axis=1)
    seen = stacked([t.n for t in features], 0.0).sum(axis=1)
    out_of_range = stacked([t.out_of_range for t in features], 0.0).sum(axis=1)
    prediction = next(
        (t for (_, _, t), keep in zip(tested, is_feature, strict=True) if not keep), None
    )
    windows: dict[float, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
    model_ids = reference.model_ids[at]
    outcome.drifting_models = len(set(model_ids[drifted.any(axis=1)].tolist()))
    outcome.models = len(set(model_ids.tolist()))
    outcome.tested_models = len(set(model_ids[tested_count.any(axis=1)].tolist()))
    # Rows for the store, built column by column (a Python loop per cell costs seconds at
    # a million feature rows).
    if feature_psi.shape[1]:
        best = np.argmax(feature_psi, axis=1)
        max_psi = feature_psi[np.arange(rows), best]
        best_name = np.array(feature_names, dtype=object)[best]
        best_name[~np.isfinite(max_psi)] = None
    else:
        max_psi = np.full(rows, np.nan)
        best_name = np.full(rows, None, dtype=object)
    with np.errstate(invalid="ignore", divide="ignore"):
        missing_rate = np.where(seen > 0, missing / seen, np.nan)
    prediction_psi = (
        np.where(prediction.tested, prediction.psi, np.nan) if prediction else np.full(rows, np.nan)
    )
    result_columns = [
        vids.tolist(), model_ids.tolist(), _ints(predictions), _ints(labelled),
        *(_nullable(quality[name]) for name in _QUALITY), _nullable(prediction_psi),
        _nullable(max_psi), best_name.tolist(), _ints(drifted.sum(axis=1)),
        _ints(tested_count.sum(axis=1)), _nullable(missing_rate), _ints(out_of_range),
    ]  # fmt: skip
    outcome.figures = _with_values(result_columns)
    # In primary-key order, (window, version) and then (window, version, feature): the
    # store's B-trees then grow at their end instead of splitting pages all over.
    order = np.lexsort((vids, w))
    starts = w[order].tolist()
    for start in set(starts):
        windows[start] = ([], [])
    for start, row in zip(
        starts,
        zip(*(np.asarray(c, dtype=object)[order].tolist() for c in result_columns), strict=True),
        strict=True,
    ):
        windows[start][0].append(row)
    if not tested:
        return windows
    kept = [np.nonzero(t.tested | (t.missing > 0))[0] for _, _, t in tested]
    rank = np.argsort(np.argsort([name for name, _, _ in tested]))
    at_row = np.concatenate(kept)
    which = np.concatenate([np.full(len(k), j) for j, k in enumerate(kept)])

    def gather(values: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([v[k] for v, k in zip(values, kept, strict=True)])

    order = np.lexsort((rank[which], vids[at_row], w[at_row]))
    names = np.array([name for name, _, _ in tested], dtype=object)
    tests = np.array([test for _, test, _ in tested], dtype=object)
    cells = zip(
        vids[at_row][order].tolist(), names[which][order].tolist(),
        tests[which][order].tolist(),
        _ints(gather([t.n for _, _, t in tested])[order]),
        _ints(gather([t.missing for _, _, t in tested])[order]),
        _ints(gather([t.out_of_range for _, _, t in tested])[order]),
        _nullable(gather([t.psi for _, _, t in tested])[order]),
        _nullable(gather([t.statistic for _, _, t in tested])[order]),
        _nullable(gather([t.p_value for _, _, t in tested])[order]),
        _nullable(gather(q_values)[order]), gather(flagged)[order].tolist(), strict=True,
    )  # fmt: skip
    for start, row in zip(w[at_row][order].tolist(), cells, strict=True):
        windows[start][1].append(row)
    return windows


_QUALITY = ("mae", "rmse", "mape", "smape", "accuracy", "f1", "log_loss")


def _quality(table: pa.Table, labelled: np.ndarray, classification: bool) -> dict[str, np.ndarray]:
    nan = np.full(table.num_rows, np.nan)
    out = {name: nan for name in _QUALITY}
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.where(labelled > 0, labelled, np.nan)
        if classification:
            if "correct" in table.column_names:
                out["accuracy"] = _column(table, "correct") / n
            if "f1" in table.column_names:
                out["f1"] = _column(table, "f1")
            if "sum_log_loss" in table.column_names:
                out["log_loss"] = _column(table, "sum_log_loss") / n
            return out
        if "sum_abs" not in table.column_names:
            return out
        out["mae"] = _column(table, "sum_abs") / n
        out["rmse"] = np.sqrt(_column(table, "sum_sq") / n)
        n_ape = _column(table, "n_ape")
        out["mape"] = np.where(n_ape > 0, _column(table, "sum_ape") / n_ape, np.nan)
        out["smape"] = _column(table, "sum_sape") / n
    return out


def _with_values(columns: list[list[Any]]) -> list[str]:
    """The figures (``RESULT_COLUMNS`` less ids and names) with a value in some row."""
    return [name for name, values in zip(RESULT_COLUMNS, columns, strict=True)
            if name in FIGURES and any(v is not None for v in values)]  # fmt: skip


def _ints(values: Any) -> list[int]:
    ints: list[int] = np.asarray(values).astype(np.int64).tolist()
    return ints


def _nullable(values: Any) -> list[float | None]:
    """Floats for the store, NaN and infinities as None (NULL)."""
    array = np.asarray(values, dtype=np.float64)
    out = array.astype(object)
    out[~np.isfinite(array)] = None
    floats: list[float | None] = out.tolist()
    return floats
