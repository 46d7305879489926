"""The page benchmark's report: the rich table, the profiles of misses, JSON and Markdown.

Both the terminal table and the Markdown (the source of docs/benchmarks.md's "Pages"
section) come from ``rows``, so they cannot disagree.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from rich.table import Table

from _pages_cases import PAGE_ROWS, TARGET_P95_MS, CaseResult
from _report import console, md_table, ok

COLUMNS = ("", "page or route", "reps", "p50 ms", "p95 ms", "max ms", "rows", "KiB",
           "p95 met", "rows met")  # fmt: skip


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.1f}"


def rows(cases: list[CaseResult], markup: bool) -> list[list[str]]:
    out = []
    for c in cases:
        url = unquote(c.url)
        url = url if len(url) <= 100 else url[:97] + "..."
        what = f"{c.name}: {url}" if markup else f"{c.name}: `{url}`"
        if c.error:
            out.append([c.kind, what, "0", "-", "-", "-", "-", "-", f"error: {c.error[:60]}", "-"])
            continue
        limit = f" (<= {c.row_limit})" if c.kind == "api" and c.row_limit != PAGE_ROWS else ""
        out.append([
            c.kind, what, f"{len(c.times_ms)}", _ms(c.p50), _ms(c.p95), _ms(c.max),
            f"{c.rows}{limit}", f"{c.bytes / 1024:,.1f}", ok(c.time_ok, markup),
            ok(c.rows_ok, markup),
        ])  # fmt: skip
    return out


def seed_lines(seed: dict[str, Any]) -> list[str]:
    f, d = seed["fleet"], seed["deep"]
    lines = [
        f"`{f['path']}`: {seed['models']:,} models ({f['stores']:,} stores x {f['skus']:,} "
        f"SKUs) registered in {f['register_s']:,.1f} s in batches of {seed['batch_size']:,} "
        f"(+{f['generate_s']:,.1f} s making the records)",
    ]
    for a in seed.get("aliases", []):
        lines.append(f"`promote(\"{a['alias']}\"" + (f", \"{a['where']}\"" if a["where"] else "")
                     + f")`: {a['moved']:,} models in {a['seconds']:,.1f} s")  # fmt: skip
    lines.append(
        f"`{d['path']}`: one model, {seed['versions']:,} versions registered in "
        f"{d['register_s']:,.1f} s by {d['calls']} `register` call(s) of up to "
        f"{seed['batch_size']:,} versions of the same key (+{d['generate_s']:,.1f} s making "
        f"the records); `production` at version {d['production']:,}"
    )
    lines.append(f"whole seeding {seed['seconds'] / 60:,.1f} min; SQLite file "
                 f"{seed['db_bytes'] / 1e9:,.2f} GB")  # fmt: skip
    return lines


def print_report(results: dict[str, Any], cases: list[CaseResult]) -> None:
    seed, m = results["seed"], results["machine"]
    console.print()
    console.print("[bold]Seeded store[/]" + (" (reused)" if seed.get("reused") else ""))
    for line in seed_lines(seed):
        console.print(f"  {line}", highlight=False)
    table = Table(
        title=f"Pages and API routes, in process (TestClient): target p95 < "
        f"{TARGET_P95_MS:.0f} ms, at most {PAGE_ROWS} rows per table"
    )
    for i, col in enumerate(COLUMNS):
        table.add_column(col, justify="left" if i < 2 else "right", overflow="fold")
    for row in rows(cases, markup=True):
        table.add_row(*row)
    console.print(table)
    for c in cases:
        if c.profile:
            print_profile(c)
    misses = [c for c in cases if not (c.time_ok and c.rows_ok)]
    console.print(
        f"{len(cases) - len(misses)} of {len(cases)} cases meet both targets"
        + (f"; missed: {', '.join(f'{c.kind} {c.name}' for c in misses)}" if misses else ""),
        highlight=False,
    )
    console.print(
        f"[dim]{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; Python {m['python']}, "
        f"SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}, FastAPI {m['fastapi']}, "
        f"Jinja2 {m['jinja2']}, Shoal {m['shoal_commit']}; load average "
        f"{m['loadavg_start']} -> {m.get('loadavg_end')}; wall time "
        f"{results['wall_seconds'] / 60:.1f} min[/]"
    )


def print_profile(c: CaseResult) -> None:
    p = c.profile
    console.print(
        f"[bold]profile of {c.kind} {c.name}[/] ({p['ms']:,.0f} ms under cProfile; "
        f"{p['statements']} SQL statements, {p['sql_ms']:,.0f} ms in SQLite; {p['prof']})",
        highlight=False,
    )
    for f in p["top"]:
        console.print(f"  {f['cum_ms']:>9,.1f} ms cum {f['own_ms']:>8,.1f} own {f['calls']:>7,}x "
                      f" {f['function']}", highlight=False)  # fmt: skip
    for st in p["slowest"]:
        console.print(f"  [yellow]{st['ms']:,.1f} ms[/] [dim]{st['sql']}[/]", highlight=False)
        for step in st["plan"]:
            console.print(f"      {step}", highlight=False)


def _walks(walks: dict[str, float], depth: int) -> str:
    if not walks:
        return ""
    return (f" (following the fleet page's next link {depth} times took "
            f"{walks.get('page_next_links_s', math.nan):,.1f} s, the API's next_cursor "
            f"{walks.get('api_next_cursors_s', math.nan):,.1f} s)")  # fmt: skip


def markdown(results: dict[str, Any], cases: list[CaseResult]) -> str:
    m, a = results["machine"], results["args"]
    lines = [
        f"Measured {results['started']} on {m['cpu']} ({m['cores']} cores, {m['ram_gib']} GiB "
        f"RAM), {m['os']}; Python {m['python']}, SQLite {m['sqlite']}, SQLAlchemy "
        f"{m['sqlalchemy']}, FastAPI {m['fastapi']}, Jinja2 {m['jinja2']}, Shoal {m['shoal']} "
        f"at commit `{m['shoal_commit']}`. Load average {m['loadavg_start']} at the start, "
        f"{m.get('loadavg_end')} at the end. {a['repeat']} timed requests per case after "
        f"{a['warmup']} warm-up; deep pages {a['depth']} pages in"
        + _walks(results.get("walks") or {}, a["depth"])
        + ".",
        "",
        *[f"- {line}" for line in seed_lines(results["seed"])],
        "",
    ]
    lines += md_table(COLUMNS, rows(cases, markup=False), 2)
    for c in cases:
        if c.profile:
            p = c.profile
            lines += ["", f"Profile of {c.kind} {c.name} ({p['ms']:,.0f} ms under cProfile, "
                      f"{p['statements']} SQL statements, {p['sql_ms']:,.0f} ms in SQLite):",
                      "", "```"]  # fmt: skip
            lines += [f"{f['cum_ms']:9,.1f} ms  {f['function']}" for f in p["top"][:8]]
            for st in p["slowest"][:3]:
                lines += [f"-- {st['ms']:,.1f} ms", st["sql"], *[f"   {s}" for s in st["plan"]]]
            lines += ["```"]
    return "\n".join(lines) + "\n"


def save(results: dict[str, Any], cases: list[CaseResult], workdir: Path,
         md_path: Path | None) -> Path:  # fmt: skip
    data = {**results, "cases": [
        {**asdict(c), "p50": c.p50, "p95": c.p95, "max": c.max, "time_ok": c.time_ok,
         "rows_ok": c.rows_ok} for c in cases
    ]}  # fmt: skip
    path = workdir / "results.json"
    path.write_text(json.dumps(data, indent=1, default=str).replace("NaN", "null"))
    if md_path:
        md_path.write_text(markdown(results, cases))
    return path
