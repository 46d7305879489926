"""The monitoring benchmark's results, its table (rich and Markdown) and ``results.json``.

One table in three parts: Shoal's pass (total, then each stage of ``MonitorOutcome.timings``
with the highest memory seen in it), the drift it found against the drift injected, and
Evidently on its sample, scaled to the fleet. The terminal table and the Markdown come
from the same rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from _report import console, md_table, ok

TARGET_SECONDS = 60.0  # one pass over the fleet's day, at most (2 cores)
TARGET_PEAK_MB = 4096.0  # the pass's peak resident memory, under (4 GB)

COLUMNS = ("part", "what", "seconds", "peak RSS MB", "figures", "target", "met")
STAGES = {
    "find": "find: list the day's files, read which versions answered",
    "baselines": "baselines: load the versions' profiles from the store",
    "query": "query: the DuckDB pass (quality join + binned drift counts)",
    "statistics": "statistics: KS, chi2, PSI, Benjamini-Hochberg, result rows",
    "store": "store: replace the window's results in one transaction",
    "alerts": "alerts: check the fleet's rules",
}
PARTS = {
    "shoal": "Shoal: fleet.monitor('1d'), SQLite store",
    "found": "drift found (f0 of 1 % of the models shifted by 2 sd)",
    "evidently": "Evidently, per model (sample)",
}


@dataclass
class MonitoringResults:
    started: str
    args: dict[str, Any]
    machine: dict[str, Any]
    world: dict[str, Any] = field(default_factory=dict)
    shoal: dict[str, Any] | None = None
    shoal_error: str | None = None
    found: dict[str, Any] | None = None
    evidently: dict[str, Any] | None = None
    evidently_error: str | None = None
    wall_seconds: float = 0.0
    interrupted: bool = False


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    return _num(value, 3 if value < 1 else 2 if value < 10 else 1)


def _share(part: int, whole: int) -> str:
    return f"{part:,}/{whole:,} ({part / whole:.1%})" if whole else f"{part:,}/0"


def _rel(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e} (relative)"


def _stage_peak(shoal: dict[str, Any]) -> dict[str, float]:
    """The highest RSS sampled per stage (see _monitoring_pass). The pass reports progress
    at four points, so stages share a segment: the end of find (its DISTINCT over the
    logs) with baselines, and query with statistics."""
    segments = {  # stage: the progress lines (by how they begin) its segments start at
        "find": ("start", "prediction and"),
        "baselines": ("prediction and",),
        "query": ("versions answered",),
        "statistics": ("versions answered",),
        "store": ("storing",),
        "alerts": ("checking alert",),
    }
    out = {}
    for stage, starts in segments.items():
        seen = [
            mb for text, mb in shoal.get("stage_peak_rss_mb", {}).items()
            if any(text.startswith(x) or (x != "start" and x in text) for x in starts)
        ]  # fmt: skip
        if seen:
            out[stage] = max(seen)
    return out


def rows(results: MonitoringResults, markup: bool) -> list[tuple[str, list[str]]]:
    """(part, row) pairs in table order."""
    out: list[tuple[str, list[str]]] = []
    args = results.args
    s = results.shoal
    if s:
        o = s["outcome"]
        threads = s["threads"]
        out.append(("shoal", [
            f"one pass: {o['predictions']:,} predictions of {o['versions']:,} versions, "
            f"DuckDB threads={threads}",
            _secs(s["seconds"]), _num(s["peak_rss_mb"], 0),
            f"{o['labelled']:,} labelled, {o['tests']:,} tests, {o['flagged']:,} flagged; "
            f"CPU {s['cpu_seconds']:,.1f} s ({s['cpu_seconds'] / s['seconds']:.2f} cores)",
            f"< {TARGET_SECONDS:g} s", ok(s["seconds"] < TARGET_SECONDS, markup),
        ]))  # fmt: skip
        out.append(("shoal", [
            "peak resident memory of the pass's process (getrusage ru_maxrss)",
            "-", _num(s["peak_rss_mb"], 0),
            f"{_num(s['rss_before_mb'], 0)} MB before the pass (Python, Shoal, the store open)",
            "< 4 GB", ok(s["peak_rss_mb"] < TARGET_PEAK_MB, markup),
        ]))  # fmt: skip
        peaks = _stage_peak(s)
        for stage, label in STAGES.items():
            if stage in o["timings"]:
                seconds = o["timings"][stage]
                out.append(("shoal", [
                    f"  {label}", _secs(seconds), _num(peaks.get(stage), 0),
                    f"{seconds / s['seconds']:.0%} of the pass", "-", "-",
                ]))  # fmt: skip
        imports = s["seconds"] - o["seconds"]
        out.append(("shoal", ["  first use: import shoal.monitor (DuckDB, SciPy stats)",
                              _secs(imports), "-", f"{imports / s['seconds']:.0%} of the pass",
                              "-", "-"]))  # fmt: skip
        rest = o["seconds"] - sum(o["timings"].values())
        out.append(("shoal", ["  the run record (open, finish), the span",
                              _secs(rest), "-", f"{rest / s['seconds']:.0%} of the pass",
                              "-", "-"]))  # fmt: skip
    elif results.shoal_error:
        out.append(("shoal", ["one pass", "-", "-", f"failed: {results.shoal_error}", "-", "-"]))
    f = results.found
    if f:
        out.append(("found", [
            "Shoal: injected models flagged (any feature, BH q <= 0.05 and PSI >= 0.1)",
            "-", "-", f"{_share(f['injected_found'], f['injected'])} (recall); "
            f"f0 flagged on {f['injected_f0']:,}",
            "-", "-",
        ]))  # fmt: skip
        out.append(("found", [
            "Shoal: other models flagged (false flags)", "-", "-",
            f"{_share(f['others_flagged'], f['others'])} models; "
            f"{f['other_feature_flags']:,} feature flags of {f['other_tests']:,} tests",
            "-", "-",
        ]))  # fmt: skip
    e = results.evidently
    if e:
        per = e["seconds_per_model"]
        models = args["models"]
        cores = results.machine["cores"]
        fleet_s = e["fleet_seconds"]
        out.append(("evidently", [
            f"Evidently {e['versions']['evidently']} {e['drift_mode']}: DataDrift + MAE/RMSE/MAPE, "
            f"{e['models']} models of ~{e['current_rows_median']:,.0f} logged rows, median",
            _secs(per["median"]), _num(e.get("peak_rss_mb"), 0),
            f"mean {per['mean']:.3f}, min {per['min']:.3f}, max {per['max']:.3f} s a model "
            f"(import {e['import_seconds']:.1f} s and warm-up left out)",
            "-", "-",
        ]))  # fmt: skip
        ratio = fleet_s / s["seconds"] if s else None
        out.append(("evidently", [
            f"scaled to the fleet: median x {models:,} models / {cores} cores (assumes "
            f"perfect parallelism over the {cores} cores: generous to Evidently)",
            _num(fleet_s, 0),
            "-", f"{ratio:,.0f}x Shoal's pass" if ratio else "-", "-", "-",
        ]))  # fmt: skip
        v = e["verdicts"]
        out.append(("evidently", [
            "Evidently's verdicts on its sample (per-feature KS at 0.05, no fleet-wide "
            "correction)", "-", "-",
            f"injected with a drifted feature {_share(v['injected_any'], v['injected'])}; "
            f"clean with one {_share(v['clean_any'], v['clean'])}; dataset drift "
            f"(>= half the features) {v['dataset_drift']:,}",
            "-", "-",
        ]))  # fmt: skip
        if "shoal_injected_any" in v:
            out.append(("evidently", [
                "Shoal's verdicts on the same sample", "-", "-",
                f"injected flagged {_share(v['shoal_injected_any'], v['injected'])}; "
                f"clean flagged {_share(v['shoal_clean_any'], v['clean'])}; MAE, RMSE, MAPE "
                f"within {_rel(v.get('quality_max_rel_diff'))} of Evidently's",
                "-", "-",
            ]))  # fmt: skip
    elif results.evidently_error:
        out.append(
            (
                "evidently",
                ["Evidently", "-", "-", f"unavailable: {results.evidently_error}", "-", "-"],
            )
        )
    return [(part, [PARTS[part] if i == 0 or part != out[i - 1][0] else "", *row])
            for i, (part, row) in enumerate(out)]  # fmt: skip


def print_report(results: MonitoringResults) -> None:
    console.print()
    table = Table(title="Monitoring: one fleet.monitor pass against Evidently per model")
    for i, col in enumerate(COLUMNS):
        table.add_column(col, justify="left" if i < 2 or i == 4 else "right", overflow="fold",
                         max_width=22 if i == 0 else 60 if i in (1, 4) else None)  # fmt: skip
    previous = None
    for part, row in rows(results, markup=True):
        if previous is not None and part != previous:
            table.add_section()
        previous = part
        table.add_row(*row)
    console.print(table)
    for line in notes(results):
        console.print(f"[dim]{line}[/]", highlight=False)
    if results.interrupted:
        console.print("[yellow]interrupted: the figures above are the ones measured so far[/]")


def notes(results: MonitoringResults) -> list[str]:
    m = results.machine
    versions = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    changed = m.get("shoal_commit_end")
    lines = [
        f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; Python "
        f"{m['python']}, SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}; {versions}; "
        f"Shoal {m['shoal']} at {m['shoal_commit']}"
        + (f" (source changed during the run, to {changed})" if changed else "")
        + f"; load average {m['loadavg_start']} -> {m.get('loadavg_end')}; "
        f"whole run {results.wall_seconds / 60:.1f} min",
    ]  # fmt: skip
    w = results.world
    if w:
        built = (
            f"reused from {w['root']}" if w.get("reused")
            else f"built in {w['seconds'].get('register', 0):.0f} s (register) + "
            f"{w['seconds'].get('logs', 0):.0f} s (logs)"
        )  # fmt: skip
        b = w.get("bytes", {})
        lines.append(
            f"The fleet: {w['models']:,} models (store, sku), 10 numeric features, a 200-row "
            f"training slice each profiled as its baseline; {w['predictions']:,} predictions "
            f"over one day in {w['files']} Parquet files ({b.get('predictions', 0) / 2**20:,.0f}"
            f" MiB) and feedback for each ({b.get('feedback', 0) / 2**20:,.0f} MiB); store "
            f"{b.get('store', 0) / 2**20:,.0f} MiB; {built}. One alert rule "
            f"(drifted_features >= 1). The pass ran in its own process on a fresh copy of the "
            "store, the logs read once beforehand (warm page cache)."
        )  # fmt: skip
    s = results.shoal
    if s:
        o = s["outcome"]
        lines.append(
            f"Pass: {s['seconds']:.2f} s inside fleet.monitor, {s['process_seconds']:.1f} s for "
            f"the whole process (interpreter and imports too); others' CPUs during it "
            f"{_num(s.get('others_cpus'), 2)}; alerts opened {o['alerts_opened']:,}; DuckDB "
            f"{s['duckdb']}, memory_limit {s['memory_limit'] or '2GB (the default)'}."
        )
        others = s.get("others_cpus")
        if others is not None and others > 0.25:
            lines.append(
                f"[!] Other processes kept {others:.2f} of the {m['cores']} CPUs busy during the "
                "pass: its time is inflated; run again on a quiet machine."
            )
    e = results.evidently
    if e:
        v = e["versions"]
        lines.append(
            "Evidently in its own venv (" + ", ".join(f"{k} {x}" for k, x in v.items())
            + f"): {e['api']}. Per model from building its Datasets to the figures read back; "
            f"reading its Parquet files, importing Evidently ({e['import_seconds']:.1f} s) and "
            f"{e['warmup_models']} warm-up model(s) not counted. The fleet figure is "
            "per_model_median x models / cores: it assumes perfect parallelism over the cores "
            "(no process start, no reading the logs, no split by model), generous to Evidently."
        )  # fmt: skip
    return lines


def markdown(results: MonitoringResults) -> str:
    lines = md_table(COLUMNS, [row for _, row in rows(results, markup=False)], 2)
    return "\n".join([*lines, "", *notes(results)]) + "\n"


def save(results: MonitoringResults, workdir: Path, md_path: Path | None) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "results.json"
    path.write_text(json.dumps(asdict(results), indent=1))
    if md_path:
        md_path.write_text(markdown(results))
    return path
