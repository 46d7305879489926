"""Report benchmark: fleet.report over 100,000 and 1,000,000 models, Evidently per model beside it.

    .venv/bin/python benchmarks/bench_reports.py           # 100k and 1M (seeding ~10 min once)
    .venv/bin/python benchmarks/bench_reports.py --quick   # 2,000 models: well under a minute

Seeds per size (once; reused while ``seed.json`` matches, see ``_reports_world.py``) the
registry benchmark's fleet with ``production`` on every model, a week of daily monitoring
results stored through ``registry.monitoring.store_windows`` and alerts applied through
``registry.alerts.apply``. On a copy of that store it times, each in a process of its own
(``_reports_pass.py``: time, peak RSS, where the time goes): the report written as HTML
(``record=False``), the first recorded report, the report with its tables as Parquet beside
it, and, after 1 % of the models got a new version and ``production`` moved to it, the
second recorded report (what changed since the first). Then the pages' load event in
chromium (playwright). Beside it, Evidently per model on a sample (``_reports_evidently.py``
in its own venv): its drift and quality reports run and written as HTML, scaled to the
fleet. Targets: 1M under 60 s, 100k under 10 s, every page under 5 MB and loaded under
2 s. Details: benchmarks/README.md.
"""

from __future__ import annotations

import json
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _envs
import _harness as h
from _harness import secs
from _reports_world import load_or_seed, working_copy

TARGET_SECONDS = {1_000_000: 60.0, 100_000: 10.0}
"""Report seconds at most, by fleet size (a size between takes the next larger one's)."""
TARGET_HTML_BYTES = 5_000_000
CHANGED = 0.01
"""The share of the models that get a new version, and production moved to it, between
the two recorded reports."""
TARGET_LOAD_SECONDS = 2.0
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"]  # fmt: skip
PAGES = {  # name: (what, fleet.report options)
    "page": ("report: read, compute, render and write the page (record=False)", {}),
    "recorded": ("report recorded (record=True): the fleet's first", {"record": True}),
    "tables": ("report with tables='parquet': every table whole beside the page",
               {"tables": "parquet"}),
    "diff": ("second recorded report, after 1 % changed: the diff path", {"record": True}),
}  # fmt: skip
STAGES = {  # the report's stages, as _reports_pass.py times them, and what each is
    "collect": "collect: the snapshot's reads into Arrow",
    "frame": "frame: the per-model table in DuckDB",
    "summary": "summary", "quality": "quality", "drift": "drift", "alerts": "alerts",
    "gaps": "gaps", "runs": "runs", "changes": "changes",
    "model_table": "model_table: the per-model table for export",
    "recorded": "recorded: the figures the next report diffs", "record": "record: insert it",
    "render": "render: the page (Jinja2, SVG)", "write": "write: the files",
}  # fmt: skip

bench = h.Bench(
    "reports", __doc__,
    sizes={
        "sizes": ("100000,1000000", "2000", "fleet sizes, comma-separated"),
        "windows": (7, 3, "daily monitoring windows seeded (the report's period is 7 days)"),
        "batch_size": (100_000, 100_000, "versions per fleet.register call while seeding"),
        "loads": (3, 1, "chromium loads of each page (the median is kept)"),
        "evidently_sample": (20, 1, "models Evidently reports on (after one untimed)"),
    },
    repeat=(1, 1, "runs of the first report (record=False), the fastest kept"),
    packages=("duckdb", "pyarrow", "jinja2", "playwright", "psutil"),
)  # fmt: skip
p = bench.parser
p.add_argument("--since", default="7d", help="the report's period (default: 7d)")
p.add_argument(
    "--profile",
    action="store_true",
    help="also run the first report of the largest size under cProfile (untimed)",
)
p.add_argument(
    "--one-process",
    action="store_true",
    help="every report of a size in one process (imports paid once; the default with --quick)",
)
p.add_argument("--skip-browser", action="store_true", help="skip the chromium loads")
p.add_argument("--skip-evidently", action="store_true", help="skip the Evidently side")
p.add_argument("--evidently-timeout", type=float, default=1800, help="seconds (default: 1800)")


def sizes(run: h.Run) -> list[int]:
    found = [int(s.replace("_", "")) for s in str(run.args.sizes).split(",") if s.strip()]
    if not found or min(found) < 1:
        raise ValueError("--sizes must name positive fleet sizes")
    return found


def target_for(models: int) -> float:
    return next((t for n, t in sorted(TARGET_SECONDS.items()) if models <= n), 60.0)


def measure(run: h.Run) -> None:
    args = run.args
    if min(args.windows, args.loads, args.batch_size) < 1 or args.evidently_sample < 0:
        raise ValueError("--windows, --loads and --batch-size must be positive")
    run.data["sizes"] = {}
    for models in sizes(run):
        one_size(run, models)
    if not args.skip_evidently and args.evidently_sample > 0:
        evidently_part(run)


def one_size(run: h.Run, models: int) -> None:
    args, workdir = run.args, run.workdir
    d: dict[str, Any] = {"models": models}
    run.data["sizes"][str(models)] = d
    with h.progress() as progress:
        d["seed"] = load_or_seed(workdir, models, args.windows, args.batch_size, progress,
                                 h.console.print)  # fmt: skip
    with h.console.status(f"copying the {models:,}-model store to report on"):
        t0 = time.perf_counter()
        root = working_copy(workdir, models)
        d["copy_seconds"] = time.perf_counter() - t0
    out = h.fresh(workdir / f"out-{models}")
    d["reports"] = {}
    jobs: list[dict[str, Any]] = [
        {"name": "page", "out": str(out / "page.html")} for _ in range(args.repeat)
    ]
    for name in ("recorded", "tables"):
        jobs.append({"name": name, "out": str(out / f"{name}.html"), **PAGES[name][1]})
    jobs.append({"name": "change", "change": CHANGED})
    jobs.append({"name": "diff", "out": str(out / "diff.html"), **PAGES["diff"][1]})
    one_process = args.one_process or args.quick
    try:
        for group in [jobs] if one_process else [[job] for job in jobs]:
            names = ", ".join(job["name"] for job in group)
            with run.step(f"{models:,} models: {names}"):
                for found in run_jobs(root, group, args.since, f"{models:,} models: {names}"):
                    name = found.pop("job")
                    if name == "change":
                        d["changed"] = found["changed"]
                        continue
                    best = d["reports"].get(name)
                    runs = [*(best or {}).get("runs", []), found["seconds"]]
                    if best is None or found["seconds"] < best["seconds"]:
                        d["reports"][name] = found
                    d["reports"][name]["runs"] = runs
        if args.profile and models == max(sizes(run)):
            with run.step(f"{models:,}: profile"):
                d["profile"] = profile(run, root, out, models)
        if not args.skip_browser:
            with run.step(f"{models:,}: chromium"):
                d["browser"] = browser_loads(
                    {n: out / f"{n}.html" for n in ("recorded", "diff")
                     if (out / f"{n}.html").exists()}, args.loads)  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run_jobs(root: Path, jobs: list[dict[str, Any]], since: str, what: str) -> list[dict[str, Any]]:
    """``_reports_pass.py`` on ``jobs`` in a process of its own: a JSON result a job."""
    cmd = [sys.executable, str(h.HERE / "_reports_pass.py"), "--root", str(root), "--since",
           since, "--jobs", json.dumps(jobs)]  # fmt: skip
    started = time.perf_counter()
    with h.console.status(f"fleet.report: {what}"), h.CpuWatch() as watch:
        child = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        tail = child.stderr.strip().splitlines()[-6:]
        raise RuntimeError(f"_reports_pass.py exited {child.returncode}: " + " | ".join(tail))
    found = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
    for result in found:
        result.update(process_seconds=time.perf_counter() - started, processes=len(jobs),
                      others_cpus=watch.others_cpus)  # fmt: skip
    return found


def profile(run: h.Run, root: Path, out: Path, models: int) -> dict[str, Any]:
    """The first report once more under cProfile (untimed): the top functions."""
    prof = run.workdir / f"report-{models}.prof"
    job = {"name": "profile", "out": str(out / "profiled.html"), "profile": str(prof)}
    (found,) = run_jobs(root, [job], run.args.since, f"{models:,} models under cProfile")
    stats = pstats.Stats(str(prof))
    rows = h.top_functions(stats, 1, lambda file, _name: "/shoal/" in file, own=20,
                           cumulative=30)  # fmt: skip
    return {"seconds": found["seconds"], "stats": str(prof), "rows": rows}


# -- chromium ----------------------------------------------------------------------------------


def browser_loads(pages: dict[str, Path], loads: int) -> dict[str, Any]:
    """Each page opened ``loads`` times in chromium (playwright, a fresh profile folder):
    ``page.goto(file_url, wait_until="load")`` timed, the browser's own ``loadEventEnd``,
    and every request the page made beyond its own file (a self-contained page makes none)."""
    if not CHROMIUM.exists():
        return {"error": f"unavailable: no chromium at {CHROMIUM}"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        return {"error": f"unavailable: playwright does not import ({exc})"}
    found: dict[str, Any] = {}
    with (
        sync_playwright() as play,
        tempfile.TemporaryDirectory(prefix="shoal-bench-chromium-") as profile_dir,
    ):
        context = play.chromium.launch_persistent_context(
            profile_dir, executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS
        )
        try:
            for name, path in pages.items():
                found[name] = _loads(context, path, loads)
        finally:
            context.close()
    return found


def _loads(context: Any, path: Path, loads: int) -> dict[str, Any]:
    url = path.resolve().as_uri()
    runs, events, others = [], [], []
    for _ in range(loads):
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r, seen=requests: seen.append(r.url))
        started = time.perf_counter()
        page.goto(url, wait_until="load", timeout=120_000)
        runs.append(time.perf_counter() - started)
        events.append(page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return n ? n.loadEventEnd : null; }"))  # fmt: skip
        others += [u for u in requests if u != url and not u.startswith("data:")]
        page.close()
    return {"runs": runs, "median": statistics.median(runs),
            "load_event_ms": statistics.median(e for e in events if e is not None)
            if any(e is not None for e in events) else None,
            "bytes": path.stat().st_size, "other_requests": sorted(set(others))[:10]}  # fmt: skip


# -- Evidently ---------------------------------------------------------------------------------


def evidently_part(run: h.Run) -> None:
    from _reports_evidently import prepare
    from _reports_evidently import run as run_evidently

    args = run.args
    folder = run.workdir / "evidently-sample"
    with h.console.status(f"Evidently: making {args.evidently_sample} models' frames"):
        prepare(folder, args.evidently_sample)
    try:
        found = run_evidently(folder, args.evidently_timeout)
    except _envs.Unavailable as exc:
        run.data["evidently_error"] = f"Evidently unavailable: {exc}"
        return
    except _envs.ScriptFailed as exc:
        run.data["evidently_error"] = run.error("Evidently side", exc)
        return
    found.pop("per_model", None)
    run.data["evidently"] = found
    if not args.skip_browser:
        page = folder / "html" / "m000000.drift.html"
        with run.step("Evidently: chromium"):
            run.data["evidently_browser"] = browser_loads({"drift": page}, args.loads)


# -- the report --------------------------------------------------------------------------------


def _mb(size: float | None) -> str:
    return "-" if size is None else f"{size / 1e6:,.2f} MB"


def report(run: h.Run) -> None:
    cores = run.machine["cores"] or 1
    table = run.table("Fleet reports: fleet.report on SQLite against Evidently per model",
                      ("models", "what", "seconds", "peak RSS MB", "figures", "target", "met"),
                      "llrrlrc", c1=48, c4=70)  # fmt: skip
    for key, d in run.data.get("sizes", {}).items():
        size_rows(table, int(key), d)
    evidently_rows(run, table, cores)
    stage_table(run)
    if prof := next((d.get("profile") for d in run.data.get("sizes", {}).values()
                     if d.get("profile")), None):  # fmt: skip
        h.profile_table(run, f"cProfile of the first report, largest size ({prof['seconds']:.1f} "
                        f"s under the profiler; stats in {prof['stats']})", prof["rows"], 1,
                        "report")  # fmt: skip
    notes(run)


def size_rows(table: h.Table, models: int, d: dict[str, Any]) -> None:
    target = target_for(models)
    reports = d.get("reports", {})
    first = True
    for name, (what, _options) in PAGES.items():
        r = reports.get(name)
        if r is None:
            continue
        label = f"{models:,}" if first else ""
        build, total = r["build_seconds"], r["seconds"]
        if name == "tables":
            files = r["files"]
            sidecar = {k: v for k, v in files.items() if ".tables/" in k}
            model_bytes = next((v for k, v in files.items() if k.endswith("models.parquet")), None)
            page = reports.get("page")
            extra = (f"; writing them and the page {r['stages'].get('write', 0):.2f} s, the page "
                     f"alone {page['stages'].get('write', 0):.2f} s" if page else "")  # fmt: skip
            figures = (f"models.parquet {_mb(model_bytes)} ({r['tables']['models']:,} rows); all "
                       f"{len(sidecar)} tables {_mb(sum(sidecar.values()))}{extra}")  # fmt: skip
            table.add(label, what, secs(total), h.num(r["peak_rss_mb"], 0), figures, None, None,
                      section=first)  # fmt: skip
        else:
            figures = (f"build {build:.2f} s + write {total - build:.2f} s; CPU "
                       f"{r['cpu_seconds']:.1f} s; page {_mb(r['html_bytes'])}")  # fmt: skip
            if name == "recorded":
                st = r.get("stages", {})
                figures += f"; recording {st.get('recorded', 0) + st.get('record', 0):.3f} s"
            if name == "diff" and (c := r.get("changes")):
                moved = sum(m["models"] for m in c["moves"])
                figures += (f"; changes: {c['versions_registered']:,} versions registered, "
                            f"{moved:,} models moved ({c['promoted']:,} to production), "
                            f"{c['compared']:,} compared ({c['better']:,} better, "
                            f"{c['worse']:,} worse)")  # fmt: skip
            table.add(label, what, secs(total), h.num(r["peak_rss_mb"], 0), figures,
                      f"< {target:g} s", total < target, section=first)  # fmt: skip
        first = False
    if reports:
        largest = max(r["html_bytes"] for r in reports.values())
        inline = max(r["inline_csv"] for r in reports.values())
        table.add("", "the page's size (largest of the four)", None, None,
                  f"{largest:,} bytes; {inline} inline CSV downloads", "< 5 MB",
                  largest < TARGET_HTML_BYTES)  # fmt: skip
    b = d.get("browser") or {}
    if err := b.get("error"):
        table.add("", "chromium: the load event", None, None, f"not measured: {err}", None, None)
    for name, found in b.items():
        if name == "error":
            continue
        runs = ", ".join(f"{x:.3f}" for x in found["runs"])
        others = found["other_requests"]
        table.add("", f"chromium: {name} page, goto(wait_until='load'), median of "
                  f"{len(found['runs'])}", secs(found["median"]), None,
                  f"runs {runs} s; loadEventEnd {h.num(found['load_event_ms'], 0)} ms; "
                  f"requests outside the file: {len(others)}", f"< {TARGET_LOAD_SECONDS:g} s",
                  found["median"] < TARGET_LOAD_SECONDS and not others)  # fmt: skip


def evidently_rows(run: h.Run, table: h.Table, cores: int) -> None:
    d = run.data
    part = "Evidently, per model"
    if e := d.get("evidently"):
        per, html = e["seconds_per_model"], e.get("html") or {}
        table.add(part, f"Evidently {e['versions']['evidently']}: DataDriftPreset + "
                  f"MAE/RMSE/MAPE reports of one model, run and saved as HTML; median of "
                  f"{e['models']}", secs(per["median"]), h.num(e.get("peak_rss_mb"), 0),
                  f"HTML {_mb(html.get('bytes_median'))} a model (two pages); saving it "
                  f"{secs(html.get('seconds_median'))} s; mean {per['mean']:.2f}, min "
                  f"{per['min']:.2f}, max {per['max']:.2f} s a model (import "
                  f"{e['import_seconds']:.1f} s and warm-up left out)", None, None,
                  section=True)  # fmt: skip
        for key, s in d.get("sizes", {}).items():
            models = int(key)
            seconds = per["median"] * models / cores
            ours = (s.get("reports", {}).get("page") or {}).get("seconds")
            page = (s.get("reports", {}).get("page") or {}).get("html_bytes")
            ratio = f"; {seconds / ours:,.0f}x Shoal's report" if ours else ""
            size = html.get("bytes_mean", 0) * models
            pages = f" (Shoal: one page of {_mb(page)})" if page else ""
            table.add("", f"scaled to {models:,} models: median x models / {cores} cores "
                      "(perfect parallelism: generous to Evidently)", h.num(seconds, 0), None,
                      f"{seconds / 3600:,.1f} hours; {size / 1e9:,.1f} GB of HTML in "
                      f"{2 * models:,} pages{pages}{ratio}", None, None)  # fmt: skip
        b = d.get("evidently_browser") or {}
        if found := b.get("drift"):
            runs = ", ".join(f"{x:.3f}" for x in found["runs"])
            table.add("", f"chromium: one model's drift page, median of {len(found['runs'])}",
                      secs(found["median"]), None, f"{_mb(found['bytes'])}; runs {runs} s; "
                      f"loadEventEnd {h.num(found['load_event_ms'], 0)} ms; requests outside "
                      f"the file: {len(found['other_requests'])}", None, None)  # fmt: skip
    elif err := d.get("evidently_error"):
        table.add(part, "Evidently", None, None, f"not measured: {err}", None, None, section=True)


def stage_table(run: h.Run) -> None:
    sized = [(int(k), d["reports"]["page"]) for k, d in run.data.get("sizes", {}).items()
             if d.get("reports", {}).get("page")]  # fmt: skip
    if not sized:
        return
    columns = ["stage", *(f"{n:,} s" for n, _ in sized), "share (largest)"]
    table = run.table("Where the first report's time goes (record=False; seconds, by stage)",
                      columns, "l" + "r" * (len(sized) + 1), c0=56)  # fmt: skip
    largest = sized[-1][1]

    def row(label: str, values: list[float | None]) -> None:
        share = values[-1] / largest["seconds"] if values[-1] is not None else None
        table.add(label, *(secs(v) for v in values), "-" if share is None else f"{share:.0%}")

    def get(r: dict[str, Any], key: str) -> float | None:
        return r["stages"].get(key)

    row("the whole call: fleet.report(out=...)", [r["seconds"] for _, r in sized])
    for stage, label in STAGES.items():
        values = [get(r, stage) for _, r in sized]
        if all(v is None for v in values):
            continue
        row(f"  {label}", values)
        if stage == "collect":
            found = {k for _, r in sized for k in r["stages"] if k.count("/") == 1}
            subs = sorted((k for k in found if k.startswith("collect/")),
                          key=lambda k: -(get(largest, k) or 0))  # fmt: skip
            for sub in subs:
                name = sub.split("/", 1)[1]
                row(f"    {name}", [get(r, sub) for _, r in sized])
                fetch = [get(r, sub + "/fetch") for _, r in sized]
                if any(v is not None for v in fetch):
                    row("      fetch: the store's rows (SQL, tuples)", fetch)
                    arrow = [None if t is None or f is None else t - f
                             for (t, f) in zip([get(r, sub) for _, r in sized], fetch,
                                               strict=True)]  # fmt: skip
                    row("      into Arrow columns", arrow)
        if stage == "render":
            row("    inline CSV downloads (table_bytes)",
                [get(r, "render/table_bytes") for _, r in sized])  # fmt: skip
    other = [
        r["build_seconds"] - sum(v for k, v in r["stages"].items() if "/" not in k and k != "write")
        for _, r in sized
    ]
    row("  the rest of build (options, snapshot open and close)", other)


def notes(run: h.Run) -> None:
    add = run.notes.append
    for key, d in run.data.get("sizes", {}).items():
        seed = d.get("seed")
        if not seed:
            continue
        built = (f"reused (seeded {seed['seeded_at']})" if seed.get("reused") else
                 f"seeded in {seed['seconds']:.0f} s: register {seed['register_s']:.0f} s, "
                 f"monitoring results {seed['store_s']:.0f} s (+{seed['rollup_s']:.0f} s "
                 f"roll-ups), alerts {seed['alert_s']:.0f} s")  # fmt: skip
        first = d.get("reports", {}).get("page") or {}
        add(f"{int(key):,} models: store {seed['db_bytes'] / 2**20:,.0f} MiB of SQLite, "
            f"{built}; {seed['windows']} daily windows, {seed['result_rows']:,} monitoring "
            f"results ({seed['feature_rows']:,} feature rows, the drifted ones only), "
            f"{seed['open_alerts']:,} alerts open or acknowledged; copied for this run in "
            f"{d.get('copy_seconds', 0):.0f} s."
            + (f" First report: {first['drift']['drifting']:,} models drifting of "
               f"{first['drift']['tested']:,} tested, {first['gaps']['no_monitoring']:,} not "
               f"monitored in the period, {first['alerts']['open']:,} alerts open, "
               f"{first['trend_windows']} windows in the trend; imports before the call "
               f"{first['import_seconds']:.1f} s (not counted); RSS before the call "
               f"{first['rss_before_mb']:.0f} MB; others' CPUs during it "
               f"{h.num(first.get('others_cpus'), 2)}." if first else ""))  # fmt: skip
        if c := d.get("changed"):
            add(f"{int(key):,} models, between the two recorded reports: {c['versions']:,} "
                f"versions registered in {c['register_s']:.1f} s (one fleet.register call), "
                f"production moved on {c['moved']:,} models in {c['move_s']:.1f} s (one "
                "set_alias call); not timed.")  # fmt: skip
    add("Each report ran in a process of its own (_reports_pass.py) on a copy of the seeded "
        "store: seconds are the fleet.report(out=...) call (read, compute, render, record, "
        "write), peak RSS the process's VmHWM (interpreter and imports included). The "
        "monitoring figures are synthetic, stored through registry.monitoring.store_windows; "
        "alerts through registry.alerts.apply (what fleet.monitor calls).")  # fmt: skip
    if e := run.data.get("evidently"):
        versions = ", ".join(f"{k} {x}" for k, x in e["versions"].items())
        add(f"Evidently in its own venv ({versions}): {e['api']}; then "
            "Snapshot.save_html of both, inside the model's timed span. Synthetic frames "
            "(200 reference rows, 96 current, 10 features). The fleet figure is "
            "per-model median x models / cores: no process start, no reading of logs, "
            "generous to Evidently.")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return bench.run(bench.parse(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
