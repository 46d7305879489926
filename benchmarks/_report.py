"""Printing and saving the results: the rich tables, ``results.json`` and Markdown.

The terminal report and the Markdown (the source of docs/benchmarks.md) are made from
the same rows, so the two cannot disagree. ``console`` is the one console everything
in the benchmark prints through, so progress bars and messages do not tangle; it is 150
columns wide when the output is not a terminal, so a log file keeps the tables whole.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _results import TARGET_QUERY_P95_MS, TARGET_REGISTER_1M_S, RegisterResult, Results
from _timing import percentile

console = Console(width=None if sys.stdout.isatty() else 150)


def ok(good: bool, markup: bool = True) -> str:
    if markup:
        return "[green]yes[/]" if good else "[red]NO[/]"
    return "yes" if good else "**no**"


def _ms(value: float, timeout: float) -> str:
    return f"> {timeout * 1000:,.0f}" if math.isinf(value) else f"{value:,.1f}"


def _ratio(results: Results, r: RegisterResult) -> str:
    ml = results.mlflow
    return f"{ml['per_version_s'] / r.per_version_s:,.0f}x" if ml else "-"


REGISTER_COLUMNS = ("versions", "batch", "stores x SKUs", "seconds", "versions/s", "µs/version",
                    "target", "met", "MLflow/Shoal per version")  # fmt: skip
QUERY_COLUMNS = ("query", "call", "reps", "p50 ms", "p95 ms", "max ms", "met")


def register_rows(results: Results, markup: bool) -> list[list[str]]:
    rows = []
    for r in results.register:
        is_1m = r.n == 1_000_000
        rows.append([
            f"{r.n:,}", f"{r.batch_size:,}", f"{r.stores:,} x {r.skus:,}", f"{r.seconds:,.1f}",
            f"{r.per_second:,.0f}", f"{r.per_version_s * 1e6:,.0f}",
            "< 120 s" if is_1m else "-",
            ok(r.seconds < TARGET_REGISTER_1M_S, markup) if is_1m else "-",
            _ratio(results, r),
        ])  # fmt: skip
    return rows


def query_rows(results: Results, markup: bool) -> list[list[str]]:
    timeout = results.args["query_timeout"]
    rows = []
    for q in results.queries:
        name = q.name if markup else q.name.strip()
        if q.extra:
            name += " [dim](extra)[/]" if markup else " (extra)"
        call = q.call if markup else f"`{q.call}`"
        if q.skipped:
            rows.append([name, call, "0", "-", "-", "-", f"skipped: {q.skipped}"])
            continue
        reps = f"{q.reps}" + (f" ({q.timeouts} timed out)" if q.timeouts else "")
        rows.append([
            name, call, reps, _ms(q.p50, timeout), _ms(q.p95, timeout), _ms(q.max, timeout),
            ok(q.p95 < TARGET_QUERY_P95_MS, markup),
        ])  # fmt: skip
    w = results.walk
    if w:
        if w.stopped:
            what = (
                f"walk the fleet: {w.seen:,} of {w.n:,} in {w.pages:,} pages, "
                f"{w.seconds:,.1f} s ({w.stopped}; whole walk ~{w.estimated_seconds:,.0f} s)"
            )
        else:
            what = f"walk the whole fleet: {w.pages:,} pages in {w.seconds:,.1f} s"
        call = f"search(limit={w.page_size}, cursor=c), per page"
        rows.append([
            what, call if markup else f"`{call}`", f"{w.pages:,}",
            _ms(percentile(w.page_ms, 50), timeout), _ms(percentile(w.page_ms, 95), timeout),
            _ms(percentile(w.page_ms, 100), timeout), "-",
        ])  # fmt: skip
    return rows


def print_report(results: Results) -> None:
    console.print()
    if results.register:
        table = Table(title="Register: fleet.register on SQLite, a fresh store per N")
        for col in REGISTER_COLUMNS:
            table.add_column(col, justify="right")
        for row in register_rows(results, markup=True):
            table.add_row(*row)
        console.print(table)
    if results.mlflow:
        ml = results.mlflow
        console.print(
            f"MLflow {ml['mlflow_version']} model registry (SQLite, local artifacts): "
            f"{ml['models']:,} models in {ml['seconds']:,.1f} s = "
            f"{ml['per_version_s'] * 1000:,.1f} ms per version "
            f"({ml['models'] / ml['seconds']:,.1f} versions/s)"
        )
    elif results.mlflow_error:
        console.print(f"[yellow]MLflow skipped:[/] {results.mlflow_error}")
    if results.promote:
        p = results.promote
        console.print(
            f'promote("production", where="{p["where"]}"): {p["moved"]:,} models moved '
            f"in {p['seconds']:.1f} s"
        )
    if results.queries or results.walk:
        table = Table(
            title=f"Queries at {results.query_n:,} versions: target p95 < "
            f"{TARGET_QUERY_P95_MS:.0f} ms; each call its own read transaction"
        )
        for i, col in enumerate(QUERY_COLUMNS):
            table.add_column(col, justify="left" if i < 2 else "right")
        for row in query_rows(results, markup=True):
            table.add_row(*row)
        console.print(table)
        for title, statements in plans(results):
            console.print(f"[bold]{title}[/]", highlight=False)
            for st in statements:
                console.print(f"  {_stmt_ms(st)}  [dim]{st['sql']}[/]", highlight=False)
                for step in st["plan"]:
                    console.print(f"      {step}", highlight=False)
    m = results.machine
    console.print(
        f"[dim]{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; Python {m['python']}, "
        f"SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}, Shoal {m['shoal_commit']}; "
        f"load average {m['loadavg_start']} -> {m.get('loadavg_end')}; "
        f"wall time {results.wall_seconds / 60:.1f} min[/]"
    )
    if results.interrupted:
        console.print("[yellow]interrupted: the figures above are the ones measured so far[/]")


def plans(results: Results) -> list[tuple[str, list[dict[str, Any]]]]:
    """(title, statements with time, SQL and plan) for each query over target, and the walk."""
    found = [(f"plan of {q.name.strip()} ({q.call})", q.plan) for q in results.queries if q.plan]
    if results.walk and results.walk.plan:
        found.append(("plan of a walk page", results.walk.plan))
    return found


def _stmt_ms(statement: dict[str, Any]) -> str:
    ms = statement["ms"]
    return "stopped" if ms is None else f"first row after {ms:,.1f} ms"


def md_table(columns: tuple[str, ...], rows: list[list[str]], right_from: int) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(columns))]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(results: Results) -> str:
    """The results as Markdown, for docs/benchmarks.md."""
    m = results.machine
    ml = results.mlflow
    lines = [
        f"Measured {results.started} on {m['cpu']} ({m['cores']} cores, {m['ram_gib']} GiB RAM), "
        f"{m['os']}; Python {m['python']}, SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}, "
        f"Shoal {m['shoal']} at commit `{m['shoal_commit']}`"
        + (
            f" (source changed during the run, to `{m['shoal_commit_end']}`)"
            if m.get("shoal_commit_end")
            else ""
        )
        + (f", MLflow {ml['mlflow_version']}" if ml else "")
        + f". Load average {m['loadavg_start']} at the start, {m.get('loadavg_end')} at the "
        f"end. Whole run: {results.wall_seconds / 60:.1f} min"
        + (" (interrupted)" if results.interrupted else "")
        + ".",
        "",
    ]
    if results.register:
        lines += md_table(REGISTER_COLUMNS, register_rows(results, markup=False), 0)
    if ml:
        lines += [
            "",
            f"MLflow {ml['mlflow_version']} (its own venv; SQLite tracking and registry, local "
            f"artifacts): {ml['models']:,} models in {ml['seconds']:,.1f} s, "
            f"{ml['per_version_s'] * 1000:,.1f} ms per version "
            f"({ml['models'] / ml['seconds']:,.1f} versions/s).",
        ]
    elif results.mlflow_error:
        lines += ["", f"MLflow skipped: {results.mlflow_error}"]
    if results.promote:
        p = results.promote
        lines += [
            "",
            f'`promote("production", where="{p["where"]}")` at {results.query_n:,}: '
            f"{p['moved']:,} models moved in {p['seconds']:.1f} s.",
        ]
    if results.queries or results.walk:
        a = results.args
        lines += [
            "",
            f"Queries at {results.query_n:,} versions (target: p95 < "
            f"{TARGET_QUERY_P95_MS:.0f} ms). Up to {a['reps']} repetitions with varying "
            f"parameters, fewer where a query spent its {a['query_budget']:g} s budget; a call "
            f"is stopped after {a['query_timeout']:g} s.",
            "",
        ]
        lines += md_table(QUERY_COLUMNS, query_rows(results, markup=False), 2)
    found = plans(results)
    if found:
        lines += ["", "SQLite's plans (EXPLAIN QUERY PLAN) of the queries over target, and of "
                  "the walk's page query:"]  # fmt: skip
        for title, statements in found:
            lines += ["", f"{title}:", "", "```"]
            for st in statements:
                lines += [f"-- {_stmt_ms(st)}", st["sql"], *[f"   {p}" for p in st["plan"]]]
            lines += ["```"]
    return "\n".join(lines) + "\n"


def save(results: Results, workdir: Path, md_path: Path | None) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    data = asdict(results)
    (workdir / "results.json").write_text(json.dumps(data, indent=1))
    if md_path:
        md_path.write_text(markdown(results))
