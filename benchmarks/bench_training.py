"""Training benchmark: fleet.train against a bare loop and MLflow, and Ray's scaling.

    .venv/bin/python benchmarks/bench_training.py              # full size (~10 min on 2 cores)
    .venv/bin/python benchmarks/bench_training.py --quick      # everything tiny, < 1 min

Three parts, one run, one table with the ratios:

- realistic: ``--keys`` (2,000) keys of two years of daily rows each, a LightGBM model
  (100 trees) per key, through ``fleet.train(workers=W)`` against a bare
  ``joblib.Parallel(n_jobs=W)`` loop doing the same fits and ``joblib.dump``-ing each
  model, no tracking. Target: Shoal at most 1.10x the bare loop.
- stress: ``--tiny-keys`` (10,000) keys of 50 rows, a LinearRegression each: the bare
  fits, the fits with a ``skops.io.dump`` each, and ``fleet.train(workers=1)`` (in this
  process, so the added time per model is measured cleanly). Target: Shoal adds under
  1 ms a model over the fit. Then MLflow (its own venv, ``benchmarks/.envs/mlflow``) on
  ``--mlflow-sample`` of the same keys: per key a run, params, metrics, and the model
  logged and registered; its time per model against Shoal's. Target: at least 20x.
- Ray: ``fleet.train(executor="ray")`` with 1 and 2 workers on ``--ray-keys`` keys of the
  LightGBM workload, beside the local executor; a row says why when Ray cannot run.

This file is the entry point (arguments and the order of the steps); the steps live in
the ``_*.py`` modules beside it, imported as siblings (Python puts this folder first on
``sys.path`` when it runs the script).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# No telemetry from anything this process or its children start. Set before the modules
# below import numpy, rich, Ray, SQLAlchemy and Shoal.
import _offline  # noqa: F401  (telemetry off before Shoal, Ray or MLflow load)
from _machine import CpuWatch, loadavg, machine_info, package_versions, shoal_commit
from _mlflow_side import MLFLOW_VENV, mlflow_python, run_in_venv
from _report import console
from _training_report import print_report, save
from _training_results import Step, TrainingResults
from _training_sides import (
    bare_loop,
    bare_parallel,
    bare_split,
    guarded,
    profile_train,
    ray_cluster,
    ray_unavailable,
    shoal_train,
    warm_loky,
    warm_shoal,
)
from _workloads import demand_frame, fit_demand, fit_tiny, tiny_frame

HERE = Path(__file__).resolve().parent
PACKAGES = ("lightgbm", "scikit-learn", "skops", "joblib", "pandas", "numpy", "pyarrow", "ray")
FULL = {"keys": 2000, "tiny_keys": 10_000, "mlflow_sample": 500, "ray_keys": 400}
QUICK = {"keys": 40, "tiny_keys": 300, "mlflow_sample": 20, "ray_keys": 20}
MLFLOW_SCRIPT = HERE / "mlflow_training.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, help="keys of the LightGBM workload (default: 2000)")
    p.add_argument("--days", type=int, default=730, help="daily rows per key (default: 730)")
    p.add_argument("--tiny-keys", type=int, help="keys of the stress workload (default: 10000)")
    p.add_argument(
        "--mlflow-sample",
        type=int,
        help="models MLflow logs and registers, extrapolated per model (default: 500)",
    )
    p.add_argument("--ray-keys", type=int, help="keys of the Ray part (default: 400)")
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="W for the realistic part (default: CPU count)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="everything tiny: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()),
    )
    p.add_argument("--skip-realistic", action="store_true", help="skip the LightGBM part")
    p.add_argument("--skip-stress", action="store_true", help="skip the tiny-models part")
    p.add_argument("--skip-mlflow", action="store_true", help="skip the MLflow comparison")
    p.add_argument("--skip-ray", action="store_true", help="skip the Ray part")
    p.add_argument(
        "--mlflow-venv",
        type=Path,
        default=MLFLOW_VENV,
        help=f"MLflow's own venv, created when missing (default: {MLFLOW_VENV})",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=HERE / ".work" / "training",
        help="where stores and saved models go (default: benchmarks/.work/training)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure every timed step this many times and keep the fastest (the "
        "realistic pair alternates which side goes first); MLflow runs once",
    )
    p.add_argument("--keep", action="store_true", help="keep the Shoal stores")
    p.add_argument(
        "--profile",
        action="store_true",
        help="after the stress part, run its fleet.train again under cProfile (not "
        "timed) and print where Shoal's time goes per model",
    )
    p.add_argument(
        "--markdown", type=Path, default=None, help="also write the table as Markdown to this file"
    )
    args = p.parse_args(argv)  # fmt: skip
    preset = QUICK if args.quick else FULL
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.keys, args.tiny_keys, args.ray_keys, args.workers, args.repeat) < 1:
        p.error("sizes and --workers must be positive")
    if args.days < 40:
        p.error("--days must be at least 40 (the features need 34 days of lags)")
    args.mlflow_sample = max(1, min(args.mlflow_sample, args.tiny_keys))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["SHOAL_USER"] = "bench"
    machine = machine_info()
    machine["packages"] = package_versions(*PACKAGES)
    results = TrainingResults(
        started=time.strftime("%Y-%m-%d %H:%M %Z"),
        args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        machine=machine,
    )
    t_start = time.perf_counter()
    try:
        if not args.skip_realistic:
            realistic(args, workdir, results)
        if not args.skip_stress:
            stress(args, workdir, results)
        if not args.skip_ray:
            ray_part(args, workdir, results)
    except KeyboardInterrupt:
        results.interrupted = True
    finally:
        results.wall_seconds = time.perf_counter() - t_start
        results.machine["loadavg_end"] = loadavg()
        end_commit = shoal_commit()
        if end_commit != results.machine["shoal_commit"]:
            results.machine["shoal_commit_end"] = end_commit
        save(results, workdir, args.markdown)
        print_report(results)
        console.print(f"[dim]results: {workdir / 'results.json'}"
                      + (f", {args.markdown}" if args.markdown else "") + "[/]")  # fmt: skip
    return 130 if results.interrupted else 0


def realistic(args: argparse.Namespace, workdir: Path, results: TrainingResults) -> None:
    import lightgbm  # noqa: F401  (imported once here: Shoal's forked workers inherit it)

    w = args.workers
    with console.status(f"generating {args.keys:,} keys x {args.days} days"):
        frame = demand_frame(args.keys, args.days)
        warm_loky(frame, fit_demand, w, workdir / "warmup")
    for round_ in range(args.repeat):
        bare = Step(
            "bare_lgbm",
            "realistic",
            f"bare: joblib.Parallel(n_jobs={w}) + joblib.dump",
            args.keys,
            w,
        )
        shoal = Step("shoal_lgbm", "realistic", f"Shoal: fleet.train(workers={w})", args.keys, w)
        sides = [
            (bare, bare_parallel, (frame, fit_demand, w, workdir / "bare-lgbm"), {}),
            (shoal, shoal_train, (frame, fit_demand, workdir / "shoal-lgbm"),
             {"keep": args.keep}),
        ]  # fmt: skip
        for step, measure, pos, kw in sides if round_ % 2 == 0 else sides[::-1]:
            results.record(guarded(step, measure, *pos, **kw))


def stress(args: argparse.Namespace, workdir: Path, results: TrainingResults) -> None:
    n = args.tiny_keys
    with console.status(f"generating {n:,} keys x 50 rows"):
        frame = tiny_frame(n)
    warm_shoal(frame, fit_tiny, 20, workdir / "shoal-warmup")
    for _ in range(args.repeat):
        split_step = Step("tiny_split", "stress", "bare: split by key (pandas groupby)", n, 1)
        parts = bare_split(split_step, frame)
        results.record(split_step)
        fit = Step("tiny_fit", "stress", "bare: the fits alone, in a loop", n, 1)
        results.record(guarded(fit, bare_loop, parts, fit_tiny))
        dump = Step("tiny_dump", "stress", "bare: fit + skops.io.dump, in a loop", n, 1)
        results.record(guarded(dump, bare_loop, parts, fit_tiny, workdir / "bare-tiny"))
        parts.clear()  # the split frames are not needed any more
        shoal = Step("shoal_tiny", "stress", "Shoal: fleet.train(workers=1), in this process",
                     n, 1)  # fmt: skip
        results.record(guarded(shoal, shoal_train, frame, fit_tiny, workdir / "shoal-tiny",
                               keep=args.keep))  # fmt: skip
    if args.profile:
        results.profile = profile_train(frame, fit_tiny, workdir / "shoal-profile", n,
                                        workdir / "shoal-tiny.prof")  # fmt: skip
    if args.skip_mlflow:
        return
    sample = args.mlflow_sample
    ml = Step("mlflow_tiny", "stress",
              f"MLflow loop: run, params, metrics, log + register (sample of {sample:,})",
              sample, 1, detail={"keys": n})  # fmt: skip
    python, error = mlflow_python(args.mlflow_venv.resolve(), workdir / "mlflow-install.log")
    if error:
        ml.skipped = f"MLflow unavailable: {error}"
        console.print(f"[yellow]{ml.skipped}[/]")
    else:
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console, transient=True)  # fmt: skip
        with progress, CpuWatch() as watch:
            found, error = run_in_venv(
                python, MLFLOW_SCRIPT, ["--keys", str(n), "--sample", str(sample)],
                workdir / "mlflow", progress, f"MLflow: log and register {sample:,} models",
                sample,
            )  # fmt: skip
        if error or found is None:
            ml.skipped = f"failed: {error}"
            console.print(f"[red]{ml.skipped}[/]")
        else:
            results.mlflow = found
            ml.seconds = found["seconds"]
            ml.detail["extrapolated_seconds"] = found["per_model_s"] * n
            ml.detail["others_cpus"] = watch.others_cpus
    results.record(ml)


def ray_part(args: argparse.Namespace, workdir: Path, results: TrainingResults) -> None:
    import lightgbm  # noqa: F401  (as in the realistic part: not timed in the first row)

    counts = sorted({1, min(2, args.workers)})
    frame = demand_frame(args.ray_keys, args.days, seed=2)

    def train(step: Step, executor: str, data: Any = frame) -> Step:
        root = workdir / f"shoal-{executor}"
        return guarded(step, shoal_train, data, fit_demand, root, executor)

    def steps(executor: str) -> list[Step]:
        return [Step(f"{executor}_{w}", "ray",
                     f"Shoal: fleet.train(executor='{executor}', workers={w})", args.ray_keys, w)
                for w in counts]  # fmt: skip

    for _ in range(args.repeat):
        for step in steps("local"):
            results.record(train(step, "local"))
    why = ray_unavailable(max(counts))
    if why:
        for step in steps("ray"):
            step.skipped = f"skipped ({why})"
            results.record(step)
        console.print(f"[yellow]Ray part skipped: {why}[/]")
        return
    with contextlib.ExitStack() as stack:
        with console.status("starting Ray"):
            started = stack.enter_context(ray_cluster(max(counts)))
        # rows are in key order: the first 4 keys
        train(Step("ray_warmup", "ray", "Ray warm-up", 4, max(counts)), "ray",
              frame.head(4 * args.days))  # fmt: skip
        for _ in range(args.repeat):
            for step in steps("ray"):
                step.detail["ray_init_seconds"] = started
                results.record(train(step, "ray"))


if __name__ == "__main__":
    sys.exit(main())
