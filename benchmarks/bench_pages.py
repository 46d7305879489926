"""Page benchmark: every page and API route of ``shoal ui`` on a million-model store.

    .venv/bin/python benchmarks/bench_pages.py            # 1M models + one of 200,000 versions
    .venv/bin/python benchmarks/bench_pages.py --quick    # 10,000 models, 2,000 versions

Seeds a SQLite store under ``--workdir`` (reused by later runs with the same sizes; see
``_pages_seed.py``): the registry benchmark's fleet ``bench/demand`` of ``--models``
models (``production`` on all, ``candidate`` on a tenth), ``bench/history``, one model
with ``--versions`` versions, and ``many/...``, ``--fleets`` small fleets of a third
tenant (10 models each), so the pages listing fleets, runs and datasets answer over a
store of a thousand fleets. Then times each page and the API route beside it through
``TestClient(create_web_app(client, auth=Auth.off()))`` in this process (the server's
time: no socket, no browser), ``--repeat`` times after ``--warmup`` (see
``_pages_cases.py``). Targets: p95 under 300 ms, no table over 50 rows. A case over
target is profiled (cProfile, every SQL statement timed and explained). Last, every
page's first paint in a fresh chromium tab (``_pages_paint.py``; target under 500 ms;
``--no-paint`` skips it). The exit status is 1 when a request failed.
"""

from __future__ import annotations

import math
import sys
from typing import Any
from urllib.parse import unquote

from rich.markup import escape

import _harness as h
from _pages_cases import PAGE_ROWS, TARGET_P95_MS, CaseResult, build_cases, profile_case, time_case
from _pages_paint import TARGET_PAINT_MS, Paint, available, measure_paints
from _pages_seed import load_or_seed, picks, store_root

bench = h.Bench(
    "pages", __doc__,
    sizes={
        "models": (1_000_000, 10_000, "models in the big fleet"),
        "versions": (200_000, 2000, "versions of the one deep model"),
        "batch_size": (100_000, 100_000, "versions per fleet.register call while seeding"),
        "case_budget": (60.0, 10.0, "stop repeating a case once it took this many seconds"),
        "depth": (100, 20, "next links (cursors) to follow for the deep page"),
        "fleets": (1000, 50, "small fleets of one more tenant (the many-fleet store)"),
    },
    repeat=(20, 3, "timed requests per page or route, after the warm-up"),
    packages=("fastapi", "starlette", "jinja2", "httpx"),
)  # fmt: skip
bench.parser.add_argument("--warmup", type=int, default=2, help="untimed requests first")
bench.parser.add_argument("--no-profile", action="store_true", help="do not profile the misses")
bench.parser.add_argument("--no-paint", action="store_true",
                          help="do not measure first paint in chromium")  # fmt: skip
bench.parser.add_argument("--paint-repeat", type=int, default=None,
                          help="fresh-tab loads per page (default 3; 1 with --quick)")  # fmt: skip


def measure(run: h.Run) -> None:
    args, workdir = run.args, run.workdir
    if min(args.models, args.versions, args.batch_size, args.depth) < 1 or args.warmup < 0:
        raise ValueError("--models, --versions, --batch-size and --depth must be positive")
    if args.models < 50 * (args.depth + 1):
        raise ValueError(f"--depth {args.depth} needs at least {50 * (args.depth + 1):,} models")
    from fastapi.testclient import TestClient

    from shoal.http.auth import Auth
    from shoal.web.app import create_web_app

    cases: list[CaseResult] = run.data.setdefault("cases", [])
    with h.progress() as progress:
        client, run.data["seed"] = load_or_seed(
            workdir,
            args.models,
            args.versions,
            args.batch_size,
            args.fleets,
            progress,
            h.console.print,
        )
    try:
        app = create_web_app(client, auth=Auth.off())
        with TestClient(app, base_url="http://127.0.0.1") as http, h.bar("pages", None) as advance:
            run.data["walks"] = walks = {}
            todo = build_cases(http, run.data["seed"], picks(args.models), args.depth,
                               h.console.print, walks)  # fmt: skip
            for case in todo:
                cases.append(time_case(http, case, args.repeat, args.warmup, args.case_budget))
                if cases[-1].error:
                    run.error(f"{case.kind} {case.name} ({case.url}): {cases[-1].error}")
                advance(1)
        if not args.no_paint:
            paint_pages(run, app, cases)
        if not args.no_profile:
            db_path = store_root(workdir, args.models) / "shoal.db"
            for c in cases:
                if not c.error and not c.time_ok:
                    with h.console.status(f"profiling {c.kind} {c.name}"):
                        profile_case(app, db_path, c, workdir)
    finally:
        client.close()


def paint_pages(run: h.Run, app: Any, cases: list[CaseResult]) -> None:
    """First paint of every page case in a fresh chromium tab, served on a loopback port."""
    why = available()
    if why:
        run.notes.append(f"First paint not measured: {why}.")
        return
    from shoal.testing import ThreadServer

    repeat = run.args.paint_repeat or (1 if run.args.quick else 3)
    pages = [(c.name, c.url) for c in cases if c.kind == "page" and not c.error]
    with ThreadServer(app) as server, h.bar("first paint", len(pages)) as advance:
        paints = measure_paints(str(server.url).rstrip("/"), pages, repeat, advance)
    run.data["paints"] = paints
    for p in paints:
        if p.error:
            run.error(f"first paint of {p.name} ({p.url}): {p.error}")


def seed_lines(seed: dict[str, Any]) -> list[str]:
    f, d = seed["fleet"], seed["deep"]
    lines = [f"Seeded store{' (reused)' if seed.get('reused') else ''}: `{f['path']}`, "
             f"{seed['models']:,} models ({f['stores']:,} stores x {f['skus']:,} SKUs) "
             f"registered in {f['register_s']:,.1f} s in batches of {seed['batch_size']:,} "
             f"(+{f['generate_s']:,.1f} s making the records)"]  # fmt: skip
    for a in seed.get("aliases", []):
        lines.append(
            f'`promote("{a["alias"]}"'
            + (f', "{a["where"]}"' if a["where"] else ", all=True")
            + f")`: {a['moved']:,} models in {a['seconds']:,.1f} s"
        )
    lines.append(
        f"`{d['path']}`: one model, {seed['versions']:,} versions registered in "
        f"{d['register_s']:,.1f} s by {d['calls']} `register` call(s) of up to "
        f"{seed['batch_size']:,} versions of the same key (+{d['generate_s']:,.1f} s making "
        f"the records); `production` at version {d['production']:,}; whole seeding "
        f"{seed['seconds'] / 60:,.1f} min, SQLite file {seed['db_bytes'] / 1e9:,.2f} GB"
    )
    return lines


def report(run: h.Run) -> None:
    args, data = run.args, run.data
    if "seed" in data:
        run.notes += seed_lines(data["seed"])
    cases: list[CaseResult] = data.get("cases", [])
    if not cases:
        return
    table = run.table(
        f"Pages and API routes, in process (TestClient): target p95 < {TARGET_P95_MS:.0f} ms, "
        f"at most {PAGE_ROWS} rows per table; {args.repeat} timed requests per case after "
        f"{args.warmup} warm-up",
        ("", "page or route", "reps", "p50 ms", "p95 ms", "max ms", "rows", "KiB", "p95 met",
         "rows met"), "llrrrrrrcc",
    )  # fmt: skip
    for c in cases:
        url = unquote(c.url)
        what = f"{c.name}: `{escape(url if len(url) <= 100 else url[:97] + '...')}`"
        if c.error:
            table.add(c.kind, what, "0", None, None, None, None, None,
                      f"error: {c.error[:60]}", None)  # fmt: skip
            continue
        limit = f" (<= {c.row_limit})" if c.kind == "api" and c.row_limit != PAGE_ROWS else ""
        table.add(c.kind, what, f"{len(c.times_ms)}",
                  *(h.num(c.pct(q)) for q in (50, 95, 100)), f"{c.rows}{limit}",
                  f"{c.bytes / 1024:,.1f}", c.time_ok, c.rows_ok)  # fmt: skip
    misses = [c for c in cases if not (c.time_ok and c.rows_ok)]
    run.notes.append(
        f"{len(cases) - len(misses)} of {len(cases)} cases meet both targets"
        + (f"; missed: {', '.join(f'{c.kind} {c.name}' for c in misses)}" if misses else "")
    )
    paints: list[Paint] = data.get("paints", [])
    if paints:
        table = run.table(
            f"First paint in a fresh chromium tab (first-contentful-paint, the app on a "
            f"loopback port): target under {TARGET_PAINT_MS:.0f} ms",
            ("page", "loads", "p50 ms", "max ms", "met"), "lrrrc",
        )  # fmt: skip
        for p in paints:
            table.add(p.name, f"{len(p.paints_ms)}", h.num(p.pct(50)), h.num(p.pct(100)),
                      p.ok if not p.error else f"error: {p.error}")  # fmt: skip
        slow = [p.name for p in paints if not p.ok]
        run.notes.append(f"{len(paints) - len(slow)} of {len(paints)} pages paint within "
                         f"{TARGET_PAINT_MS:.0f} ms" + (f"; slow: {', '.join(slow)}" if slow
                                                         else ""))  # fmt: skip
    if walks := data.get("walks"):
        run.notes.append(
            f"Deep pages {args.depth} pages in: following the fleet page's next link took "
            f"{walks.get('page_next_links_s', math.nan):,.1f} s, the API's next_cursor "
            f"{walks.get('api_next_cursors_s', math.nan):,.1f} s."
        )
    for c in cases:
        if p := c.profile:
            run.block(
                f"profile of {c.kind} {c.name} ({p['ms']:,.0f} ms under cProfile; "
                f"{p['statements']} SQL statements, {p['sql_ms']:,.0f} ms in SQLite; {p['prof']})",
                [f"{f['cum_ms']:9,.1f} ms cum {f['own_ms']:8,.1f} own {f['calls']:>7,}x  "
                 f"{f['file']}:{f['line']}({f['function']})" for f in p["top"]]
                + [line for st in p["slowest"] for line in
                   (f"-- {st['ms']:,.1f} ms", st["sql"], *(f"   {s}" for s in st["plan"]))],
            )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return bench.run(bench.parse(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
