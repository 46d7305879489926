"""The serving benchmark's results, its one table (rich and Markdown) and ``results.json``.

``ServingResults`` holds every figure as plain values (``dataclasses.asdict`` is what
``results.json`` keeps); a run stopped by Ctrl-C or by a failed step still has one,
filled as far as it got. The table puts Shoal's and MLflow's rows side by side with the
issue's targets; the terminal table and the Markdown (the source of the Serving section
of docs/benchmarks.md) come from the same rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from _report import console, md_table, ok

# The figures the report sets beside the measurements (from the issue).
TARGET_OVERHEAD_MS = 2.0  # Shoal's p50 latency above the model's own predict, 1-row, under
MIB = 1024.0  # KiB per MiB

COLUMNS = (
    "side",
    "measurement",
    "n",
    "p50 / value",
    "p99",
    "throughput",
    "compared",
    "target",
    "met",
)


@dataclass
class Latency:
    """One timed series of requests."""

    requests: int
    rows: int  # per request
    clients: int
    p50_ms: float
    p99_ms: float
    wall_s: float
    mean_ms: float = math.nan

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_s if self.wall_s else math.nan


@dataclass
class ServingResults:
    started: str
    args: dict[str, Any]
    machine: dict[str, Any]
    store: dict[str, Any] = field(default_factory=dict)
    shoal: dict[str, Latency] = field(default_factory=dict)
    shoal_server: dict[str, Any] = field(default_factory=dict)  # metrics, cache, start time
    memory: dict[str, Any] = field(default_factory=dict)  # KiB figures of the cycle
    predict: dict[str, float] = field(default_factory=dict)  # the model's own time, ms
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    resolutions: dict[str, float] = field(default_factory=dict)
    mlflow: dict[str, Any] = field(default_factory=dict)
    mlflow_latency: dict[str, Latency] = field(default_factory=dict)
    mlflow_error: str = ""
    profile: list[dict[str, Any]] = field(default_factory=list)
    profile_requests: int = 0
    errors: list[str] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    interrupted: bool = False

    # -- derived figures ----------------------------------------------------------------------

    def overhead_one(self) -> float | None:
        """Shoal's 1-row p50 above the model's 1-row ``predict`` p50 (the issue's figure)."""
        warm = self.shoal.get("warm_1")
        if warm is None or "one_row" not in self.predict:
            return None
        return warm.p50_ms - self.predict["one_row"]

    def overhead_many(self) -> tuple[float, float] | None:
        """The 100-row p50 above (100 models x 1 row each, one model x 100 rows)."""
        warm = self.shoal.get("warm_100")
        if warm is None or "one_row_each_of_keys" not in self.predict:
            return None
        return (
            warm.p50_ms - self.predict["one_row_each_of_keys"],
            warm.p50_ms - self.predict["hundred_rows_one_model"],
        )

    def memory_checks(self) -> list[tuple[str, float, float, bool]]:
        """(what the base is, base MiB, allowed MiB, peak within it) for each base."""
        m = self.memory
        if "peak_kib" not in m:
            return []
        limit = self.args["cache_mb"]
        margin = self.args["rss_margin_mb"]
        peak = m["peak_kib"] / MIB
        checks = []
        for label, key in (
            ("at startup", "base_kib"),
            ("after the first model", "first_kib"),
        ):
            if key in m:
                base = m[key] / MIB
                allowed = base + limit + margin
                checks.append((label, base, allowed, peak <= allowed))
        return checks


# -- the table --------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"


def _mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / MIB:,.0f} MiB"


def _rate(value: float, unit: str) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f} {unit}/s"


def _program(command: str) -> str:
    """What a process runs: ``mlflow`` for ``python -m mlflow ...``, ``uvicorn`` for
    ``python .../bin/uvicorn ...``."""
    words = command.split()
    if words and words[0].startswith("python"):
        words = words[1:]
    if words and words[0] == "-m":
        words = words[1:]
    return Path(words[0]).name if words else "?"


def _latency_row(
    side: str, what: str, lat: Latency, compared: str = "-", target: str = "-", met: str = "-"
) -> list[str]:
    unit, rate = ("rows", lat.per_second * lat.rows) if lat.rows > 1 else ("req", lat.per_second)
    return [
        side,
        what,
        f"{lat.requests:,}",
        _ms(lat.p50_ms),
        _ms(lat.p99_ms),
        _rate(rate, unit),
        compared,
        target,
        met,
    ]


def rows(r: ServingResults, markup: bool) -> list[list[str]]:
    """The table's rows; an empty first cell continues the side above."""
    a = r.args
    out: list[list[str]] = []
    ml = r.mlflow_latency.get("warm_1")
    shoal = (
        f"Shoal: shoal serve, 1 process, cache {a['cache_mb']} MiB / "
        f"{a['cache_models']:,} models, {r.store.get('models', a['models']):,} models"
    )
    side = shoal

    def add(row: list[str]) -> None:
        nonlocal side
        out.append(row)
        side = ""

    s = r.shoal
    if "warm_1" in s:
        add(
            _latency_row(
                side,
                "warm, 1 row, sequential" + (" (in turns with MLflow)" if ml else ""),
                s["warm_1"],
                f"MLflow p50 {_ms(ml.p50_ms)}" if ml else "-",
            )
        )
    if "warm_1_conc" in s:
        add(
            _latency_row(side, f"warm, 1 row, {s['warm_1_conc'].clients} clients", s["warm_1_conc"])
        )
    spread = f"100 rows over {r.shoal_server.get('warm_keys', 100)} keys"
    if "warm_100" in s:
        add(_latency_row(side, f"warm, {spread}, sequential", s["warm_100"]))
    if "warm_100_conc" in s:
        clients = s["warm_100_conc"].clients
        add(_latency_row(side, f"warm, {spread}, {clients} clients", s["warm_100_conc"]))
    loads = r.shoal_server.get("load_seconds", {})
    if "cold_first" in s:
        note = "-"
        if "p50_ms" in loads:
            note = (
                f"model load p50 {_ms(loads['p50_ms'])} (from /metrics buckets), mean "
                f"{_ms(loads['mean_ms'])}"
            )
        add(
            _latency_row(
                side, "cold: a key's first request (resolve + load)", s["cold_first"], note
            )
        )
    if "cold_again" in s:
        add(_latency_row(side, "cold: model evicted, key resolved (load again)", s["cold_again"]))
    over = r.overhead_one()
    if over is not None:
        compared = (
            f"p50 {_ms(s['warm_1'].p50_ms)} - model.predict p50 {_ms(r.predict['one_row'])} "
            "(timed in turns with the requests)"
        )
        ml_over = r.mlflow.get("overhead_ms")
        if ml_over is not None:
            compared += f"; MLflow's: {_ms(ml_over)}"
        add(
            [
                side,
                "Shoal's overhead, 1 row (p50 - predict)",
                "-",
                _ms(over),
                "-",
                "-",
                compared,
                f"< {TARGET_OVERHEAD_MS:g} ms",
                ok(over < TARGET_OVERHEAD_MS, markup),
            ]
        )
    many = r.overhead_many()
    if many is not None:
        p = r.predict
        add(
            [
                side,
                f"Shoal's overhead, {spread}",
                "-",
                _ms(many[0]),
                "-",
                "-",
                f"above its models' predicts in turn ({_ms(p['one_row_each_of_keys'])}); "
                f"{_ms(many[1])} above one 100-row predict ({_ms(p['hundred_rows_one_model'])})",
                "-",
                "-",
            ]
        )
    if "healthz" in s:
        add(_latency_row(side, "HTTP floor: GET /healthz (no model)", s["healthz"]))
    m = r.memory
    if "base_kib" in m:
        add(
            [
                side,
                "RSS at startup, before traffic (base)",
                "-",
                _mib(m["base_kib"]),
                "-",
                "-",
                f"after the first model: {_mib(m.get('first_kib'))}",
                "-",
                "-",
            ]
        )
    if "peak_kib" in m:
        passes = m.get("passes", [])
        seen = ", ".join(f"after pass {i + 1}: {_mib(p['rss_kib'])}" for i, p in enumerate(passes))
        add(
            [
                side,
                f"peak RSS, {len(passes)} pass(es) over all {m['models']:,} models",
                "-",
                _mib(m["peak_kib"]),
                "-",
                "-",
                f"VmHWM {_mib(m['hwm_kib'])}, sampled max {_mib(m['sampled_max_kib'])}; {seen}",
                "-",
                "-",
            ]
        )
        for label, base, allowed, good in r.memory_checks():
            add(
                [
                    side,
                    f"peak <= base {label} + cache limit + margin",
                    "-",
                    _mib(m["peak_kib"]),
                    "-",
                    "-",
                    f"{base:,.0f} + {a['cache_mb']} + {a['rss_margin_mb']} = {allowed:,.0f} MiB",
                    f"<= {allowed:,.0f} MiB",
                    ok(good, markup),
                ]
            )
    side = f"MLflow {r.mlflow.get('mlflow_version', '')}: mlflow models serve, 1 model"
    if ml:
        ml_over = r.mlflow.get("overhead_ms")
        add(
            _latency_row(
                side,
                "warm, 1 row, sequential (in turns with Shoal)",
                ml,
                f"overhead {_ms(ml_over)} above the model's predict "
                f"({_ms(r.predict.get('one_row'))}, same libraries)",
            )
        )
    if "warm_1_conc" in r.mlflow_latency:
        conc = r.mlflow_latency["warm_1_conc"]
        add(_latency_row(side, f"warm, 1 row, {conc.clients} clients", conc))
    tree = r.mlflow.get("tree")
    if tree:
        parts = " + ".join(
            f"{_program(p['command'])} {_mib(p['rss_kib'])}" for p in tree["processes"]
        )
        add(
            [
                side,
                f"RSS of one server ({len(tree['processes'])} processes)",
                "-",
                _mib(tree["rss_kib"]),
                "-",
                "-",
                f"{parts}; PSS {_mib(tree['pss_kib'])}",
                "-",
                "-",
            ]
        )
        models = r.store.get("models", a["models"])
        total = tree["rss_kib"] * models
        shoal_peak = m.get("peak_kib")
        ratio = f"{total / shoal_peak:,.0f}x Shoal's peak" if shoal_peak else "-"
        add(
            [
                side,
                f"one such server per model x {models:,} (extrapolated)",
                "-",
                f"{total / MIB**2:,.0f} GiB",
                "-",
                "-",
                ratio,
                "-",
                "-",
            ]
        )
    if r.mlflow_error:
        add([side, "not measured", "-", "-", "-", "-", r.mlflow_error[:200], "-", "-"])
    return out


def notes(r: ServingResults) -> list[str]:
    m = r.machine
    versions = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    changed = m.get("shoal_commit_end")
    lines = [
        f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; Python "
        f"{m['python']}, SQLite {m['sqlite']}; {versions}; Shoal {m['shoal']} at "
        f"{m['shoal_commit']}"
        + (f" (source changed during the run, to {changed})" if changed else "")
        + (f"; MLflow {r.mlflow['mlflow_version']} (its own venv)" if r.mlflow else "")
        + f"; load average {m['loadavg_start']} -> {m.get('loadavg_end')}; "
        f"whole run {r.wall_seconds / 60:.1f} min ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in r.step_seconds.items())
        + ")",
    ]
    st = r.store
    if st:
        lines.append(
            f"Store: {st['models']:,} LinearRegression models (3 features, skops), "
            f"fitted in {st['fit_seconds']:.1f} s, registered in {st['register_seconds']:.1f} s "
            f"({st['batches']} fleet.register calls), aliased production in "
            f"{st['promote_seconds']:.2f} s; artifacts {st['artifact_bytes'] / 2**20:,.1f} MiB."
        )
    sv = r.shoal_server
    if sv:
        cache = sv.get("cache", {})
        lines.append(
            f"shoal serve started in {sv.get('start_seconds', math.nan):.1f} s; at the end its "
            f"cache held {cache.get('models', 0):,.0f} models, "
            f"{cache.get('bytes', 0) / 2**20:,.1f} MiB estimated (limit "
            f"{cache.get('limit_bytes', 0) / 2**20:,.0f} MiB), after "
            f"{cache.get('misses', 0):,.0f} loads and {cache.get('evictions', 0):,.0f} "
            f"evictions; the warm 1-row requests inside the server (its timing middleware, "
            f"shoal_request_seconds): mean {_ms(sv.get('server_warm_1_ms', {}).get('mean'))}."
        )
    st1 = r.stages.get("one_row")
    if st1:
        st100 = r.stages.get("hundred_rows", {})
        lines.append(
            f"Layers, in this process, warm, p50 (1 row | 100 rows over "
            f"{sv.get('warm_keys', 100)} keys): the "
            f"flavor's predict {_ms(st1['flavor_predict'])} | "
            f"{_ms(st100.get('flavor_predict'))}; Predictor.predict {_ms(st1['predictor'])} | "
            f"{_ms(st100.get('predictor'))}; the whole app over ASGI (no socket) "
            f"{_ms(st1['app_in_process'])} | {_ms(st100.get('app_in_process'))}; over HTTP "
            f"(uvicorn, loopback) {_ms(r.shoal['warm_1'].p50_ms) if 'warm_1' in r.shoal else '-'}"
            f" | {_ms(r.shoal['warm_100'].p50_ms) if 'warm_100' in r.shoal else '-'}."
        )
    res = r.resolutions
    if res:
        lines.append(
            f"The predictor's resolutions (key -> version rows, kept per fleet and alias, not "
            f"bounded by the cache limits): {res['bytes_per_key']:,.0f} bytes a key "
            f"(tracemalloc, {res['keys']:,} keys resolved: {res['bytes'] / 2**20:,.1f} MiB)."
        )
    if r.mlflow:
        lines.append(
            f"MLflow served models:/bench-serving/1 (skops; in its venv, at set-up, "
            f"model.predict on 1 row took {_ms(r.mlflow.get('predict_1row_ms_p50'))} p50; "
            f"logged in "
            f"{r.mlflow.get('log_seconds', math.nan):.1f} s) with --env-manager local, started in "
            f"{r.mlflow.get('start_seconds', math.nan):.1f} s; the 10,000-model memory is one "
            "measured server's RSS times the model count, not measured."
        )
    for error in r.errors:
        lines.append(f"error: {error}")
    return lines


def print_report(r: ServingResults) -> None:
    console.print()
    table = Table(title="Serving: shoal serve against mlflow models serve")
    for i, col in enumerate(COLUMNS):
        table.add_column(
            col,
            justify="left" if i in (0, 1, 6) else "right",
            overflow="fold",
            max_width=24 if i == 0 else (48 if i == 6 else None),
        )
    first_ml = True
    for row in rows(r, markup=True):
        if row[0].startswith("MLflow") and first_ml:
            table.add_section()
            first_ml = False
        table.add_row(*row)
    console.print(table)
    for line in notes(r):
        console.print(f"[dim]{line}[/]", highlight=False)
    if r.profile:
        print_profile(r)
    if r.interrupted:
        console.print("[yellow]interrupted: the figures above are the ones measured so far[/]")


def print_profile(r: ServingResults) -> None:
    n = r.profile_requests
    table = Table(
        title=f"The in-process app under cProfile, {n:,} warm 1-row requests: ms per request "
        "(profiling slows every call down; compare rows, not totals)"
    )
    for col in ("ranked by", "function", "calls/request", "own ms", "cumulative ms"):
        table.add_column(col, justify="left" if col in ("ranked by", "function") else "right")
    for p in r.profile:
        table.add_row(
            p["kind"],
            f"{p['file']}:{p['line']} {p['function']}",
            f"{p['calls'] / n:,.1f}",
            f"{p['own_ms']:.3f}",
            f"{p['cum_ms']:.3f}",
        )
    console.print(table)


def markdown(r: ServingResults) -> str:
    plain = [
        [cell.replace("[dim]", "").replace("[/]", "") for cell in row]
        for row in rows(r, markup=False)
    ]
    lines = md_table(COLUMNS, plain, 2)
    lines[1] = "|---|---|---:|---:|---:|---:|---|---:|:---:|"  # "compared" is text
    lines += [""] + [f"- {line}" for line in notes(r)]
    if r.profile:
        n = r.profile_requests
        lines += [
            "",
            f"cProfile of the in-process app, {n:,} warm 1-row requests (ms per "
            "request; profiling inflates every figure):",
            "",
        ]
        lines += md_table(
            ("ranked by", "function", "calls/request", "own ms", "cumulative ms"),
            [
                [
                    p["kind"],
                    f"`{p['file']}:{p['line']} {p['function']}`",
                    f"{p['calls'] / n:,.1f}",
                    f"{p['own_ms']:.3f}",
                    f"{p['cum_ms']:.3f}",
                ]
                for p in r.profile
            ],
            2,
        )
    return "\n".join(lines) + "\n"


def save(r: ServingResults, workdir: Path, md_path: Path | None) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    data = asdict(r)
    for side in ("shoal", "mlflow_latency"):
        for name, lat in getattr(r, side).items():
            data[side][name]["per_second"] = lat.per_second
    (workdir / "results.json").write_text(json.dumps(data, indent=1, default=str))
    if md_path:
        md_path.write_text(markdown(r))
