"""The training benchmark's table, in rich and in Markdown, and its ``results.json``.

One table, three parts (realistic, stress, Ray), each row a measured :class:`Step` with
the comparison it exists for (the ratio, the added time, the speed-up) and, where the
issue sets one, the target and whether it was met. The terminal table and the Markdown
(the source of the Training section of docs/benchmarks.md) come from the same rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from rich.table import Table

from _report import console, md_table, ok
from _training_results import (
    TARGET_ADDED_MS,
    TARGET_MLFLOW_RATIO,
    TARGET_REALISTIC_RATIO,
    Step,
    TrainingResults,
)

COLUMNS = ("part", "what", "models", "workers", "seconds", "others' CPUs", "ms/model",
           "compared", "target", "met")  # fmt: skip
PARTS = {
    "realistic": "realistic (LightGBM, 100 trees, 730 daily rows a key)",
    "stress": "stress (LinearRegression, 50 rows a key)",
    "ray": "Ray (the LightGBM workload)",
}


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _compare(results: TrainingResults, s: Step, markup: bool) -> tuple[str, str, str]:
    """(what this row is compared with, the target, whether it is met) for one step."""
    get = results.get
    if s.id == "shoal_lgbm" and (bare := get("bare_lgbm")):
        ratio = s.seconds / bare.seconds
        return (f"{ratio:.3f}x the bare loop", f"<= {TARGET_REALISTIC_RATIO:.2f}x",
                ok(ratio <= TARGET_REALISTIC_RATIO, markup))  # fmt: skip
    if s.id == "tiny_dump" and (fit := get("tiny_fit")):
        return f"{(s.seconds - fit.seconds) * 1000 / s.models:+.2f} ms over the fit", "-", "-"
    if s.id == "shoal_tiny" and (fit := get("tiny_fit")):
        added = (s.seconds - fit.seconds) * 1000 / s.models
        text = f"{added:+.2f} ms over the fit"
        if dump := get("tiny_dump"):
            beside = (s.seconds - dump.seconds) * 1000 / s.models
            side = "more" if beside >= 0 else "less"
            text += f" ({abs(beside):.2f} ms {side} than fit + dump)"
        return text, f"< {TARGET_ADDED_MS:g} ms", ok(added < TARGET_ADDED_MS, markup)
    if s.id == "mlflow_tiny" and (shoal := get("shoal_tiny")):
        ratio = s.per_model_ms / shoal.per_model_ms
        return (f"{ratio:,.1f}x Shoal's time per model", f">= {TARGET_MLFLOW_RATIO:g}x",
                ok(ratio >= TARGET_MLFLOW_RATIO, markup))  # fmt: skip
    if s.id.startswith(("ray_", "local_")):
        said = []
        one = get(f"{s.id.rsplit('_', 1)[0]}_1")
        if s.workers > 1 and one:
            said.append(f"speed-up {one.seconds / s.seconds:.2f}x over 1 worker")
        local = get(f"local_{s.workers}")
        if s.id.startswith("ray_") and local:
            said.append(f"{s.seconds / local.seconds:.2f}x the local executor's time")
        return "; ".join(said) or "-", "-", "-"
    return "-", "-", "-"


def _run(run: list[float | None]) -> str:
    seconds, others = run
    return ("failed" if seconds is None else f"{seconds:.2f}") + f" ({_num(others, 2)})"


def rows(results: TrainingResults, markup: bool) -> list[list[str]]:
    out = []
    previous = None
    for s in results.steps:
        part = PARTS[s.part] if s.part != previous else ""
        previous = s.part
        label = s.label if markup else s.label.replace("[dim]", "").replace("[/]", "")
        if not s.ran:
            out.append([part, label, f"{s.models:,}", str(s.workers), "-", "-", "-",
                        s.skipped or "not run", "-", "-"])  # fmt: skip
            continue
        seconds = _num(s.seconds, 2 if s.seconds < 10 else 1)
        if s.id == "mlflow_tiny":
            full = s.detail.get("extrapolated_seconds")
            seconds += f" (~{full:,.0f} for {s.detail['keys']:,})" if full else ""
        out.append([part, label, f"{s.models:,}", str(s.workers), seconds,
                    _num(s.detail.get("others_cpus"), 2), _num(s.per_model_ms, 2),
                    *_compare(results, s, markup)])  # fmt: skip
    return out


def print_report(results: TrainingResults) -> None:
    console.print()
    table = Table(title="Training: fleet.train against a bare loop, MLflow, and Ray's scaling")
    for i, col in enumerate(COLUMNS):
        table.add_column(
            col,
            justify="left" if i < 2 or i == 6 else "right",
            overflow="fold",
            max_width=22 if i == 0 else None,
        )
    previous = None
    for step, row in zip(results.steps, rows(results, markup=True), strict=True):
        if previous is not None and step.part != previous:
            table.add_section()
        previous = step.part
        table.add_row(*row)
    console.print(table)
    for line in notes(results):
        console.print(f"[dim]{line}[/]", highlight=False)
    if results.profile:
        print_profile(results)
    if results.interrupted:
        console.print("[yellow]interrupted: the figures above are the ones measured so far[/]")


def print_profile(results: TrainingResults) -> None:
    """Where Shoal's time goes per tiny model, from the cProfile run (``--profile``)."""
    models = results.args["tiny_keys"]
    table = Table(
        title=f"fleet.train(workers=1) under cProfile, {models:,} tiny models: ms "
        "per model (profiling slows every call down; compare rows, not totals)"
    )
    for col in ("ranked by", "function", "calls/model", "own ms", "cumulative ms"):
        table.add_column(col, justify="left" if col in ("ranked by", "function") else "right")
    for r in results.profile:
        where = f"{r['file']}:{r['line']} {r['function']}"
        table.add_row(r["kind"], where, f"{r['calls'] / models:,.1f}", f"{r['own_ms']:.3f}",
                      f"{r['cum_ms']:.3f}")  # fmt: skip
    console.print(table)


def notes(results: TrainingResults) -> list[str]:
    m = results.machine
    versions = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    changed = m.get("shoal_commit_end")
    lines = [
        f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; Python "
        f"{m['python']}, SQLite {m['sqlite']}; {versions}; Shoal {m['shoal']} at "
        f"{m['shoal_commit']}" + (f" (source changed during the run, to {changed})" if changed
                                  else "")
        + f"; load average {m['loadavg_start']} -> {m.get('loadavg_end')}; "
        f"whole run {results.wall_seconds / 60:.1f} min",
    ]  # fmt: skip
    lines.append(
        "others' CPUs: the CPU time other processes on the machine used while the step ran, "
        "over its wall time (1.00 = one core kept busy by someone else throughout)."
    )
    repeated = [s for s in results.steps if len(s.detail.get("runs", [])) > 1]
    if repeated:
        lines.append(
            "Each timed step ran several times (--repeat); the table shows the fastest. All "
            "runs, seconds (others' CPUs): "
            + "; ".join(s.id + " " + ", ".join(_run(r) for r in s.detail["runs"])
                        for s in repeated) + "."
        )  # fmt: skip
    ml = results.mlflow
    if ml:
        fit_ms = ml["fit_seconds"] * 1000 / ml["models"]
        added_ms = (ml["seconds"] - ml["fit_seconds"]) * 1000 / ml["models"]
        lines.append(
            f"MLflow {ml['mlflow_version']} in its own venv (SQLite tracking and registry, local "
            f"artifacts, skops format, pip requirements given): {ml['models']:,} models timed, "
            f"the time per model extrapolated; its fits took {fit_ms:.2f} ms a model, so "
            f"MLflow adds {added_ms:,.1f} ms a model."
        )
    ray = results.get("ray_1") or results.get("ray_2")
    if ray and "ray_init_seconds" in ray.detail:
        lines.append(f"Ray started in {ray.detail['ray_init_seconds']:.1f} s (not timed); one "
                     "warm-up train on a few keys before the timed ones.")  # fmt: skip
    return lines


def markdown(results: TrainingResults) -> str:
    lines = md_table(COLUMNS, rows(results, markup=False), 2)
    return "\n".join([*lines, "", *notes(results)]) + "\n"


def save(results: TrainingResults, workdir: Path, md_path: Path | None) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "results.json").write_text(json.dumps(asdict(results), indent=1))
    if md_path:
        md_path.write_text(markdown(results))
