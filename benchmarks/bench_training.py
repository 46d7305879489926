"""Training benchmark: fleet.train against a bare loop and MLflow, and Ray's scaling.

    .venv/bin/python benchmarks/bench_training.py              # full size (~10 min on 2 cores)
    .venv/bin/python benchmarks/bench_training.py --quick      # everything tiny

Three parts, one table (the timed sides are in ``_training_sides.py``, the data and the
per-key functions in ``_workloads.py``): realistic, ``--keys`` LightGBM models through
``fleet.train(workers=W)`` against a bare ``joblib.Parallel`` loop (target: at most 1.10x);
stress, ``--tiny-keys`` LinearRegression models, Shoal's added time per model over the
bare fit (target: under 1 ms) and MLflow's time per model on a sample in its own venv
(target: at least 20x Shoal's); Ray, ``executor="ray"`` with 1 and 2 workers beside the
local executor. Details: benchmarks/README.md.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import _envs
import _harness as h
from _training_sides import (
    Step,
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

TARGET_REALISTIC_RATIO = 1.10  # Shoal's time over the bare joblib loop's, at most
TARGET_ADDED_MS = 1.0  # Shoal's added time per tiny model over the bare fit, under
TARGET_MLFLOW_RATIO = 20.0  # MLflow's time per tiny model over Shoal's, at least

bench = h.Bench(
    "training", __doc__,
    sizes={
        "keys": (2000, 8, "keys of the LightGBM workload"),
        "days": (730, 120, "daily rows per key (at least 40: the features need 34 days)"),
        "tiny_keys": (10_000, 100, "keys of the stress workload"),
        "mlflow_sample": (500, 10, "models MLflow logs and registers, extrapolated per model"),
        "ray_keys": (400, 4, "keys of the Ray part"),
    },
    repeat=(1, 1, "measure every timed step this many times and keep the fastest (the "
            "realistic pair alternates which side goes first); MLflow runs once"),
    packages=("lightgbm", "scikit-learn", "skops", "joblib", "pandas", "numpy", "pyarrow", "ray"),
)  # fmt: skip
add = bench.parser.add_argument
add("--workers", type=int, default=os.cpu_count() or 1, help="W of the realistic part (CPUs)")
for part in ("realistic", "stress", "mlflow", "ray"):
    add(f"--skip-{part}", action="store_true", help=f"leave the {part} part out")
add("--profile", action="store_true", help="run the stress part's fleet.train again under "
    "cProfile (not timed): where Shoal's time goes")  # fmt: skip
PARTS = {
    "realistic": "realistic (LightGBM, 100 trees, {days} daily rows a key)",
    "stress": "stress (LinearRegression, 50 rows a key)",
    "ray": "Ray (the LightGBM workload)",
}


def record(run: h.Run, trial: Step) -> None:
    """Add one measurement. With ``--repeat``, a step keeps its fastest run; every run's
    seconds (None for a failed one) and the CPUs other processes used meanwhile stay in
    ``detail["runs"]`` as ``[seconds, others_cpus]``, in the order measured."""
    steps: list[Step] = run.data.setdefault("steps", [])
    runs = [[trial.seconds if trial.ran else None, trial.detail.get("others_cpus")]]
    for i, known in enumerate(steps):
        if known.id == trial.id:
            runs = known.detail.get("runs", []) + runs
            if not known.ran or (trial.ran and trial.seconds < known.seconds):  # type: ignore[operator]
                steps[i] = trial
            steps[i].detail["runs"] = runs
            return
    trial.detail["runs"] = runs
    steps.append(trial)


def measure(run: h.Run) -> None:
    args = run.args
    if min(args.keys, args.tiny_keys, args.ray_keys, args.workers) < 1 or args.days < 40:
        raise ValueError("sizes and --workers must be positive, --days at least 40")
    args.mlflow_sample = max(1, min(args.mlflow_sample, args.tiny_keys))
    if not args.skip_realistic:
        realistic(run)
    if not args.skip_stress:
        stress(run)
    if not args.skip_ray:
        ray_part(run)


def realistic(run: h.Run) -> None:
    import lightgbm  # noqa: F401  (imported once here, outside every timer)

    args, workdir, w = run.args, run.workdir, run.args.workers
    with h.console.status(f"generating {args.keys:,} keys x {args.days} days"):
        frame = demand_frame(args.keys, args.days)
        warm_loky(frame, fit_demand, w, workdir / "warmup")
        warm_shoal(frame, fit_demand, 2 * w, workdir / "shoal-warmup", workers=w)
    for round_ in range(args.repeat):
        bare = Step("bare_lgbm", "realistic", f"bare: joblib.Parallel(n_jobs={w}) + joblib.dump",
                    args.keys, w)  # fmt: skip
        shoal = Step("shoal_lgbm", "realistic", f"Shoal: fleet.train(workers={w})", args.keys, w)
        sides = [
            (bare, bare_parallel, (frame, fit_demand, w, workdir / "bare-lgbm"), {}),
            (shoal, shoal_train, (frame, fit_demand, workdir / "shoal-lgbm"), {"keep": args.keep}),
        ]
        for step, measure_, pos, kw in sides if round_ % 2 == 0 else sides[::-1]:
            record(run, guarded(run, step, measure_, *pos, **kw))


def stress(run: h.Run) -> None:
    args, workdir, n = run.args, run.workdir, run.args.tiny_keys
    with h.console.status(f"generating {n:,} keys x 50 rows"):
        frame = tiny_frame(n)
    warm_shoal(frame, fit_tiny, 20, workdir / "shoal-warmup")
    for _ in range(args.repeat):
        split_step = Step("tiny_split", "stress", "bare: split by key (pandas groupby)", n, 1)
        parts = bare_split(split_step, frame)
        record(run, split_step)
        fit = Step("tiny_fit", "stress", "bare: the fits alone, in a loop", n, 1)
        record(run, guarded(run, fit, bare_loop, parts, fit_tiny))
        dump = Step("tiny_dump", "stress", "bare: fit + skops.io.dump, in a loop", n, 1)
        record(run, guarded(run, dump, bare_loop, parts, fit_tiny, workdir / "bare-tiny"))
        parts.clear()  # the split frames are not needed any more
        shoal = Step("shoal_tiny", "stress", "Shoal: fleet.train(workers=1), in this process",
                     n, 1)  # fmt: skip
        record(run, guarded(run, shoal, shoal_train, frame, fit_tiny, workdir / "shoal-tiny",
                            keep=args.keep))  # fmt: skip
    if args.profile:
        run.data["profile"] = profile_train(frame, fit_tiny, workdir / "shoal-profile", n,
                                            workdir / "shoal-tiny.prof")  # fmt: skip
    if args.skip_mlflow:
        return
    sample = args.mlflow_sample
    ml = Step("mlflow_tiny", "stress",
              f"MLflow loop: run, params, metrics, log + register (sample of {sample:,})",
              sample, 1, detail={"keys": n})  # fmt: skip
    try:
        with h.CpuWatch() as watch:
            found = _envs.run(
                "mlflow", "mlflow_side.py",
                ["training", "--keys", str(n), "--sample", str(sample), "--workdir",
                 str(h.fresh(workdir / "mlflow"))],
                workdir / "mlflow.log", f"MLflow: log and register {sample:,} models", sample,
            )  # fmt: skip
    except _envs.Unavailable as exc:
        ml.skipped = run.data["mlflow_error"] = f"MLflow unavailable: {exc}"
    except _envs.ScriptFailed as exc:
        ml.skipped = run.data["mlflow_error"] = "failed: " + run.error("MLflow side", exc)
    else:
        run.data["mlflow"] = found
        ml.seconds = found["seconds"]
        ml.detail.update(extrapolated_seconds=found["per_model_s"] * n,
                         others_cpus=watch.others_cpus)  # fmt: skip
    record(run, ml)


def ray_part(run: h.Run) -> None:
    import lightgbm  # noqa: F401  (as in the realistic part: not timed in the first row)

    args = run.args
    counts = sorted({1, min(2, args.workers)})
    frame = demand_frame(args.ray_keys, args.days, seed=2)

    def train(step: Step, executor: str, data: Any = frame) -> Step:
        return guarded(run, step, shoal_train, data, fit_demand,
                       run.workdir / f"shoal-{executor}", executor)  # fmt: skip

    def steps(executor: str) -> list[Step]:
        return [Step(f"{executor}_{w}", "ray",
                     f"Shoal: fleet.train(executor='{executor}', workers={w})", args.ray_keys, w)
                for w in counts]  # fmt: skip

    for _ in range(args.repeat):
        for step in steps("local"):
            record(run, train(step, "local"))
    why = ray_unavailable(max(counts))
    if why:
        for step in steps("ray"):
            step.skipped = f"skipped ({why})"
            record(run, step)
        return
    with contextlib.ExitStack() as stack:
        with h.console.status("starting Ray"):
            started = stack.enter_context(ray_cluster(max(counts)))
        warmup = Step("ray_warmup", "ray", "Ray warm-up", 4, max(counts))
        if not train(warmup, "ray", frame.head(4 * args.days)).ran:  # rows are in key order
            return
        for _ in range(args.repeat):
            for step in steps("ray"):
                step.detail["ray_init_seconds"] = started
                record(run, train(step, "ray"))


def _compare(steps: dict[str, Step], s: Step) -> tuple[str, str | None, bool | None]:
    """(what this row is compared with, the target, whether it is met) for one step."""
    get = steps.get
    if s.id == "shoal_lgbm" and (bare := get("bare_lgbm")):
        ratio = s.seconds / bare.seconds  # type: ignore[operator]
        return (f"{ratio:.3f}x the bare loop", f"<= {TARGET_REALISTIC_RATIO:.2f}x",
                ratio <= TARGET_REALISTIC_RATIO)  # fmt: skip
    if s.id == "tiny_dump" and (fit := get("tiny_fit")):
        return f"{(s.seconds - fit.seconds) * 1000 / s.models:+.2f} ms over the fit", None, None  # type: ignore[operator]
    if s.id == "shoal_tiny" and (fit := get("tiny_fit")):
        added = (s.seconds - fit.seconds) * 1000 / s.models  # type: ignore[operator]
        text = f"{added:+.2f} ms over the fit"
        if dump := get("tiny_dump"):
            beside = (s.seconds - dump.seconds) * 1000 / s.models  # type: ignore[operator]
            text += f" ({abs(beside):.2f} ms {'more' if beside >= 0 else 'less'} than fit + dump)"
        return text, f"< {TARGET_ADDED_MS:g} ms", added < TARGET_ADDED_MS
    if s.id == "mlflow_tiny" and (shoal := get("shoal_tiny")):
        ratio = s.per_model_ms / shoal.per_model_ms
        return (f"{ratio:,.1f}x Shoal's time per model", f">= {TARGET_MLFLOW_RATIO:g}x",
                ratio >= TARGET_MLFLOW_RATIO)  # fmt: skip
    said = []
    if s.id.startswith(("ray_", "local_")):
        one = get(f"{s.id.rsplit('_', 1)[0]}_1")
        if s.workers > 1 and one:
            said.append(f"speed-up {one.seconds / s.seconds:.2f}x over 1 worker")  # type: ignore[operator]
        if s.id.startswith("ray_") and (local := get(f"local_{s.workers}")):
            said.append(f"{s.seconds / local.seconds:.2f}x the local executor's time")  # type: ignore[operator]
    return "; ".join(said) or "-", None, None


def report(run: h.Run) -> None:
    all_steps: list[Step] = run.data.get("steps", [])
    ran = {s.id: s for s in all_steps if s.ran}
    table = run.table(
        "Training: fleet.train against a bare loop, MLflow, and Ray's scaling",
        ("part", "what", "models", "workers", "seconds", "others' CPUs", "ms/model", "compared",
         "target", "met"), "llrrrrrlrc", c0=22,
    )  # fmt: skip
    previous = None
    for s in all_steps:
        part = PARTS[s.part].format(days=run.args.days) if s.part != previous else ""
        if not s.ran:
            table.add(part, s.label, f"{s.models:,}", str(s.workers), None, None, None,
                      s.skipped or "not run", None, None, section=s.part != previous)  # fmt: skip
        else:
            seconds = h.num(s.seconds, 2 if s.seconds < 10 else 1)  # type: ignore[operator]
            if full := s.detail.get("extrapolated_seconds"):
                seconds += f" (~{full:,.0f} for {s.detail['keys']:,})"
            table.add(part, s.label, f"{s.models:,}", str(s.workers), seconds,
                      h.num(s.detail.get("others_cpus"), 2), h.num(s.per_model_ms, 2),
                      *_compare(ran, s), section=s.part != previous)  # fmt: skip
        previous = s.part
    run.notes.append(
        "others' CPUs: the CPU time other processes on the machine used while the step ran, "
        "over its wall time (1.00 = one core kept busy by someone else throughout)."
    )
    repeated = [s for s in all_steps if len(s.detail.get("runs", [])) > 1]
    if repeated:
        runs = "; ".join(s.id + " " + ", ".join(
            ("failed" if sec is None else f"{sec:.2f}") + f" ({h.num(others, 2)})"
            for sec, others in s.detail["runs"]) for s in repeated)  # fmt: skip
        run.notes.append("Each timed step ran several times (--repeat); the table shows the "
                         f"fastest. All runs, seconds (others' CPUs): {runs}.")  # fmt: skip
    if ml := run.data.get("mlflow"):
        fit_ms = ml["fit_seconds"] * 1000 / ml["models"]
        added_ms = (ml["seconds"] - ml["fit_seconds"]) * 1000 / ml["models"]
        run.notes.append(
            f"MLflow {ml['mlflow_version']} in its own venv (SQLite tracking and registry, local "
            f"artifacts, skops format, pip requirements given): {ml['models']:,} models timed, "
            f"the time per model extrapolated; its fits took {fit_ms:.2f} ms a model, so "
            f"MLflow adds {added_ms:,.1f} ms a model."
        )
    ray = ran.get("ray_1") or ran.get("ray_2")
    if ray and "ray_init_seconds" in ray.detail:
        run.notes.append(f"Ray started in {ray.detail['ray_init_seconds']:.1f} s (not timed); "
                         "one warm-up train on a few keys before the timed ones.")  # fmt: skip
    if profile := run.data.get("profile"):
        h.profile_table(run, f"fleet.train(workers=1) under cProfile, {run.args.tiny_keys:,} tiny "
                        "models: ms per model (profiling slows every call down; compare rows, "
                        "not totals)", profile, run.args.tiny_keys, "model")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return bench.run(bench.parse(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
