"""Monitoring benchmark: one fleet.monitor pass over a day of logs, against Evidently per model.

    .venv/bin/python benchmarks/bench_monitoring.py           # full: ~3 min (+2.5 min build once)
    .venv/bin/python benchmarks/bench_monitoring.py --quick   # 1,000 models: seconds

Builds (once per size) a fleet with baselines and a day of logged predictions and feedback,
drift injected into 1 % of the models (``_monitoring_world.py``); times ONE
``fleet.monitor("1d")`` pass in a process of its own (``_monitoring_pass.py``; targets:
under 60 s on 2 cores, peak RSS under 4 GB) and reads back what it flagged; then runs
Evidently per model on a sample of the same models in its own venv
(``_monitoring_evidently.py``, ``evidently_side.py``), scaled to the fleet as
median x models / cores (generous to Evidently). Details: benchmarks/README.md.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import _envs
import _harness as h
from _harness import secs
from _monitoring_world import FLEET, World, build, load, pass_store, warm, world_dir

TARGET_SECONDS = 60.0  # one pass over the fleet's day, at most (2 cores)
TARGET_PEAK_MB = 4096.0  # the pass's peak resident memory, under (4 GB)
STAGES = {
    "find": "find: list the day's files, read which versions answered",
    "baselines": "baselines: load the versions' profiles from the store",
    "query": "query: the DuckDB pass (quality join + binned drift counts)",
    "statistics": "statistics: KS, chi2, PSI, Benjamini-Hochberg, result rows",
    "store": "store: replace the window's results in one transaction",
    "alerts": "alerts: check the fleet's rules",
}

bench = h.Bench(
    "monitoring", __doc__,
    sizes={
        "models": (100_000, 1000, "models in the fleet"),
        "predictions": (10_000_000, 20_000, "logged predictions"),
        "files": (16, 2, "Parquet files of predictions"),
        "evidently_sample": (50, 4, "models Evidently runs on"),
    },
    repeat=(1, 1, "passes, each on a fresh copy of the store; the fastest is kept"),
    packages=("duckdb", "pyarrow", "numpy", "scipy", "pandas"),
)  # fmt: skip
p = bench.parser
p.add_argument("--seed", type=int, default=0, help="the world's seed (default: 0)")
p.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: Shoal's)")
p.add_argument("--memory-limit", default=None, help="DuckDB memory_limit (default: Shoal's, 2GB)")
p.add_argument("--skip-evidently", action="store_true", help="skip the Evidently side")
p.add_argument(
    "--evidently-drift",
    choices=("preset", "metrics"),
    default="preset",
    help="DataDriftPreset as users run it (default) or its metrics alone (faster)",
)
p.add_argument("--evidently-timeout", type=float, default=3600, help="seconds (default: 3600)")
p.add_argument("--rebuild", action="store_true", help="build the fleet and logs again")  # fmt: skip


def measure(run: h.Run) -> None:
    args = run.args
    if min(args.models, args.predictions, args.files) < 1 or args.evidently_sample < 0:
        raise ValueError("sizes must be positive")
    args.files = min(args.files, args.predictions)
    world = get_world(run)
    shoal_pass(run, world)
    if not args.skip_evidently and args.evidently_sample > 0:
        evidently_part(run, world)


def get_world(run: h.Run) -> World:
    args = run.args
    folder = world_dir(run.workdir, args.models, args.predictions)
    sizes = (args.models, args.predictions, args.files, args.seed)
    world = None if args.rebuild else load(folder, *sizes)
    reused = world is not None
    if world is None:
        h.console.print(f"building {args.models:,} models, {args.predictions:,} predictions")
        with h.progress() as progress:
            world = build(folder, *sizes, progress=progress)
    run.data["world"] = {
        "root": str(folder), "reused": reused, "models": world.models,
        "predictions": world.predictions, "files": world.files, "seed": world.seed,
        "day": world.day, "injected": len(world.drifted), "seconds": world.seconds,
        "bytes": world.bytes,
    }  # fmt: skip
    return world


def shoal_pass(run: h.Run, world: World) -> None:
    """``--repeat`` passes, each in its own process on a fresh copy of the store."""
    args = run.args
    db = run.workdir / "pass" / "shoal.db"
    runs = []
    for i in range(args.repeat):
        db = pass_store(world, run.workdir / "pass")
        with h.console.status("reading the logs and the store once (page cache)"):
            warm([*world.prediction_files(), *world.feedback_files(), db])
        found = one_pass(run, world, db, f"pass {i + 1} of {args.repeat}")
        if found is None:
            return
        runs.append(found["seconds"])
        if "shoal" not in run.data or found["seconds"] < run.data["shoal"]["seconds"]:
            run.data["shoal"] = found
    run.data["shoal"]["runs"] = runs
    run.data["found"] = detection(world, db)


def one_pass(run: h.Run, world: World, db: Path, what: str) -> dict[str, Any] | None:
    args = run.args
    cmd = [sys.executable, str(h.HERE / "_monitoring_pass.py"), "--db", str(db),
           "--artifacts", str(world.artifacts), "--logs", str(world.logs), "--fleet", FLEET,
           "--since", repr(world.since), "--until", repr(world.until)]  # fmt: skip
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--memory-limit", args.memory_limit] if args.memory_limit else []
    tail: deque[str] = deque(maxlen=20)
    started = time.perf_counter()
    with h.console.status(f"fleet.monitor, {what}: starting") as status, h.CpuWatch() as watch:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stderr is not None and child.stdout is not None
        for line in child.stderr:
            if line.startswith("STAGE "):
                status.update(f"fleet.monitor, {what}: {line[6:].strip()}")
            else:
                tail.append(line.rstrip())
        out = child.stdout.read()
        code = child.wait()
    if code != 0:
        run.data["shoal_error"] = run.error(
            f"the pass exited {code}: " + " | ".join(list(tail)[-5:])
        )
        return None
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    found.update(process_seconds=time.perf_counter() - started, others_cpus=watch.others_cpus)
    return found


def flagged_versions(db: Path, window_start: float) -> dict[int, tuple[int, int, bool]]:
    """Per version: (drifted features, tested features, f0 flagged) in the window."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT version_id, drifted_features, tested_features FROM "
            "monitor_results WHERE window_start = ?",
            (window_start,),
        ).fetchall()
        f0 = {v for (v,) in conn.execute("SELECT version_id FROM monitor_features WHERE "
              "window_start = ? AND feature = 'f0' AND drifted", (window_start,))}  # fmt: skip
    return {v: (d or 0, t or 0, v in f0) for v, d, t in rows}


def detection(world: World, db: Path) -> dict[str, Any]:
    """Recall of the injected drift and the flags on the other models, from the store."""
    ids = world.version_ids()
    flags = flagged_versions(db, world.since)
    injected = {int(ids[i]) for i in world.drifted}
    others = [v for v in flags if v not in injected]
    none = (0, 0, False)
    return {
        "injected": len(injected),
        "injected_found": sum(1 for v in injected if flags.get(v, none)[0] > 0),
        "injected_f0": sum(1 for v in injected if flags.get(v, none)[2]),
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
            found = conn.execute("SELECT mae, rmse, mape FROM monitor_results WHERE "
                                 "version_id = ? AND window_start = ?", (vid, window_start)
                                 ).fetchone()  # fmt: skip
            pairs = zip(found or (), (e["mae"], e["rmse"], e["mape_percent"]), strict=False)
            for k, (ours, theirs) in enumerate(pairs):
                if ours is not None and theirs:
                    diff = abs(ours * (100 if k == 2 else 1) - theirs) / abs(theirs)
                    worst = diff if worst is None else max(worst, diff)
    return worst


def evidently_part(run: h.Run, world: World) -> None:
    from _monitoring_evidently import choose, name_of, prepare, run_evidently

    args = run.args
    sample = choose(world, args.evidently_sample, args.seed)
    folder = run.workdir / "evidently-sample"
    with h.console.status(f"Evidently: reading {len(sample)} models' windows from the logs"):
        rows = prepare(world, sample, folder)
    try:
        found = run_evidently(folder, args.evidently_timeout, args.evidently_drift)
    except _envs.Unavailable as exc:
        run.data["evidently_error"] = f"Evidently unavailable: {exc}"
        return
    except _envs.ScriptFailed as exc:
        run.data["evidently_error"] = run.error("Evidently side", exc)
        return
    found["fleet_seconds"] = (
        found["seconds_per_model"]["median"] * args.models / (run.machine["cores"] or 1)
    )
    found["current_rows_median"] = statistics.median(rows.values())
    drifted = {name_of(i) for i in world.drifted}
    per = {m["name"]: m for m in found["per_model"]}
    injected = [n for n in per if n in drifted]
    clean = [n for n in per if n not in drifted]
    verdicts = {
        "injected": len(injected), "clean": len(clean),
        "injected_any": sum(bool(per[n]["drifted_features"]) for n in injected),
        "clean_any": sum(bool(per[n]["drifted_features"]) for n in clean),
        "dataset_drift": sum(bool(m["dataset_drift"]) for m in per.values()),
    }  # fmt: skip
    if "shoal" in run.data:
        ids = world.version_ids()
        db = run.workdir / "pass" / "shoal.db"
        flags = flagged_versions(db, world.since)
        by_name = {name_of(i): int(ids[i]) for i in sample}
        shoal_any = {n: flags.get(by_name[n], (0, 0, False))[0] > 0 for n in per}
        verdicts["shoal_injected_any"] = sum(shoal_any[n] for n in injected)
        verdicts["shoal_clean_any"] = sum(shoal_any[n] for n in clean)
        verdicts["quality_max_rel_diff"] = quality_difference(
            db, world.since, {by_name[n]: per[n] for n in per}
        )
    found["verdicts"] = verdicts
    run.data["evidently"] = found


# -- the report ----------------------------------------------------------------------------------


def _share(part: int, whole: int) -> str:
    return f"{part:,}/{whole:,} ({part / whole:.1%})" if whole else f"{part:,}/0"


def _stage_peak(shoal: dict[str, Any]) -> dict[str, float]:
    """The highest RSS sampled per stage (see _monitoring_pass). The pass reports progress
    at four points, so stages share a segment: the end of find (its DISTINCT over the
    logs) with baselines, and query with statistics."""
    segments = {  # stage: the progress lines (by how they begin) its segments start at
        "find": ("start", "prediction and"), "baselines": ("prediction and",),
        "query": ("versions answered",), "statistics": ("versions answered",),
        "store": ("storing",), "alerts": ("checking alert",),
    }  # fmt: skip
    out = {}
    for stage, starts in segments.items():
        seen = [
            mb
            for text, mb in shoal.get("stage_peak_rss_mb", {}).items()
            if any(text.startswith(x) or (x != "start" and x in text) for x in starts)
        ]
        if seen:
            out[stage] = max(seen)
    return out


def report(run: h.Run) -> None:
    args, d, cores = run.args, run.data, run.machine["cores"]
    table = run.table("Monitoring: one fleet.monitor pass against Evidently per model",
                      ("part", "what", "seconds", "peak RSS MB", "figures", "target", "met"),
                      "llrrlrc", c0=22, c1=60, c4=60)  # fmt: skip
    part = "Shoal: fleet.monitor('1d'), SQLite store"
    if s := d.get("shoal"):
        o = s["outcome"]
        table.add(part, f"one pass: {o['predictions']:,} predictions of {o['versions']:,} "
                  f"versions, DuckDB threads={s['threads']}", secs(s["seconds"]),
                  h.num(s["peak_rss_mb"], 0), f"{o['labelled']:,} labelled, {o['tests']:,} "
                  f"tests, {o['flagged']:,} flagged; CPU {s['cpu_seconds']:,.1f} s "
                  f"({s['cpu_seconds'] / s['seconds']:.2f} cores)", f"< {TARGET_SECONDS:g} s",
                  s["seconds"] < TARGET_SECONDS)  # fmt: skip
        table.add("", "peak resident memory of the pass's process (getrusage ru_maxrss)", None,
                  h.num(s["peak_rss_mb"], 0), f"{h.num(s['rss_before_mb'], 0)} MB before the "
                  "pass (Python, Shoal, the store open)", "< 4 GB",
                  s["peak_rss_mb"] < TARGET_PEAK_MB)  # fmt: skip
        peaks = _stage_peak(s)
        for stage, label in STAGES.items():
            if stage in o["timings"]:
                seconds = o["timings"][stage]
                table.add("", f"  {label}", secs(seconds), h.num(peaks.get(stage), 0),
                          f"{seconds / s['seconds']:.0%} of the pass", None, None)  # fmt: skip
        rest = {"  first use: import shoal.monitor (DuckDB, SciPy stats)": s["seconds"] - o[
            "seconds"], "  the run record (open, finish), the span": o["seconds"] - sum(
            o["timings"].values())}  # fmt: skip
        for label, seconds in rest.items():
            table.add("", label, secs(seconds), None, f"{seconds / s['seconds']:.0%} of the pass",
                      None, None)  # fmt: skip
    elif d.get("shoal_error"):
        table.add(part, "one pass", None, None, f"failed: {d['shoal_error']}", None, None)
    if f := d.get("found"):
        table.add("drift found (f0 of 1 % of the models shifted by 2 sd)", "Shoal: injected "
                  "models flagged (any feature, BH q <= 0.05 and PSI >= 0.1)", None, None,
                  f"{_share(f['injected_found'], f['injected'])} (recall); f0 flagged on "
                  f"{f['injected_f0']:,}", None, None, section=True)  # fmt: skip
        table.add("", "Shoal: other models flagged (false flags)", None, None,
                  f"{_share(f['others_flagged'], f['others'])} models; "
                  f"{f['other_feature_flags']:,} feature flags of {f['other_tests']:,} tests",
                  None, None)  # fmt: skip
    part = "Evidently, per model (sample)"
    if e := d.get("evidently"):
        per, v = e["seconds_per_model"], e["verdicts"]
        table.add(part, f"Evidently {e['versions']['evidently']} {e['drift_mode']}: DataDrift + "
                  f"MAE/RMSE/MAPE, {e['models']} models of ~{e['current_rows_median']:,.0f} "
                  "logged rows, median", secs(per["median"]), h.num(e.get("peak_rss_mb"), 0),
                  f"mean {per['mean']:.3f}, min {per['min']:.3f}, max {per['max']:.3f} s a "
                  f"model (import {e['import_seconds']:.1f} s and warm-up left out)", None, None,
                  section=True)  # fmt: skip
        ratio = e["fleet_seconds"] / s["seconds"] if s else None
        table.add("", f"scaled to the fleet: median x {args.models:,} models / {cores} cores "
                  f"(assumes perfect parallelism over the {cores} cores: generous to Evidently)",
                  h.num(e["fleet_seconds"], 0), None,
                  f"{ratio:,.0f}x Shoal's pass" if ratio else None, None, None)  # fmt: skip
        table.add("", "Evidently's verdicts on its sample (per-feature KS at 0.05, no "
                  "fleet-wide correction)", None, None, f"injected with a drifted feature "
                  f"{_share(v['injected_any'], v['injected'])}; clean with one "
                  f"{_share(v['clean_any'], v['clean'])}; dataset drift (>= half the features) "
                  f"{v['dataset_drift']:,}", None, None)  # fmt: skip
        if "shoal_injected_any" in v:
            rel = v.get("quality_max_rel_diff")
            table.add("", "Shoal's verdicts on the same sample", None, None,
                      f"injected flagged {_share(v['shoal_injected_any'], v['injected'])}; "
                      f"clean flagged {_share(v['shoal_clean_any'], v['clean'])}; MAE, RMSE, "
                      f"MAPE within {'-' if rel is None else f'{rel:.1e} (relative)'} of "
                      "Evidently's", None, None)  # fmt: skip
    elif d.get("evidently_error"):
        table.add(part, "Evidently", None, None, f"not measured: {d['evidently_error']}", None,
                  None, section=True)  # fmt: skip
    notes(run)


def notes(run: h.Run) -> None:
    d, add = run.data, run.notes.append
    if w := d.get("world"):
        built = (f"reused from {w['root']}" if w.get("reused") else f"built in "
                 f"{w['seconds'].get('register', 0):.0f} s (register) + "
                 f"{w['seconds'].get('logs', 0):.0f} s (logs)")  # fmt: skip
        b = w.get("bytes", {})
        add(
            f"The fleet: {w['models']:,} models (store, sku), 10 numeric features, a 200-row "
            f"training slice each profiled as its baseline; {w['predictions']:,} predictions "
            f"over one day in {w['files']} Parquet files ({b.get('predictions', 0) / 2**20:,.0f}"
            f" MiB) and feedback for each ({b.get('feedback', 0) / 2**20:,.0f} MiB); store "
            f"{b.get('store', 0) / 2**20:,.0f} MiB; {built}. One alert rule "
            "(drifted_features >= 1). The pass ran in its own process on a fresh copy of the "
            "store, the logs read once beforehand (warm page cache)."
        )
    if s := d.get("shoal"):
        runs = ", ".join(f"{x:.2f}" for x in s.get("runs", []))
        add(
            f"Pass: {s['seconds']:.2f} s inside fleet.monitor (runs: {runs}), "
            f"{s['process_seconds']:.1f} s for the whole process (interpreter and imports "
            f"too); others' CPUs during it {h.num(s.get('others_cpus'), 2)}; alerts opened "
            f"{s['outcome']['alerts_opened']:,}; DuckDB {s['duckdb']}, memory_limit "
            f"{s['memory_limit'] or '2GB (the default)'}."
        )
        if (s.get("others_cpus") or 0) > 0.25:
            add(
                f"[!] Other processes kept {s['others_cpus']:.2f} of the "
                f"{run.machine['cores']} CPUs busy during the pass: its time is inflated; run "
                "again on a quiet machine."
            )
    if e := d.get("evidently"):
        versions = ", ".join(f"{k} {x}" for k, x in e["versions"].items())
        add(
            f"Evidently in its own venv ({versions}): {e['api']}. Per model from building its "
            "Datasets to the figures read back; reading its Parquet files, importing Evidently "
            f"({e['import_seconds']:.1f} s) and {e['warmup_models']} warm-up model(s) not "
            "counted. The fleet figure is per_model_median x models / cores: it assumes "
            "perfect parallelism over the cores (no process start, no reading the logs, no "
            "split by model), generous to Evidently."
        )


def main(argv: list[str] | None = None) -> int:
    return bench.run(bench.parse(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
