"""Monitoring benchmark: one fleet.monitor pass over a day of logs, against Evidently per model.

    .venv/bin/python benchmarks/bench_monitoring.py           # full: ~3 min (+2.5 min build once)
    .venv/bin/python benchmarks/bench_monitoring.py --quick   # 2,000 models: under a minute

What it does:

1. Builds (once per size, then reuses: ``benchmarks/.work/monitoring/<models>x<predictions>``)
   a fleet of ``--models`` (100,000) models keyed (store, sku), each with 10 numeric
   features, registered through ``fleet.register`` in batches of 5,000 with a tiny
   ``LinearModel``, its training MAPE and the baseline profile (``shoal.data.profile``)
   of its own 200-row training slice; then ``--predictions`` (10,000,000) logged
   predictions over one day in ``--files`` (16) Parquet files in the server's layout, and
   feedback for every one of them (by request id and row), written from numpy arrays with
   pyarrow. ``f0`` of a seeded 1 % of the models is shifted by two standard deviations
   in the logs. One alert rule, ``drifted_features >= 1``. See ``_monitoring_world.py``.
2. Times ONE ``fleet.monitor("1d", since=day, until=day + 1d, logs=...)`` on a SQLite
   store, in a process of its own (``_monitoring_pass.py``) on a fresh copy of the built
   store with the logs in the page cache, so the build allocates nothing the pass is
   measured with: its seconds, the outcome's stage timings, and its peak resident
   memory (``getrusage`` ``ru_maxrss``). Targets: under 60 s on 2 cores, peak under 4 GB.
   Then reads the stored results back to count how many of the injected models were
   flagged (recall) and how many others were (false flags).
3. Evidently (0.7, its own venv ``benchmarks/.envs/evidently``, made on first use; see
   ``_evidently_side.py``) on ``--evidently-sample`` (50) of the same models: reference =
   the model's training slice, current = its logged window (features, prediction,
   actual); a DataDriftPreset report and a MAE/RMSE/MAPE report per model. Its median
   seconds a model is scaled to the fleet as ``per_model_median * models / cores``: this
   assumes perfect parallelism over the machine's cores (2 here), which is generous to
   Evidently. When its venv cannot be made, the row says why.

Results: a table, ``benchmarks/.work/monitoring/results.json`` and, with ``--markdown``,
the table as Markdown. Ctrl-C prints what was measured so far.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import _offline  # noqa: F401  (telemetry off before Shoal, DuckDB or Evidently load)
from _machine import CpuWatch, loadavg, machine_info, package_versions, shoal_commit
from _monitoring_report import MonitoringResults, print_report, save
from _monitoring_world import FLEET, World, build, load, pass_store, warm, world_dir
from _report import console

HERE = Path(__file__).resolve().parent
PASS_SCRIPT = HERE / "_monitoring_pass.py"
PACKAGES = ("duckdb", "pyarrow", "numpy", "scipy", "pandas")
FULL = {"models": 100_000, "predictions": 10_000_000, "evidently_sample": 50, "files": 16}
QUICK = {"models": 2000, "predictions": 200_000, "evidently_sample": 10, "files": 4}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, help="models in the fleet (default: 100000)")
    p.add_argument("--predictions", type=int, help="logged predictions (default: 10000000)")
    p.add_argument("--files", type=int, help="Parquet files of predictions (default: 16)")
    p.add_argument("--evidently-sample", type=int, help="models Evidently runs on (default: 50)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="everything small: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()),
    )
    p.add_argument("--seed", type=int, default=0, help="the world's seed (default: 0)")
    p.add_argument(
        "--threads", type=int, default=None, help="DuckDB threads (default: Shoal's, the CPUs)"
    )
    p.add_argument(
        "--memory-limit", default=None, help="DuckDB memory_limit (default: Shoal's, 2GB)"
    )
    p.add_argument("--skip-evidently", action="store_true", help="skip the Evidently side")
    p.add_argument(
        "--evidently-drift",
        choices=("preset", "metrics"),
        default="preset",
        help="DataDriftPreset as users run it (default) or its metrics alone (faster)",
    )
    p.add_argument("--evidently-timeout", type=float, default=3600, help="seconds (default: 3600)")
    p.add_argument("--rebuild", action="store_true", help="build the fleet and logs again")
    p.add_argument(
        "--workdir",
        type=Path,
        default=HERE / ".work" / "monitoring",
        help="where the worlds and results go (default: benchmarks/.work/monitoring)",
    )
    p.add_argument(
        "--markdown", type=Path, default=None, help="also write the table as Markdown here"
    )
    args = p.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.models, args.predictions, args.files) < 1 or args.evidently_sample < 0:
        p.error("sizes must be positive")
    args.files = min(args.files, args.predictions)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["SHOAL_USER"] = "bench"
    machine = machine_info()
    machine["packages"] = package_versions(*PACKAGES)
    results = MonitoringResults(
        started=time.strftime("%Y-%m-%d %H:%M %Z"),
        args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        machine=machine,
    )
    began = time.perf_counter()
    try:
        world = get_world(args, workdir, results)
        shoal_pass(args, world, workdir, results)
        if not args.skip_evidently and args.evidently_sample > 0:
            evidently_part(args, world, workdir, results)
    except KeyboardInterrupt:
        results.interrupted = True
    finally:
        results.wall_seconds = time.perf_counter() - began
        results.machine["loadavg_end"] = loadavg()
        end_commit = shoal_commit()
        if end_commit != results.machine["shoal_commit"]:
            results.machine["shoal_commit_end"] = end_commit
        path = save(results, workdir, args.markdown)
        print_report(results)
        console.print(f"[dim]results: {path}" + (f", {args.markdown}" if args.markdown else "")
                      + "[/]")  # fmt: skip
    return 130 if results.interrupted else 0


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)  # fmt: skip


def get_world(args: argparse.Namespace, workdir: Path, results: MonitoringResults) -> World:
    folder = world_dir(workdir, args.models, args.predictions)
    sizes = (args.models, args.predictions, args.files, args.seed)
    world = None if args.rebuild else load(folder, *sizes)
    reused = world is not None
    if world is None:
        console.print(f"building {args.models:,} models and {args.predictions:,} predictions "
                      f"in {folder}")  # fmt: skip
        with _progress() as progress:
            world = build(folder, *sizes, progress=progress)
    results.world = {
        "root": str(folder), "reused": reused, "models": world.models,
        "predictions": world.predictions, "files": world.files, "seed": world.seed,
        "day": world.day, "injected": len(world.drifted), "seconds": world.seconds,
        "bytes": world.bytes,
    }  # fmt: skip
    return world


def shoal_pass(
    args: argparse.Namespace, world: World, workdir: Path, results: MonitoringResults
) -> None:
    db = pass_store(world, workdir / "pass")
    with console.status("reading the logs and the store once (page cache)"):
        warm([*world.prediction_files(), *world.feedback_files(), db])
    cmd = [
        sys.executable, str(PASS_SCRIPT), "--db", str(db), "--artifacts", str(world.artifacts),
        "--logs", str(world.logs), "--fleet", FLEET, "--since", repr(world.since),
        "--until", repr(world.until),
    ]  # fmt: skip
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    tail: deque[str] = deque(maxlen=20)
    started = time.perf_counter()
    with console.status("fleet.monitor: starting") as status, CpuWatch() as watch:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stderr is not None and child.stdout is not None
        for line in child.stderr:
            if line.startswith("STAGE "):
                status.update(f"fleet.monitor: {line[6:].strip()}")
            else:
                tail.append(line.rstrip())
        out = child.stdout.read()
        code = child.wait()
    process_seconds = time.perf_counter() - started
    if code != 0:
        results.shoal_error = f"exit {code}: " + " | ".join(list(tail)[-5:])
        console.print(f"[red]the pass failed: {results.shoal_error}[/]")
        return
    found = json.loads(out.strip().splitlines()[-1])
    found["process_seconds"] = process_seconds
    found["others_cpus"] = watch.others_cpus
    results.shoal = found
    results.found = detection(world, db)


def flagged_versions(db: Path, window_start: float) -> dict[int, tuple[int, int, bool]]:
    """Per version: (drifted features, tested features, f0 flagged) in the window."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT version_id, drifted_features, tested_features FROM monitor_results "
            "WHERE window_start = ?",
            (window_start,),
        ).fetchall()
        f0 = {
            v
            for (v,) in conn.execute(
                "SELECT version_id FROM monitor_features WHERE window_start = ? "
                "AND feature = 'f0' AND drifted",
                (window_start,),
            )
        }
    return {v: (d or 0, t or 0, v in f0) for v, d, t in rows}


def detection(world: World, db: Path) -> dict[str, Any]:
    """Recall of the injected drift and the flags on the other models, from the store."""
    ids = world.version_ids()
    flags = flagged_versions(db, world.since)
    injected = {int(ids[i]) for i in world.drifted}
    others = [v for v in flags if v not in injected]
    return {
        "injected": len(injected),
        "injected_found": sum(1 for v in injected if flags.get(v, (0, 0, False))[0] > 0),
        "injected_f0": sum(1 for v in injected if flags.get(v, (0, 0, False))[2]),
        "injected_missing_results": sum(1 for v in injected if v not in flags),
        "others": len(others),
        "others_flagged": sum(1 for v in others if flags[v][0] > 0),
        "other_feature_flags": sum(flags[v][0] for v in others),
        "other_tests": sum(flags[v][1] for v in others),
    }


def quality_difference(db: Path, window_start: float, evidently: dict[int, Any]) -> float | None:
    """The largest relative difference between Shoal's stored MAE, RMSE and MAPE and
    Evidently's for the same models (Evidently's MAPE is a percentage)."""
    worst = None
    with sqlite3.connect(db) as conn:
        for vid, e in evidently.items():
            found = conn.execute(
                "SELECT mae, rmse, mape FROM monitor_results WHERE version_id = ? "
                "AND window_start = ?",
                (vid, window_start),
            ).fetchone()
            pairs = zip(found or (), (e["mae"], e["rmse"], e["mape_percent"]), strict=False)
            for k, (ours, theirs) in enumerate(pairs):
                if ours is None or not theirs:
                    continue
                diff = abs(ours * (100 if k == 2 else 1) - theirs) / abs(theirs)
                worst = diff if worst is None else max(worst, diff)
    return worst


def evidently_part(
    args: argparse.Namespace, world: World, workdir: Path, results: MonitoringResults
) -> None:
    import _evidently_side as side
    from _monitoring_evidently import choose, name_of, prepare

    with console.status("Evidently's venv (made on first use: minutes)"):
        python = side.evidently_python(create=True)
    if python is None:
        results.evidently_error = side.LAST_ERROR or "no venv"
        console.print(f"[yellow]Evidently unavailable: {results.evidently_error}[/]")
        return
    sample = choose(world, args.evidently_sample, args.seed)
    folder = workdir / "evidently-sample"
    with console.status(f"Evidently: reading {len(sample)} models' windows from the logs"):
        rows = prepare(world, sample, folder)
    with console.status(f"Evidently: {len(sample)} models, one at a time"):
        try:
            found = side.run_evidently(folder, args.evidently_timeout, python=python,
                                       drift=args.evidently_drift)  # fmt: skip
        except side.EvidentlyError as exc:
            results.evidently_error = str(exc)
            console.print(f"[yellow]Evidently failed: {exc}[/]")
            return
    cores = results.machine["cores"] or 1
    found["fleet_seconds"] = found["seconds_per_model"]["median"] * args.models / cores
    found["current_rows_median"] = statistics.median(rows.values())
    drifted = {name_of(i) for i in world.drifted}
    per = {m["name"]: m for m in found["per_model"]}
    injected = [n for n in per if n in drifted]
    clean = [n for n in per if n not in drifted]
    verdicts = {
        "injected": len(injected),
        "clean": len(clean),
        "injected_any": sum(bool(per[n]["drifted_features"]) for n in injected),
        "clean_any": sum(bool(per[n]["drifted_features"]) for n in clean),
        "dataset_drift": sum(bool(m["dataset_drift"]) for m in per.values()),
    }
    if results.shoal:
        ids = world.version_ids()
        flags = flagged_versions(workdir / "pass" / "shoal.db", world.since)
        by_name = {name_of(i): int(ids[i]) for i in sample}
        shoal_any = {n: flags.get(by_name[n], (0, 0, False))[0] > 0 for n in per}
        verdicts["shoal_injected_any"] = sum(shoal_any[n] for n in injected)
        verdicts["shoal_clean_any"] = sum(shoal_any[n] for n in clean)
        verdicts["quality_max_rel_diff"] = quality_difference(
            workdir / "pass" / "shoal.db", world.since, {by_name[n]: per[n] for n in per}
        )
    found["verdicts"] = verdicts
    results.evidently = found


if __name__ == "__main__":
    sys.exit(main())
