"""MLflow's side of the batch-scoring benchmark: runs inside MLflow's own venv (``_envs.py``).

    cd benchmarks && .envs/mlflow.lightgbm/bin/python _batch_mlflow.py --sample DIR \\
        --flavors linear,lightgbm --workdir DIR

The venv is MLflow's pins plus LightGBM at Shoal's version (``bench_batch.py`` names it
``mlflow.lightgbm``: what its build checks it can import). Set-up, not timed: a fresh
``sqlite:///DIR/mlflow.db`` (tracking and registry) and a local artifact folder; each
model of the world's sample logged the way an MLflow user logs it, with a signature
(``infer_signature`` on its rows) and ``pip_requirements`` given, registered as
``<flavor>_<store>_<sku>`` and given the alias ``production``: the booster with
``mlflow.lightgbm.log_model``; the linear model as the scikit-learn ``LinearRegression``
holding the same numbers with ``mlflow.sklearn.log_model``.

Timed, what a loop over a fleet in MLflow does: the sample's rows read from Parquet
(``pandas.read_parquet``) and grouped by key, then for each key
``mlflow.pyfunc.load_model("models:/<name>@production")`` and ``predict`` on its rows
(the frame of its features). Load and predict are timed apart too. One model is loaded
and predicted before the timer (MLflow imports its flavor code on first use). Every
flavor asked for runs in this one process, one after the other (MLflow imports once).

Progress goes to stderr as ``PROGRESS done total``; the result, one JSON object, to stdout.
Imports MLflow, LightGBM, scikit-learn, numpy, pandas (no Shoal).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", OTEL_SDK_DISABLED="true")
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"  # to load the model it just logged

FEATURES = [f"f{i}" for i in range(8)]


def progress(done: int, total: int) -> None:
    print(f"PROGRESS {done} {total}", file=sys.stderr, flush=True)


def vm_hwm_mb() -> float:
    """This process image's peak RSS (``VmHWM``; ``ru_maxrss`` keeps the parent's at the fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_of(flavor: str, entry: dict[str, Any], sample: Path) -> Any:
    if flavor == "lightgbm":
        import lightgbm

        return lightgbm.Booster(model_file=str(sample / "lightgbm" / entry["file"]))
    import numpy as np
    from sklearn.linear_model import LinearRegression

    model = LinearRegression()
    model.coef_ = np.asarray(entry["coef"], dtype="float64")
    model.intercept_ = float(entry["intercept"])
    model.n_features_in_ = len(FEATURES)
    model.feature_names_in_ = np.asarray(FEATURES, dtype=object)
    return model


def one_flavor(args: argparse.Namespace, flavor: str, mlflow: Any, client: Any) -> dict[str, Any]:
    """Log and register the sample's models of ``flavor`` (untimed), then the timed loop."""
    import lightgbm
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature

    experiment = client.create_experiment(
        f"bench-batch-{flavor}", artifact_location=(args.workdir / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)
    entries = json.loads((args.sample / f"{flavor}.json").read_text())
    rows = pd.read_parquet(args.sample / "rows.parquet")
    by_key = {key: part for key, part in rows.groupby(["store", "sku"], sort=False)}
    began = time.perf_counter()
    for entry in entries:
        name = f"{flavor}_{entry['store']}_{entry['sku']}"
        model = model_of(flavor, entry, args.sample)
        x = by_key[(entry["store"], entry["sku"])][FEATURES]
        signature = infer_signature(x, model.predict(x))
        with mlflow.start_run(run_name=name):
            if flavor == "lightgbm":
                mlflow.lightgbm.log_model(
                    model, name="model", registered_model_name=name, signature=signature,
                    pip_requirements=[f"lightgbm=={lightgbm.__version__}"],
                )  # fmt: skip
            else:
                mlflow.sklearn.log_model(
                    model, name="model", registered_model_name=name, signature=signature,
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                )  # fmt: skip
        client.set_registered_model_alias(name, "production", "1")
        args.done += 1
        progress(args.done, args.total)
    setup = time.perf_counter() - began
    names = {(e["store"], e["sku"]): f"{flavor}_{e['store']}_{e['sku']}" for e in entries}

    first = next(iter(names.values()))  # flavor code imported, untimed
    warm = mlflow.pyfunc.load_model(f"models:/{first}@production")
    warm.predict(rows[FEATURES].head(5))

    load = predict = 0.0
    scored = 0
    started = time.perf_counter()
    frame = pd.read_parquet(args.sample / "rows.parquet")
    for key, part in frame.groupby(["store", "sku"], sort=False):
        t0 = time.perf_counter()
        model = mlflow.pyfunc.load_model(f"models:/{names[key]}@production")
        t1 = time.perf_counter()
        out = model.predict(part[FEATURES])
        t2 = time.perf_counter()
        load += t1 - t0
        predict += t2 - t1
        scored += len(out)
        args.done += 1
        progress(args.done, args.total)
    seconds = time.perf_counter() - started
    if scored != len(frame):
        raise SystemExit(f"MLflow scored {scored} rows of {len(frame)}")
    models = len(names)
    return {"flavor": flavor, "models": models, "rows": scored, "seconds": seconds,
            "per_model_s": seconds / models, "load_seconds": load, "predict_seconds": predict,
            "setup_seconds": setup}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description="MLflow's side of the batch-scoring benchmark")
    p.add_argument("--sample", type=Path, required=True, help="the world's sample folder")
    p.add_argument("--flavors", default="linear,lightgbm", help="comma-separated")
    p.add_argument("--workdir", type=Path, required=True)
    args = p.parse_args()

    warnings.filterwarnings("ignore")
    import lightgbm
    import mlflow
    import sklearn
    from mlflow import MlflowClient

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{args.workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    flavors = [f for f in args.flavors.split(",") if f]
    models = len(json.loads((args.sample / f"{flavors[0]}.json").read_text()))
    args.done, args.total = 0, 2 * models * len(flavors)
    found = {f: one_flavor(args, f, mlflow, client) for f in flavors}
    print(json.dumps({
        "mlflow_version": mlflow.__version__, "lightgbm_version": lightgbm.__version__,
        "sklearn_version": sklearn.__version__, "flavors": found, "peak_rss_mb": vm_hwm_mb(),
    }), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
