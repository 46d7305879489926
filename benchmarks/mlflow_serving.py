"""The MLflow side of the serving benchmark: run inside MLflow's own virtual environment.

    benchmarks/.envs/mlflow/bin/python benchmarks/mlflow_serving.py \\
        --workdir benchmarks/.work/serving/mlflow --out result.json

Logs and registers one model as an MLflow user would before ``mlflow models serve``: the
same ``LinearRegression`` on three named features that Shoal serves for key 0
(:mod:`_serving_data`, same seed), in a run, with a signature inferred from its training
frame, ``mlflow.sklearn.log_model(..., registered_model_name="bench-serving")`` in skops
format (MLflow's default outside Databricks) and ``pip_requirements`` given (no inference
subprocess). Tracking and registry share a fresh ``sqlite:///.../mlflow.db``, artifacts
a local folder. It then loads the model back with ``mlflow.sklearn.load_model`` and times
``model.predict`` on a 1-row frame built like the requests' rows, so the parent can tell
MLflow's serving overhead from the model's own time, as it does for Shoal.

The parent starts ``mlflow models serve -m models:/bench-serving/1`` itself and measures
it with the same HTTP client as Shoal. Progress lines (``PROGRESS done total``) go to
stdout; the JSON result goes to ``--out`` (and stdout). Imports MLflow, scikit-learn,
numpy, pandas and :mod:`_serving_data` (no Shoal).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["OTEL_SDK_DISABLED"] = "true"
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # to load the model it just logged

from _serving_data import feature_rows, fit_key, frame_of, training_frame  # after telemetry

NAME = "bench-serving"


def main() -> int:
    p = argparse.ArgumentParser(description="MLflow: log and register the model to serve")
    p.add_argument("--reps", type=int, default=2000, help="timed model.predict calls")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()

    import logging
    import warnings

    import mlflow
    import mlflow.sklearn
    import sklearn
    from mlflow.models import infer_signature

    warnings.filterwarnings("ignore")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)

    root = args.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment(
        "bench-serving", artifact_location=(root / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)

    t0 = time.perf_counter()
    model = fit_key(0)
    X, _ = training_frame(0)
    with mlflow.start_run(run_name=NAME):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=NAME,
            signature=infer_signature(X, model.predict(X)),
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        )
    logged = time.perf_counter() - t0
    print("PROGRESS 1 2", flush=True)

    model_uri = f"models:/{NAME}/1"
    loaded = mlflow.sklearn.load_model(model_uri)
    rows = feature_rows(args.reps)
    frames = [frame_of([row]) for row in rows]
    loaded.predict(frames[0])
    times = []
    for frame in frames:
        started = time.perf_counter()
        loaded.predict(frame)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print("PROGRESS 2 2", flush=True)

    result = {
        "mlflow_version": mlflow.__version__,
        "sklearn_version": sklearn.__version__,
        "python": platform.python_version(),
        "model_uri": model_uri,
        "logged_model_uri": info.model_uri,
        "tracking_uri": uri,
        "log_seconds": logged,
        "predict_1row_ms_p50": times[len(times) // 2],
        "predict_reps": len(times),
        "serialization_format": "skops",
    }
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
