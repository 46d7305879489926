"""Batch-scoring benchmark: fleet.predict over a Parquet folder against a bare loop and MLflow.

    .venv/bin/python benchmarks/bench_batch.py             # 10M rows over 100k models, per flavor
    .venv/bin/python benchmarks/bench_batch.py --quick     # 20,000 rows over 200 models

Per flavor (``linear``, ``lightgbm``), the same models scored three ways over the same
Parquet folder partitioned by store (the world in ``_batch_world.py``, built once per size):
Shoal's ``fleet.predict(folder, alias="production", out=DIR)`` with ``log=False`` and
``log=True`` (one worker, and the default workers); a bare loop that reads each partition,
``joblib.load``-s each key's model and predicts its rows (the floor, one process); and
MLflow's ``pyfunc.load_model`` + ``predict`` per model on a sample, in its own venv, scaled
to the fleet. Each Shoal and bare run is a process of its own (``_batch_pass.py``), so its
peak memory is its own. Targets: Shoal within 1.2x of the bare loop's time, MLflow's at
least 50x Shoal's, Shoal's memory bounded by one partition. Details: benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import pstats
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import _envs
import _harness as h
from _batch_world import FLAVORS, World

TARGET_BARE_RATIO = 1.2  # Shoal's time over the bare loop's, at most
TARGET_MLFLOW_RATIO = 50.0  # MLflow's (scaled) time over Shoal's, at least
MEMORY_SLACK_MB = 64.0  # Shoal's peak growth at most 2x the bare loop's plus this
MLFLOW_ENV = "mlflow.lightgbm"
"""MLflow's venv with LightGBM in it. The name is what the venv's build checks it can
import (``import mlflow.lightgbm``); the folder is ``<envs>/mlflow.lightgbm``."""

bench = h.Bench(
    "batch", __doc__,
    sizes={
        "rows": (10_000_000, 20_000, "rows scored, per flavor (rounded to whole rows a model)"),
        "models": (100_000, 200, "models (keys), per flavor"),
        "mlflow_sample": (200, 5, "models MLflow loads and scores, its time scaled to --models"),
    },
    repeat=(1, 1, "run every Shoal and bare side this many times and keep the fastest; "
            "MLflow runs once"),
    packages=("lightgbm", "scikit-learn", "pyarrow", "pandas", "numpy", "joblib", "duckdb"),
)  # fmt: skip
add = bench.parser.add_argument
add("--flavors", default=",".join(FLAVORS), help="flavors to score (default: linear,lightgbm)")
add("--seed", type=int, default=0, help="the world's seed")
add("--skip-mlflow", action="store_true", help="leave MLflow's loop out")
add("--skip-parallel", action="store_true", help="leave out Shoal with the default workers")
add("--skip-omp", action="store_true", help="leave out the LightGBM diagnosis, Shoal with "
    "OMP_NUM_THREADS=1 (--quick leaves it out too)")  # fmt: skip
add("--profile", action="store_true", help="run Shoal's side (log=True, one worker) once more "
    "under cProfile, untimed: where its time goes")  # fmt: skip
add("--side-timeout", type=float, default=7200, help="seconds before a side is stopped")

# (id, label, pass arguments): the timed sides, in the order they run
SIDES = [
    ("bare", "bare loop: joblib.load + predict per key", ["bare"]),
    ("shoal_nolog", "Shoal, log=False, workers=1", ["shoal", "--workers", "1"]),
    ("shoal", "Shoal, log=True, workers=1", ["shoal", "--workers", "1", "--log"]),
    ("shoal_pool", "Shoal, log=True, default workers", ["shoal", "--log"]),
    # LightGBM only, a diagnosis: OpenMP's threads on 100-row predictions (no target)
    ("shoal_omp1", "Shoal, log=True, workers=1, OMP_NUM_THREADS=1",
     ["shoal", "--workers", "1", "--log", "--one-thread"]),
]  # fmt: skip


def measure(run: h.Run) -> None:
    from _batch_world import build_data, build_flavor, describe, open_world, partition_bytes

    args = run.args
    flavors = [f.strip() for f in args.flavors.split(",") if f.strip()]
    if unknown := set(flavors) - set(FLAVORS):
        raise ValueError(f"unknown flavor(s) {sorted(unknown)}: pick from {FLAVORS}")
    if args.models < 1 or args.rows < args.models:
        raise ValueError("--models must be positive and --rows at least --models")
    per_model = args.rows // args.models
    world = open_world(args.workdir, args.models, per_model, args.seed, args.mlflow_sample)
    run.data.update(flavors=flavors, sides={}, mlflow={})
    with h.bar(f"data: {world.rows:,} rows in {world.stores:,} partitions", world.models) as adv:
        built = build_data(world, adv)
    run.data["built"] = {"data": built}
    for flavor in flavors:
        with h.bar(f"{flavor}: fit, register and joblib.dump {world.models:,} models",
                   world.models) as adv:  # fmt: skip
            run.data["built"][flavor] = build_flavor(world, flavor, adv)
    run.data["world"] = describe(world)
    run.data["partitions"] = partition_bytes(world)
    from _batch_world import measure_bytes, warm

    run.data["disk"] = {f: measure_bytes(world, f) for f in flavors}
    with h.console.status("reading the world once (page cache)"):
        warm([world.data, *(world.path / f for f in flavors)])
    for flavor in flavors:
        for _ in range(args.repeat):
            for side_id, label, argv in SIDES:
                if side_id == "shoal_pool" and (args.skip_parallel or (os.cpu_count() or 1) < 2):
                    continue
                if side_id == "shoal_omp1" and (
                    flavor != "lightgbm" or args.skip_omp or args.quick
                ):
                    continue
                with run.step(f"{flavor}: {label}"):
                    record(run, flavor, side_id, label, one_pass(run, world, flavor, argv))
        if args.profile:
            with run.step(f"{flavor}: cProfile of Shoal's side"):
                run.data.setdefault("profiles", {})[flavor] = profile(run, world, flavor)
    if not args.skip_mlflow:
        mlflow_side(run, world, flavors)


def record(run: h.Run, flavor: str, side_id: str, label: str, found: dict[str, Any]) -> None:
    """Keep a side's fastest run; every run's seconds stay in ``runs``."""
    sides = run.data["sides"].setdefault(flavor, {})
    found["label"] = label
    known = sides.get(side_id)
    runs = [*(known or {}).get("runs", []), found["seconds"]]
    if known is None or found["seconds"] < known["seconds"]:
        sides[side_id] = found
    sides[side_id]["runs"] = runs


def one_pass(run: h.Run, world: World, flavor: str, argv: list[str],
             extra: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """One side in a process of its own (``_batch_pass.py``): its JSON, checked."""
    side = argv[0]
    where = h.fresh(run.workdir / "pass")
    out = where / "out"
    cmd = [sys.executable, str(h.HERE / "_batch_pass.py"), *argv, "--world", world.root,
           "--flavor", flavor, "--out", str(out), *(extra or [])]  # fmt: skip
    if side == "shoal":
        db = where / "store" / "shoal.db"
        db.parent.mkdir()
        for f in world.store_db(flavor).parent.glob("shoal.db*"):
            shutil.copyfile(f, db.parent / f.name)
        cmd += ["--db", str(db), "--artifacts", str(world.artifacts(flavor)),
                "--logs", str(where / "logs")]  # fmt: skip
    log = run.workdir / f"{flavor}-{'-'.join(a.strip('-') for a in argv)}.log"
    with (
        h.console.status(f"{flavor}: {' '.join(argv)} ({world.rows:,} rows)"),
        log.open("w") as err,
    ):
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                              timeout=run.args.side_timeout, cwd=h.HERE, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: "
                           + " | ".join(log.read_text().strip().splitlines()[-5:]))  # fmt: skip
    found = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    if found.get("rows_scored") != world.rows or found.get("problems"):
        raise RuntimeError(f"{' '.join(argv)} scored {found.get('rows_scored')} of {world.rows:,} "
                           f"rows, {found.get('problems')} problems: {found}")  # fmt: skip
    if "--profile" not in (extra or []):
        found["prediction_sum"] = prediction_sum(out)
        found["out_bytes"] = h.dir_bytes(out)
        if side == "shoal":
            found["log_bytes"] = h.dir_bytes(where / "logs")
    if not run.args.keep:
        shutil.rmtree(where, ignore_errors=True)
    return found


def prediction_sum(out: Path) -> float:
    """The sum of every prediction written under ``out``: the sides must agree."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    files = sorted(str(p) for p in out.rglob("*.parquet"))
    table = ds.dataset(files, format="parquet").to_table(columns=["prediction"])
    return float(pc.sum(table["prediction"]).as_py())


def profile(run: h.Run, world: World, flavor: str) -> list[dict[str, Any]]:
    prof = run.workdir / f"shoal-{flavor}.prof"
    one_pass(run, world, flavor, ["shoal", "--workers", "1", "--log"],
             ["--profile", str(prof)])  # fmt: skip
    stats = pstats.Stats(str(prof))
    return h.top_functions(stats, world.models, lambda file, _name: "shoal/" in file,
                           skip=lambda func: "_batch_pass.py" in func[0])  # fmt: skip


def mlflow_side(run: h.Run, world: World, flavors: list[str]) -> None:
    """MLflow's loop over the sample, every flavor in one process in its own venv."""
    import lightgbm

    _envs.PINS.setdefault(MLFLOW_ENV, [*_envs.PINS["mlflow"], f"lightgbm=={lightgbm.__version__}"])
    sample = len(world.sample_keys())
    try:
        with h.CpuWatch() as watch:
            found = _envs.run(
                MLFLOW_ENV, "_batch_mlflow.py",
                ["--sample", str(world.sample_dir), "--flavors", ",".join(flavors),
                 "--workdir", str(h.fresh(run.workdir / "mlflow"))],
                run.workdir / "mlflow.log",
                f"MLflow: log {sample:,} models a flavor, then load + predict each",
                2 * sample * len(flavors), timeout=run.args.side_timeout,
            )  # fmt: skip
    except _envs.Unavailable as exc:
        run.data["mlflow_error"] = f"MLflow unavailable: {exc}"
        return
    except _envs.ScriptFailed as exc:
        run.data["mlflow_error"] = "failed: " + run.error("MLflow side", exc)
        return
    for flavor, result in found.pop("flavors").items():
        result |= found  # versions and the process's peak RSS
        result["others_cpus"] = watch.others_cpus
        result["scaled_seconds"] = result["per_model_s"] * world.models
        run.data["mlflow"][flavor] = result
    if not run.args.keep:
        shutil.rmtree(run.workdir / "mlflow", ignore_errors=True)


# -- the report ------------------------------------------------------------------------------


def _mb(value: float | None) -> str:
    return h.num(value, 0)


def report(run: h.Run) -> None:
    data, args = run.data, run.args
    world = data.get("world")
    if not world:
        return
    rows, models = world["models"] * world["per_model"], world["models"]
    table = run.table(
        f"Batch scoring: {rows:,} rows over {models:,} models, per flavor",
        ("flavor", "side", "seconds", "rows/s", "peak RSS MB", "growth MB", "compared",
         "target", "met"), "llrrrrlrc",
    )  # fmt: skip
    for flavor in data.get("flavors", []):
        sides = data["sides"].get(flavor, {})
        bare, shoal = sides.get("bare"), sides.get("shoal")
        first = True
        for side_id, label, _ in SIDES:
            s = sides.get(side_id)
            if s is None:
                continue
            growth = s["peak_rss_mb"] - s["rss_before_mb"]
            compared: tuple[Any, Any, Any] = ("the floor", None, None)
            if side_id != "bare" and bare:
                ratio = s["seconds"] / bare["seconds"]
                compared = (f"{ratio:.2f}x the bare loop", f"<= {TARGET_BARE_RATIO}x",
                            ratio <= TARGET_BARE_RATIO)  # fmt: skip
                if side_id == "shoal_omp1":  # a diagnosis, not how Shoal runs
                    compared = (compared[0] + " (diagnosis)", None, None)
            table.add(flavor if first else "", label, h.secs(s["seconds"]),
                      h.num(rows / s["seconds"], 0), _mb(s["peak_rss_mb"]), _mb(growth),
                      *compared, section=first)  # fmt: skip
            first = False
        if shoal and bare:
            g_shoal = shoal["peak_rss_mb"] - shoal["rss_before_mb"]
            g_bare = bare["peak_rss_mb"] - bare["rss_before_mb"]
            bound = 2 * g_bare + MEMORY_SLACK_MB
            part = data["partitions"]["partition"] / 2**20
            table.add("", "memory: Shoal's growth (log=True, workers=1)", None, None, None,
                      _mb(g_shoal), f"bare loop {g_bare:,.0f} MB; a partition {part:,.1f} MB",
                      f"<= 2x bare + {MEMORY_SLACK_MB:.0f} MB", g_shoal <= bound)  # fmt: skip
            if abs(shoal["prediction_sum"] - bare["prediction_sum"]) > 1e-6 * max(
                1.0, abs(bare["prediction_sum"])
            ):
                run.error(f"{flavor}: Shoal's predictions sum to {shoal['prediction_sum']!r}, "
                          f"the bare loop's to {bare['prediction_sum']!r}")  # fmt: skip
        ml = data["mlflow"].get(flavor)
        if ml:
            label = f"MLflow loop (sample of {ml['models']:,}, scaled)"
            scaled = ml["scaled_seconds"]
            compared = ("-", None, None)
            if shoal:
                ratio = scaled / shoal["seconds"]
                compared = (f"{ratio:,.0f}x Shoal (log=True, workers=1)",
                            f">= {TARGET_MLFLOW_RATIO:g}x",
                            ratio >= TARGET_MLFLOW_RATIO)  # fmt: skip
            table.add("", label, f"{h.secs(ml['seconds'])} (~{scaled:,.0f} scaled)",
                      h.num(rows / scaled, 0), _mb(ml["peak_rss_mb"]), None, *compared)  # fmt: skip
        elif why := data.get("mlflow_error"):
            table.add("", "MLflow loop", None, None, None, None, why[:200], None, None)
    w = data["world"]
    run.notes.append(
        f"The world: {rows:,} rows ({w['per_model']} a model, 8 float features) in "
        f"{w['stores']:,} Parquet partitions (store=..., {w['skus']:,} keys each); "
        + "; ".join(f"{f}: data {d['data'] / 2**20:,.0f} MB, store {d['store'] / 2**20:,.0f} MB, "
                    f"joblib copies {d['joblib'] / 2**20:,.0f} MB"
                    for f, d in data.get("disk", {}).items())
        + ". Built in " + ", ".join(f"{k} {v:,.0f} s" for k, v in w["seconds"].items())
        + (" (reused: " + ", ".join(k for k, v in data["built"].items() if not v) + ")"
           if not all(data["built"].values()) else "") + "."
    )  # fmt: skip
    run.notes.append(
        "Each Shoal and bare side ran in a process of its own, its imports done before the "
        "clock; peak RSS: the process's high-water mark or its tree's sampled RSS (workers "
        "included), whichever is larger; growth: peak minus the RSS before the call. Shoal "
        "ran with progress=False on a copy of the store, the artifacts and the data read "
        "once beforehand (page cache warm for every side). The sides' predictions sum to the "
        "same total (checked)."
    )
    for flavor, ml in data["mlflow"].items():
        run.notes.append(
            f"MLflow {ml['mlflow_version']} ({flavor}, LightGBM {ml['lightgbm_version']}, "
            f"scikit-learn {ml['sklearn_version']}) in its own venv, SQLite registry, local "
            f"artifacts: {ml['models']:,} models, load_model "
            f"{ml['load_seconds'] * 1000 / ml['models']:,.1f} ms and predict "
            f"{ml['predict_seconds'] * 1000 / ml['models']:,.1f} ms a model; "
            f"its time per model scaled to {models:,} (its reads are only the sample's rows: "
            "generous to MLflow)."
        )  # fmt: skip
    repeated = {f"{f}/{k}": s["runs"] for f, sides in data["sides"].items()
                for k, s in sides.items() if len(s.get("runs", [])) > 1}  # fmt: skip
    if repeated:
        run.notes.append("--repeat: the fastest run is shown; all runs (s): " + "; ".join(
            f"{k} " + ", ".join(f"{x:.2f}" for x in v) for k, v in repeated.items()))  # fmt: skip
    for flavor, rows_ in data.get("profiles", {}).items():
        h.profile_table(run, f"{flavor}: fleet.predict(log=True, workers=1) under cProfile: "
                        "ms per model (profiling slows every call down; compare rows, not "
                        "totals)", rows_, models, "model")  # fmt: skip
    del args


def main(argv: list[str] | None = None) -> int:
    return bench.run(bench.parse(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
