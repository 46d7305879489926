"""Evidently's side of the monitoring benchmark: runs inside Evidently's own venv (``_envs.py``).

    benchmarks/.envs/evidently/bin/python benchmarks/evidently_side.py FOLDER \\
        [--warmup 1] [--drift preset|metrics] [--limit N] [--html DIR]

``FOLDER`` is what ``_monitoring_evidently.prepare`` wrote: ``manifest.json`` (the feature
names and, per model, its two Parquet files), a reference frame per model (its training
slice: the features and ``y``) and a current frame (its logged window: the features,
``prediction`` and ``actual``).

Per model, what Shoal's monitoring computes, as an Evidently 0.7 user writes it (the
``evidently`` 0.7 API: ``Report``, ``Dataset``, ``DataDefinition``, presets and metrics;
not the ``evidently.legacy`` one of 0.4 to 0.6):

1. **Feature drift**: ``Report([DataDriftPreset(columns=features)], include_tests=True)``
   run on ``Dataset.from_pandas(current[features])`` against
   ``Dataset.from_pandas(reference[features])``, both with
   ``DataDefinition(numerical_columns=features)``. The preset is a
   ``DriftedColumnsCount`` over the features plus one ``ValueDrift`` per feature, each with
   Evidently's defaults: the test is chosen per column (numerical, reference of at most
   1,000 rows and more than 5 distinct values: the two-sample Kolmogorov-Smirnov test,
   drift when its p-value is below 0.05; over 1,000 reference rows: the normed
   Wasserstein distance, drift when it is at least 0.1), and the model's dataset drift is
   a share of drifted features of at least 0.5. A feature's drift verdict is read from
   its default test (``Value Drift for column ...`` fails on drift), so whichever
   statistic Evidently picked, its own verdict is the one counted.
   With ``--drift metrics`` the drift report is the preset's metrics alone,
   ``Report([DriftedColumnsCount(columns=features), *[ValueDrift(column=c) ...]],
   include_tests=True)``: the same statistics, tests and verdicts without the preset's
   ``render`` (its dataset-drift summary and drift table, which recompute every column's
   test and draw its plots during ``run``). Every ``ValueDrift`` still builds its plotly
   widget: Evidently 0.7 draws its figures inside ``Report.run``, used or not.
2. **Regression quality** on the current window: ``Report([MAE(), RMSE(), MAPE()])`` on
   ``current[["actual", "prediction"]]`` with
   ``DataDefinition(regression=[Regression(target="actual", prediction="prediction")])``,
   no reference (the training slice has no predictions). These are
   ``evidently.metrics.MAE``, ``RMSE`` and ``MAPE`` with their defaults, the three the
   ``RegressionQuality`` preset holds beside mean error, R2 and max error; Evidently
   computes them all in one legacy ``RegressionQualityMetric`` pass either way. MAE and
   MAPE come with their standard deviation; MAPE is a percentage (Shoal's is a fraction).
3. The results are read back with ``Snapshot.dict()`` (metrics and tests), as a user
   reading them programmatically would.
4. With ``--html DIR`` (the report benchmark), both reports are also written as the HTML
   a person opens, ``Snapshot.save_html`` to ``DIR/<model>.drift.html`` and
   ``.quality.html``, inside the model's timed span; their bytes and the seconds the
   writing took are reported per model.

Every model is timed with ``time.perf_counter`` from building its ``Dataset`` objects to
its extracted figures; reading its Parquet files is timed apart (``read_seconds``).
Importing Evidently and one warm-up model (``--warmup``, untimed: Evidently and plotly
load code on first use) come before the timed loop and are reported apart.

Prints one JSON object on stdout (Evidently's own prints and warnings go to stderr);
progress lines (``PROGRESS done total``) go to stderr. Imports no Shoal and opens no
connection: no workspace, cloud or UI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# Telemetry off before Evidently loads: DO_NOT_TRACK is what Evidently's event logger
# checks (evidently/telemetry.py), ITERATIVE_DO_NOT_TRACK what the iterative-telemetry
# library under it checks, EVIDENTLY_DISABLE_TELEMETRY what its legacy UI/collector reads.
for _name, _value in {
    "DO_NOT_TRACK": "1",
    "ITERATIVE_DO_NOT_TRACK": "1",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
    "OTEL_SDK_DISABLED": "true",
}.items():
    os.environ.setdefault(_name, _value)

DRIFT = {
    "preset": "Report([DataDriftPreset(columns=features)], include_tests=True)",
    "metrics": "Report([DriftedColumnsCount(columns=features), *[ValueDrift(column=c) for c "
    "in features]], include_tests=True)",
}
API = (
    "evidently {version}: {drift}.run(current, reference) + Report([MAE(), RMSE(), MAPE()])"
    ".run(current, None), Dataset.from_pandas with DataDefinition(numerical_columns=..., "
    "regression=[Regression(target='actual', prediction='prediction')]), results via "
    "Snapshot.dict()"
)


def main() -> int:
    p = argparse.ArgumentParser(description="Evidently: drift and regression quality per model")
    p.add_argument("folder", type=Path, help="the sample _monitoring_evidently.prepare wrote")
    p.add_argument("--warmup", type=int, default=1, help="untimed models before the timer")
    p.add_argument("--limit", type=int, default=None, help="only the first N models")
    p.add_argument(
        "--drift",
        choices=("preset", "metrics"),
        default="preset",
        help="DataDriftPreset (default), or its metrics without the preset's own tables",
    )
    p.add_argument("--html", type=Path, default=None, help="also write each report as HTML here")
    args = p.parse_args()

    manifest = json.loads((args.folder / "manifest.json").read_text())
    features: list[str] = manifest["features"]
    models: list[dict[str, str]] = manifest["models"][: args.limit]

    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # only the JSON goes to stdout
        result = _run(args.folder, features, models, args.warmup, args.drift, args.html)
    json.dump(result, out)
    out.write("\n")
    out.flush()
    return 0


def _run(
    folder: Path, features: list[str], models: list[dict[str, str]], warmup: int, mode: str,
    html: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    import warnings

    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    import evidently
    import numpy
    import pandas as pd
    import scipy
    import sklearn
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.metrics import MAE, MAPE, RMSE, DriftedColumnsCount, ValueDrift
    from evidently.presets import DataDriftPreset

    import_seconds = time.perf_counter() - started

    drift_definition = DataDefinition(numerical_columns=features)
    quality_definition = DataDefinition(
        numerical_columns=["actual", "prediction"],
        regression=[Regression(target="actual", prediction="prediction")],
    )

    def drift_metrics() -> list[Any]:
        if mode == "preset":
            return [DataDriftPreset(columns=features)]
        return [DriftedColumnsCount(columns=features)] + [ValueDrift(column=c) for c in features]

    def evaluate(
        reference: pd.DataFrame, current: pd.DataFrame, stem: str | None = None
    ) -> dict[str, Any]:
        drift = Report(drift_metrics(), include_tests=True).run(
            Dataset.from_pandas(current[features], data_definition=drift_definition),
            Dataset.from_pandas(reference[features], data_definition=drift_definition),
        )
        quality = Report([MAE(), RMSE(), MAPE()]).run(
            Dataset.from_pandas(
                current[["actual", "prediction"]], data_definition=quality_definition
            ),
            None,
        )
        figures = _extract(drift.dict(), quality.dict())
        if html is not None and stem is not None:
            started = time.perf_counter()
            pages = [html / f"{stem}.drift.html", html / f"{stem}.quality.html"]
            drift.save_html(str(pages[0]))
            quality.save_html(str(pages[1]))
            figures["html_seconds"] = time.perf_counter() - started
            figures["html_bytes"] = sum(page.stat().st_size for page in pages)
        return figures

    def read(entry: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        return (
            pd.read_parquet(folder / entry["reference"]),
            pd.read_parquet(folder / entry["current"]),
        )

    if html is not None:
        html.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for entry in models[:warmup]:
        evaluate(*read(entry), "warmup" if html is not None else None)
    warmup_seconds = time.perf_counter() - started

    per_model: list[dict[str, Any]] = []
    read_seconds = 0.0
    for done, entry in enumerate(models, 1):
        t0 = time.perf_counter()
        reference, current = read(entry)
        t1 = time.perf_counter()
        figures = evaluate(reference, current, f"m{done - 1:06d}")
        t2 = time.perf_counter()
        read_seconds += t1 - t0
        per_model.append({"name": entry["name"], "seconds": t2 - t1, **figures})
        print(f"PROGRESS {done} {len(models)}", file=sys.stderr, flush=True)

    seconds = [m["seconds"] for m in per_model]
    return {
        "tool": "evidently",
        "api": API.format(version=evidently.__version__, drift=DRIFT[mode]),
        "drift_mode": mode,
        "models": len(per_model),
        "features": len(features),
        "seconds_total": sum(seconds),
        "seconds_per_model": {
            "median": statistics.median(seconds) if seconds else None,
            "mean": statistics.fmean(seconds) if seconds else None,
            "min": min(seconds, default=None),
            "max": max(seconds, default=None),
        },
        "read_seconds": read_seconds,
        "import_seconds": import_seconds,
        "warmup_models": min(warmup, len(models)),
        "warmup_seconds": warmup_seconds,
        "peak_rss_mb": _peak_mb(),
        "versions": {
            "evidently": evidently.__version__,
            "pandas": pd.__version__,
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "pyarrow": _version("pyarrow"),
            "python": platform.python_version(),
        },
        "drifted_models": sum(m["dataset_drift"] for m in per_model),
        "models_with_drifted_feature": sum(bool(m["drifted_features"]) for m in per_model),
        "html": _html_summary(html, per_model),
        "per_model": per_model,
    }


def _peak_mb() -> float:
    """This process's peak RSS: ``VmHWM`` where Linux has it, since ``ru_maxrss`` keeps the
    parent's RSS at the fork (a benchmark that seeded a big store in process)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _html_summary(html: Path | None, per_model: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The HTML pages' bytes and writing seconds per model (``--html``), or None."""
    if html is None or not per_model:
        return None
    return {
        "folder": str(html),
        "bytes_median": statistics.median(m["html_bytes"] for m in per_model),
        "bytes_mean": statistics.fmean(m["html_bytes"] for m in per_model),
        "seconds_median": statistics.median(m["html_seconds"] for m in per_model),
    }


def _extract(drift: dict[str, Any], quality: dict[str, Any]) -> dict[str, Any]:
    """The verdicts and figures of one model from its two ``Snapshot.dict()``."""
    drifted: list[str] = []
    share = dataset_drift = None
    for test in drift["tests"]:
        config = test["metric_config"]["params"]
        failed = str(test["status"]).upper().endswith("FAIL")
        if config.get("type", "").endswith(":ValueDrift"):
            if failed:
                drifted.append(config["column"])
        elif config.get("type", "").endswith(":DriftedColumnsCount"):
            dataset_drift = failed  # its default test: share of drifted columns < drift_share
    stattests: set[str] = set()
    for metric in drift["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(":DriftedColumnsCount"):
            share = metric["value"]["share"]
        elif kind.endswith(":ValueDrift"):
            stattests.add(metric["config"].get("method", "?"))
    figures: dict[str, Any] = {}
    for metric in quality["metrics"]:
        kind = metric["config"]["type"].rsplit(":", 1)[-1].lower()
        value = metric["value"]
        figures[kind] = _float(value["mean"] if isinstance(value, dict) else value)
    return {
        "drifted_features": sorted(drifted),
        "drift_share": share,
        "dataset_drift": bool(dataset_drift),
        "stattests": sorted(stattests),
        "mae": figures.get("mae"),
        "rmse": figures.get("rmse"),
        "mape_percent": figures.get("mape"),
    }


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


if __name__ == "__main__":
    sys.exit(main())
