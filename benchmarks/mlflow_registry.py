"""The MLflow side of the registry benchmark: run inside MLflow's own virtual environment.

    benchmarks/.envs/mlflow/bin/python benchmarks/mlflow_registry.py --models 2000 \\
        --workdir benchmarks/.work/mlflow --out result.json

It registers ``--models`` models in MLflow's model registry on a fresh SQLite database
(tracking and registry on the same ``sqlite:///.../mlflow.db``) with a local artifact
folder, the way a user of MLflow would record a fleet: per model, a run with the same
5 params and 3 metrics as the Shoal benchmark, the same ~320-byte linear-model JSON
logged as an artifact, a registered model named after its key, tagged with the key
values, and a model version created from the run's artifact. Progress lines
(``PROGRESS done total``) go to stdout; the JSON result goes to ``--out`` (and stdout).
Imports only MLflow and the standard library: it never sees Shoal's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import sys
import time
from pathlib import Path

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "1"

FEATURES = [f"lag_{i}" for i in range(1, 8)] + [f"dow_{i}" for i in range(7)] + ["price", "promo"]
SKUS_PER_STORE = 1000


def record(i: int, rng: random.Random) -> dict:
    """The same shape of record as the Shoal side: key, 5 params, 3 metrics, artifact."""
    artifact = json.dumps(
        {"coef": {f: round(rng.gauss(0.0, 0.5), 7) for f in FEATURES},
         "intercept": round(rng.uniform(1, 100), 6), "v": 1},
        sort_keys=True, separators=(",", ":"),
    )  # fmt: skip
    return {
        "store": f"s{i // SKUS_PER_STORE:04d}",
        "sku": f"k{i % SKUS_PER_STORE:04d}",
        "params": {"alpha": round(rng.uniform(0.001, 1.0), 6), "l1_ratio": 0.5,
                   "max_iter": 1000, "features": len(FEATURES), "horizon": 28},
        "metrics": {"mape": rng.random(), "rmse": rng.gammavariate(2.0, 5.0),
                    "bias": rng.gauss(0.0, 0.1)},
        "artifact": artifact,
        "slice_fingerprint": f"{rng.getrandbits(128):032x}",
    }  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description="MLflow model registry on SQLite: register N models")
    p.add_argument("--models", type=int, default=2000)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()

    import logging

    import mlflow
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

    root = args.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    artifacts = root / "artifacts"
    # Set-up, not timed: MLflow creates its schema on a new database, and opens the
    # tracking and registry stores on first use.
    t0 = time.perf_counter()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment("bench-demand", artifact_location=artifacts.as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    client.search_registered_models(max_results=1)
    setup = time.perf_counter() - t0

    rng = random.Random(0)
    records = [record(i, rng) for i in range(args.models)]

    step = max(1, args.models // 100)
    t_start = time.perf_counter()
    for i, rec in enumerate(records):
        name = f"demand_{rec['store']}_{rec['sku']}"
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_params(rec["params"])
            mlflow.log_metrics(rec["metrics"])
            mlflow.set_tags({"store": rec["store"], "sku": rec["sku"],
                             "slice_fingerprint": rec["slice_fingerprint"]})  # fmt: skip
            mlflow.log_text(rec["artifact"], "model/model.json")
        client.create_registered_model(name, tags={"store": rec["store"], "sku": rec["sku"]})
        client.create_model_version(
            name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
            tags={"store": rec["store"], "sku": rec["sku"], "flavor": "linear"},
        )  # fmt: skip
        if (i + 1) % step == 0 or i + 1 == args.models:
            print(f"PROGRESS {i + 1} {args.models}", flush=True)
    seconds = time.perf_counter() - t_start

    # A sanity check that everything landed: one registered model per record.
    found = 0
    token = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        found += len(page)
        token = page.token
        if not token:
            break
    if found != args.models:
        print(f"MLflow holds {found} registered models, expected {args.models}", file=sys.stderr)
        return 1

    result = {
        "mlflow_version": mlflow.__version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "models": args.models,
        "seconds": seconds,
        "per_version_s": seconds / args.models,
        "setup_seconds": setup,
        "artifact_bytes_mean": sum(len(r["artifact"]) for r in records) / len(records),
        "db_bytes": (root / "mlflow.db").stat().st_size,
    }
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
