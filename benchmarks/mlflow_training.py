"""The MLflow side of the training benchmark: run inside MLflow's own virtual environment.

    benchmarks/.envs/mlflow/bin/python benchmarks/mlflow_training.py --keys 10000 \\
        --sample 500 --workdir benchmarks/.work/training/mlflow --out result.json

The stress workload as an MLflow user writes it, one model at a time: for each of the
first ``--sample`` keys of the same ``--keys`` x 50-row data the Shoal side trains
(:mod:`_workloads`, same seed), a run (``start_run``) in which the key is fitted with the
same ``fit_tiny``, its params and metrics logged (``log_params``, ``log_metrics``), the
key set as tags, and the model logged and registered under its own name
(``mlflow.sklearn.log_model(..., registered_model_name=...)``) in skops format, MLflow's
safe one. ``pip_requirements`` is given, as a user logging thousands of models would,
so MLflow does not infer them in a subprocess per model (``--infer-requirements`` to let
it). Tracking and registry share a fresh ``sqlite:///.../mlflow.db``, artifacts a local
folder. One model is logged before the timer starts (MLflow imports its model code on
first use), and is not counted.

Progress lines (``PROGRESS done total``) go to stdout; the JSON result goes to ``--out``
(and stdout). Imports MLflow, scikit-learn, numpy, pandas and :mod:`_workloads` (which
imports no Shoal): it never sees Shoal's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import time
from pathlib import Path

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "1"

from _workloads import fit_tiny, split, tiny_frame  # after telemetry is off


def main() -> int:
    p = argparse.ArgumentParser(description="MLflow: log and register N tiny sklearn models")
    p.add_argument("--keys", type=int, default=10_000, help="keys of the data (as Shoal's)")
    p.add_argument("--sample", type=int, default=500, help="models to log and register")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument(
        "--infer-requirements",
        action="store_true",
        help="let MLflow infer pip requirements per model (a subprocess each)",
    )
    args = p.parse_args()  # fmt: skip

    import logging
    import warnings

    import mlflow
    import mlflow.sklearn
    import sklearn
    from mlflow import MlflowClient

    warnings.filterwarnings("ignore")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)

    root = args.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    artifacts = root / "artifacts"
    pip = None if args.infer_requirements else [f"scikit-learn=={sklearn.__version__}"]

    # Set-up, not timed: the data, its split, MLflow's schema, and one model logged so
    # MLflow's lazily imported model code is loaded before the timer starts.
    t0 = time.perf_counter()
    keys = split(tiny_frame(args.keys))[: args.sample]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment("bench-tiny", artifact_location=artifacts.as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)

    def log_one(name: str, key: tuple[str, str], frame: object) -> float:
        with mlflow.start_run(run_name=name):
            started = time.perf_counter()
            result = fit_tiny(frame)
            fit = time.perf_counter() - started
            mlflow.log_params(result["params"])
            mlflow.log_metrics(result["metrics"])
            mlflow.set_tags({"store": key[0], "sku": key[1]})
            mlflow.sklearn.log_model(
                result["model"], name="model", registered_model_name=name,
                serialization_format="skops", pip_requirements=pip,
            )  # fmt: skip
        return fit

    log_one("warmup", keys[0][0], keys[0][1])
    setup = time.perf_counter() - t0

    step = max(1, len(keys) // 100)
    fit_seconds = 0.0
    t_start = time.perf_counter()
    for i, (key, frame) in enumerate(keys):
        fit_seconds += log_one(f"tiny_{key[0]}_{key[1]}", key, frame)
        if (i + 1) % step == 0 or i + 1 == len(keys):
            print(f"PROGRESS {i + 1} {len(keys)}", flush=True)
    seconds = time.perf_counter() - t_start

    # A sanity check that everything landed: one registered model per key, plus the warm-up.
    found, token = 0, None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        found += len(page)
        token = page.token
        if not token:
            break
    if found != len(keys) + 1:
        print(f"MLflow holds {found} registered models, expected {len(keys) + 1}", file=sys.stderr)
        return 1

    result = {
        "mlflow_version": mlflow.__version__,
        "sklearn_version": sklearn.__version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "models": len(keys),
        "seconds": seconds,
        "per_model_s": seconds / len(keys),
        "fit_seconds": fit_seconds,
        "setup_seconds": setup,
        "infer_requirements": args.infer_requirements,
        "serialization_format": "skops",
        "db_bytes": (root / "mlflow.db").stat().st_size,
    }
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
