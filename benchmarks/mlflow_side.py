"""MLflow's side of the benchmarks: runs inside MLflow's own venv (see ``_envs.py``).

    cd benchmarks && .envs/mlflow/bin/python mlflow_side.py registry --models 2000 --workdir DIR
    ... mlflow_side.py training --keys 10000 --sample 500 --workdir DIR
    ... mlflow_side.py serving --reps 2000 --workdir DIR

Each writes what an MLflow user writes, one model at a time, to a fresh
``sqlite:///DIR/mlflow.db`` (tracking and registry) and a local artifact folder:

- ``registry``: per model a run with the registry benchmark's 5 params and 3 metrics, its
  ~330-byte linear-model JSON logged as an artifact (``log_text``), the key as tags, a
  registered model named after the key and a model version created from the run's
  artifact. Set-up (the schema, the first queries) is not timed.
- ``training``: for each of the first ``--sample`` keys of the training benchmark's tiny
  workload (``_workloads``, same seed) a run with the same ``fit_tiny``, ``log_params``,
  ``log_metrics``, the key as tags, ``mlflow.sklearn.log_model(...,
  registered_model_name=...)`` in skops format with ``pip_requirements`` given (else
  MLflow infers them in a subprocess per model; ``--infer-requirements``). One model is
  logged before the timer (MLflow imports its model code on first use).
- ``serving``: the LinearRegression Shoal serves for key 0 (``_serving_data``), logged and
  registered as ``bench-serving`` with a signature, loaded back, and ``model.predict`` on
  1-row frames timed, so the parent can tell MLflow's serving overhead from the model's
  own time. The parent runs ``mlflow models serve`` itself.

Progress goes to stderr as ``PROGRESS done total``; the result, one JSON object, to stdout.
Imports MLflow, scikit-learn, numpy, pandas and the two data modules named (no Shoal).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import random
import sqlite3
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", OTEL_SDK_DISABLED="true")
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # to load the model it just logged

FEATURES = [f"lag_{i}" for i in range(1, 8)] + [f"dow_{i}" for i in range(7)] + ["price", "promo"]


def progress(done: int, total: int) -> None:
    if done == total or done % max(1, total // 100) == 0:
        print(f"PROGRESS {done} {total}", file=sys.stderr, flush=True)


def mlflow_sklearn() -> Any:
    return importlib.import_module("mlflow.sklearn")


def registered_models(client: Any) -> int:
    found, token = 0, None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        found += len(page)
        token = page.token
        if not token:
            return found


def registry(args: argparse.Namespace, mlflow: Any, client: Any) -> dict[str, Any]:
    rng = random.Random(0)
    records = []
    for i in range(args.models):  # the same shape of record as _fleet.make_batch
        records.append({
            "store": f"s{i // 1000:04d}", "sku": f"k{i % 1000:04d}",
            "params": {"alpha": round(rng.uniform(0.001, 1.0), 6), "l1_ratio": 0.5,
                       "max_iter": 1000, "features": len(FEATURES), "horizon": 28},
            "metrics": {"mape": rng.random(), "rmse": rng.gammavariate(2.0, 5.0),
                        "bias": rng.gauss(0.0, 0.1)},
            "artifact": json.dumps(
                {"coef": {f: round(rng.gauss(0.0, 0.5), 7) for f in FEATURES},
                 "intercept": round(rng.uniform(1, 100), 6), "v": 1},
                sort_keys=True, separators=(",", ":")),
            "slice_fingerprint": f"{rng.getrandbits(128):032x}",
        })  # fmt: skip
    client.search_registered_models(max_results=1)  # the registry store opened, untimed
    started = time.perf_counter()
    for i, rec in enumerate(records, 1):
        name = f"demand_{rec['store']}_{rec['sku']}"
        key = {"store": rec["store"], "sku": rec["sku"]}
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_params(rec["params"])
            mlflow.log_metrics(rec["metrics"])
            mlflow.set_tags({**key, "slice_fingerprint": rec["slice_fingerprint"]})
            mlflow.log_text(rec["artifact"], "model/model.json")
        client.create_registered_model(name, tags=key)
        client.create_model_version(
            name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run.info.run_id,
            tags={**key, "flavor": "linear"},
        )
        progress(i, args.models)
    seconds = time.perf_counter() - started
    if registered_models(client) != args.models:
        raise SystemExit(f"MLflow holds {registered_models(client)} models, not {args.models}")
    return {
        "models": args.models,
        "seconds": seconds,
        "per_version_s": seconds / args.models,
        "artifact_bytes_mean": sum(len(r["artifact"]) for r in records) / len(records),
    }


def training(args: argparse.Namespace, mlflow: Any, client: Any) -> dict[str, Any]:
    import sklearn

    from _workloads import fit_tiny, split, tiny_frame

    keys = split(tiny_frame(args.keys))[: args.sample]
    pip = None if args.infer_requirements else [f"scikit-learn=={sklearn.__version__}"]

    def log_one(name: str, key: tuple[str, str], frame: Any) -> float:
        with mlflow.start_run(run_name=name):
            began = time.perf_counter()
            result = fit_tiny(frame)
            fit = time.perf_counter() - began
            mlflow.log_params(result["params"])
            mlflow.log_metrics(result["metrics"])
            mlflow.set_tags({"store": key[0], "sku": key[1]})
            mlflow_sklearn().log_model(
                result["model"],
                name="model",
                registered_model_name=name,
                serialization_format="skops",
                pip_requirements=pip,
            )
        return fit

    log_one("warmup", *keys[0])
    fit_seconds = 0.0
    started = time.perf_counter()
    for i, (key, frame) in enumerate(keys, 1):
        fit_seconds += log_one(f"tiny_{key[0]}_{key[1]}", key, frame)
        progress(i, len(keys))
    seconds = time.perf_counter() - started
    if registered_models(client) != len(keys) + 1:
        raise SystemExit(f"MLflow holds {registered_models(client)} models, not {len(keys) + 1}")
    return {"models": len(keys), "seconds": seconds, "per_model_s": seconds / len(keys),
            "fit_seconds": fit_seconds, "sklearn_version": sklearn.__version__,
            "infer_requirements": args.infer_requirements}  # fmt: skip


def serving(args: argparse.Namespace, mlflow: Any, client: Any) -> dict[str, Any]:
    import sklearn
    from mlflow.models import infer_signature

    from _serving_data import feature_rows, fit_key, frame_of, training_frame

    began = time.perf_counter()
    model = fit_key(0)
    x, _ = training_frame(0)
    with mlflow.start_run(run_name="bench-serving"):
        mlflow_sklearn().log_model(
            model, name="model", registered_model_name="bench-serving",
            signature=infer_signature(x, model.predict(x)),
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        )  # fmt: skip
    logged = time.perf_counter() - began
    progress(1, 2)
    loaded = mlflow_sklearn().load_model("models:/bench-serving/1")
    frames = [frame_of([row]) for row in feature_rows(args.reps)]
    loaded.predict(frames[0])
    times = []
    for frame in frames:
        began = time.perf_counter()
        loaded.predict(frame)
        times.append((time.perf_counter() - began) * 1000)
    progress(2, 2)
    return {"model_uri": "models:/bench-serving/1", "log_seconds": logged,
            "predict_1row_ms_p50": sorted(times)[len(times) // 2], "predict_reps": len(times),
            "sklearn_version": sklearn.__version__}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description="MLflow's side of a benchmark")
    p.add_argument("side", choices=("registry", "training", "serving"))
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--models", type=int, default=2000, help="registry: models to register")
    p.add_argument("--keys", type=int, default=10_000, help="training: keys of the data")
    p.add_argument("--sample", type=int, default=500, help="training: models to log")
    p.add_argument("--infer-requirements", action="store_true", help="training: let MLflow "
                   "infer pip requirements per model (a subprocess each)")  # fmt: skip
    p.add_argument("--reps", type=int, default=2000, help="serving: timed predict calls")
    args = p.parse_args()

    warnings.filterwarnings("ignore")
    import mlflow
    from mlflow import MlflowClient

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    root = args.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    began = time.perf_counter()  # set-up, not timed: the schema on a new database
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment(
        f"bench-{args.side}", artifact_location=(root / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)
    setup = time.perf_counter() - began
    result = {"side": args.side, "mlflow_version": mlflow.__version__, "tracking_uri": uri,
              "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
              "setup_seconds": setup}  # fmt: skip
    result |= {"registry": registry, "training": training, "serving": serving}[args.side](
        args, mlflow, client
    )
    result["db_bytes"] = (root / "mlflow.db").stat().st_size
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
