"""Registry benchmark: bulk registration and fleet queries on SQLite, with MLflow beside it.

    .venv/bin/python benchmarks/bench_registry.py                      # 10k, 100k, 1M + MLflow
    .venv/bin/python benchmarks/bench_registry.py --sizes 10000 --mlflow-models 200

For each size N it builds a fresh SQLite store under ``--workdir`` and registers N
versions of a fleet keyed by (store, sku) in batches of ``--batch-size`` per
``fleet.register`` call. Every version has 5 params, 3 metrics, a ~320-byte artifact of
the ``linear`` flavor, and lineage (a registered dataset, a run and a slice fingerprint).
On the largest store it promotes ``production`` on half the models and times the fleet
queries (p50/p95 over ``--reps`` repetitions with varying parameters) and a walk of the
whole fleet with keyset cursors. MLflow's model registry (SQLite, local artifacts) runs
the same records for ``--mlflow-models`` models in its own virtual environment
(``benchmarks/.envs/mlflow``), so its pins never touch Shoal's.

Ctrl-C stops the run and prints what was measured so far.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# No telemetry from anything this process or its children start.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

import shoal

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FLEET = "bench/demand"
SKUS_PER_STORE = 1000
FEATURES = [f"lag_{i}" for i in range(1, 8)] + [f"dow_{i}" for i in range(7)] + ["price", "promo"]
TARGET_REGISTER_1M_S = 120.0
TARGET_QUERY_P95_MS = 50.0
MLFLOW_VENV = HERE / ".envs" / "mlflow"
MLFLOW_SCRIPT = HERE / "mlflow_registry.py"

console = Console(width=None if sys.stdout.isatty() else 150)


# ---- results ----------------------------------------------------------------------------------


@dataclass
class RegisterResult:
    n: int
    batch_size: int
    stores: int
    skus: int
    seconds: float
    generate_seconds: float
    artifact_bytes_mean: float
    db_bytes: int
    artifact_store_bytes: int

    @property
    def per_second(self) -> float:
        return self.n / self.seconds

    @property
    def per_version_s(self) -> float:
        return self.seconds / self.n


@dataclass
class QueryResult:
    name: str
    call: str
    times_ms: list[float]
    extra: bool = False
    timeouts: int = 0
    skipped: str = ""
    plan: list[dict[str, Any]] = field(default_factory=list)

    def pct(self, q: float) -> float:
        return percentile(self.times_ms + [math.inf] * self.timeouts, q)

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p95(self) -> float:
        return self.pct(95)

    @property
    def max(self) -> float:
        return self.pct(100)

    @property
    def reps(self) -> int:
        return len(self.times_ms) + self.timeouts


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) that keeps +inf (a timeout) as such."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    if math.isinf(ordered[hi]):
        return math.inf
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class WalkResult:
    n: int
    page_size: int
    pages: int
    seen: int
    seconds: float
    page_ms: list[float]
    stopped: str = ""
    plan: list[dict[str, Any]] = field(default_factory=list)

    @property
    def estimated_seconds(self) -> float:
        """The whole walk's time; an extrapolation when the walk stopped at its budget."""
        return self.seconds if self.seen >= self.n else self.seconds * self.n / max(self.seen, 1)


@dataclass
class Results:
    started: str
    args: dict[str, Any]
    machine: dict[str, Any]
    register: list[RegisterResult] = field(default_factory=list)
    promote: dict[str, Any] | None = None
    query_n: int | None = None
    queries: list[QueryResult] = field(default_factory=list)
    walk: WalkResult | None = None
    mlflow: dict[str, Any] | None = None
    mlflow_error: str | None = None
    wall_seconds: float = 0.0
    interrupted: bool = False


# ---- machine and versions ---------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gib = round(int(line.split()[1]) / 1024**2, 1)
    import sqlalchemy

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "shoal": shoal.__version__,
        "shoal_commit": _shoal_commit(),
        "loadavg_start": _loadavg(),
    }


def _shoal_commit() -> str:
    """The commit of the working tree, ``+dirty`` when tracked files under src/ differ."""
    commit = _git("rev-parse", "--short=12", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", "src")
    return (commit or "unknown") + ("+dirty" if dirty else "")


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ---- the synthetic fleet ----------------------------------------------------------------------


def store_name(i: int) -> str:
    return f"s{i:04d}"


def sku_name(i: int) -> str:
    return f"k{i:04d}"


def layout(n: int) -> tuple[int, int]:
    """(stores, SKUs per store): 1,000 SKUs per store, e.g. 1,000 x 1,000 at 1M."""
    skus = min(SKUS_PER_STORE, n)
    return -(-n // skus), skus


def make_batch(
    start: int, count: int, skus: int, run_id: int, dataset_id: int, seed: int
) -> list[dict[str, Any]]:
    """Records ``start .. start+count`` of the fleet: params, metrics, artifact, lineage."""
    rng = np.random.default_rng(seed)
    coef = np.round(rng.normal(0.0, 0.5, size=(count, len(FEATURES))), 7).tolist()
    intercept = np.round(rng.uniform(1, 100, size=count), 6).tolist()
    alpha = np.round(rng.uniform(0.001, 1.0, size=count), 6).tolist()
    mape = rng.uniform(0.0, 1.0, size=count).tolist()
    rmse = rng.gamma(2.0, 5.0, size=count).tolist()
    bias = rng.normal(0.0, 0.1, size=count).tolist()
    fingerprints = rng.bytes(16 * count).hex()
    out = []
    dumps = json.dumps
    for j in range(count):
        i = start + j
        artifact = dumps(
            {"coef": dict(zip(FEATURES, coef[j], strict=True)), "intercept": intercept[j],
             "v": 1},
            sort_keys=True, separators=(",", ":"),
        ).encode()  # fmt: skip
        out.append(
            {
                "key": {"store": store_name(i // skus), "sku": sku_name(i % skus)},
                "artifact": artifact,
                "flavor": "linear",
                "params": {"alpha": alpha[j], "l1_ratio": 0.5, "max_iter": 1000,
                           "features": len(FEATURES), "horizon": 28},
                "metrics": {"mape": mape[j], "rmse": rmse[j], "bias": bias[j]},
                "run": run_id,
                "dataset": dataset_id,
                "slice_fingerprint": fingerprints[32 * j : 32 * j + 32],
            }
        )  # fmt: skip
    return out


def small_frame() -> Any:
    import pandas as pd

    rng = np.random.default_rng(7)
    days = pd.date_range("2026-01-01", periods=60, freq="D")
    return pd.DataFrame(
        {
            "store": np.repeat([store_name(i) for i in range(5)], 60),
            "sku": np.tile([sku_name(0)], 300),
            "day": np.tile(days, 5),
            "units": rng.poisson(20, size=300),
            "price": np.round(rng.uniform(1, 9, size=300), 2),
        }
    )


def open_store(root: Path) -> shoal.Client:
    return shoal.connect(f"sqlite:///{root / 'shoal.db'}", str(root / "artifacts"))


# ---- registration -----------------------------------------------------------------------------


def bench_register(
    n: int, workdir: Path, batch_size: int, progress: Progress
) -> tuple[RegisterResult, shoal.Client, shoal.Fleet]:
    root = workdir / f"shoal-{n}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    client = open_store(root)
    fleet = client.fleet(FLEET, keys=["store", "sku"])
    dataset = client.datasets.register(small_frame(), name="bench/sales")
    run_id = fleet.start_run("train", params={"bench": "registry", "n": n})
    stores, skus = layout(n)
    task = progress.add_task(f"register {n:,}", total=n)
    seconds = generate = 0.0
    artifact_bytes = 0
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        t0 = time.perf_counter()
        batch = make_batch(start, count, skus, run_id, dataset.id, seed=start)
        generate += time.perf_counter() - t0
        artifact_bytes += sum(len(r["artifact"]) for r in batch)
        t0 = time.perf_counter()
        placed = fleet.register(batch)
        seconds += time.perf_counter() - t0
        assert len(placed) == count, (len(placed), count)
        del batch, placed
        progress.update(
            task, advance=count,
            description=f"register {n:,} ({(start + count) / seconds:,.0f}/s)",
        )  # fmt: skip
    client.finish_run(run_id, counts={"versions": n})
    progress.remove_task(task)
    got = fleet.count()
    if got != n:
        raise SystemExit(f"store for N={n} holds {got} models, expected {n}")
    result = RegisterResult(
        n=n, batch_size=min(batch_size, n), stores=stores, skus=skus, seconds=seconds,
        generate_seconds=generate, artifact_bytes_mean=artifact_bytes / n,
        db_bytes=sum(p.stat().st_size for p in root.glob("shoal.db*")),
        artifact_store_bytes=_dir_bytes(root / "artifacts"),
    )  # fmt: skip
    return result, client, fleet


# ---- queries ----------------------------------------------------------------------------------


class Guard:
    """Stops a query that runs past ``timeout`` seconds, via ``sqlite3.Connection.interrupt``.

    A query that takes minutes at a million rows would otherwise hold the benchmark (and
    Ctrl-C, which Python only sees between statements) for as long as it runs. The guard
    listens to every statement SQLAlchemy sends and remembers its DBAPI connection; a timer
    interrupts it. Interrupting a connection with no statement running does nothing.
    """

    def __init__(self, timeout: float) -> None:
        import sqlalchemy as sa

        self.timeout = timeout
        self.current: Any = None
        self.statements: list[list[Any]] = []  # [statement, parameters, ms or None]
        self._started = 0.0
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._before)
        sa.event.listen(sa.engine.Engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.current = conn.connection.dbapi_connection
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "COMMIT")):
            self.statements.append([statement, parameters, None])
        self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.statements and self.statements[-1][0] is statement:
            self.statements[-1][2] = (time.perf_counter() - self._started) * 1000.0

    def _interrupt(self) -> None:
        dbapi = self.current
        if dbapi is not None and hasattr(dbapi, "interrupt"):
            dbapi.interrupt()

    def run(self, fn: Callable[[], Any]) -> tuple[float, bool]:
        """Milliseconds the call took, and False when it was stopped at the timeout."""
        import sqlalchemy as sa

        self.statements = []
        timer = threading.Timer(self.timeout, self._interrupt)
        timer.daemon = True
        t0 = time.perf_counter()
        timer.start()
        try:
            fn()
        except sa.exc.OperationalError as exc:
            if "interrupt" not in str(exc).lower():
                raise
            return (time.perf_counter() - t0) * 1000.0, False
        finally:
            timer.cancel()
        return (time.perf_counter() - t0) * 1000.0, True


def explain(db_path: Path, statements: list[list[Any]]) -> list[dict[str, Any]]:
    """Each statement of one call: its time (None: stopped), SQL and SQLite's plan."""
    out = []
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        for statement, parameters, ms in statements:
            try:
                rows = con.execute("EXPLAIN QUERY PLAN " + statement, parameters or ()).fetchall()
                plan = [row[3] for row in rows]
            except sqlite3.Error as exc:
                plan = [f"(EXPLAIN failed: {exc})"]
            sql = re.sub(r"\(\?(, \?)+\)", "(?, ...)", " ".join(statement.split()))
            out.append({"ms": ms, "sql": sql, "plan": plan})
    finally:
        con.close()
    return out


def bench_queries(
    fleet: shoal.Fleet, n: int, db_path: Path, args: argparse.Namespace, guard: Guard,
    progress: Progress, results: Results,
) -> None:  # fmt: skip
    stores, skus = layout(n)
    rng = random.Random(42)
    half = store_name(stores // 2)

    def pick_store() -> str:  # a store with all its SKUs (the last one may be partial)
        return store_name(rng.randrange(max(1, n // skus)))

    def pick_sku() -> str:
        return sku_name(rng.randrange(skus))

    def pick_threshold() -> float:
        return round(rng.uniform(0.5, 0.95), 3)

    task = progress.add_task(f"promote production where store < '{half}'", total=None)
    t0 = time.perf_counter()
    move = fleet.promote("production", where=f"store < '{half}'", preview=0)
    results.promote = {
        "where": f"store < '{half}'", "moved": move.moved, "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    progress.remove_task(task)
    if move.moved == 0:
        raise SystemExit("promote moved no model: the query benchmark needs the alias")

    # Each case makes, per repetition, a call with fresh parameters (store, threshold).
    cases: list[tuple[str, str, Callable[[], Callable[[], Any]], bool]] = []

    def case(name: str, call: str, extra: bool = False):  # type: ignore[no-untyped-def]
        def wrap(make: Callable[[], Callable[[], Any]]) -> None:
            cases.append((name, call, make, extra))

        return wrap

    @case("filter by one key value", "search(\"store = 's0123'\", limit=50)")
    def _key():  # type: ignore[no-untyped-def]
        s = pick_store()
        return lambda: _expect(fleet.search(f"store = '{s}'", limit=50), 50)

    @case("filter by the second key", "search(\"sku = 'k0042'\", limit=50)", extra=True)
    def _sku():  # type: ignore[no-untyped-def]
        k = pick_sku()
        return lambda: _expect(fleet.search(f"sku = '{k}'", limit=50), min(50, stores))

    page2: dict[str, Any] = {}

    @case("metric threshold, sorted by it", 'search("mape > 0.9", sort="-mape", limit=50)')
    def _metric():  # type: ignore[no-untyped-def]
        t = pick_threshold()

        def call() -> Any:
            page = _expect(fleet.search(f"mape > {t}", sort="-mape", limit=50), 50)
            page2["metric"] = (t, page.next_cursor)
            return page

        return call

    @case("  its second page", 'search("mape > 0.9", sort="-mape", limit=50, cursor=c)')
    def _metric2():  # type: ignore[no-untyped-def]
        t, cursor = page2["metric"]
        return lambda: _expect(
            fleet.search(f"mape > {t}", sort="-mape", limit=50, cursor=cursor), 50
        )

    @case("alias", "search(\"alias = 'production'\", limit=50)")
    def _alias():  # type: ignore[no-untyped-def]
        def call() -> Any:
            page = _expect(fleet.search("alias = 'production'", limit=50), 50)
            page2["alias"] = page.next_cursor
            return page

        return call

    @case("  its second page", "search(\"alias = 'production'\", limit=50, cursor=c)")
    def _alias2():  # type: ignore[no-untyped-def]
        cursor = page2["alias"]
        return lambda: _expect(fleet.search("alias = 'production'", limit=50, cursor=cursor), 50)

    @case(
        "alias and metric, sorted",
        'search("mape > 0.9 and alias = \'production\'", sort="-mape", limit=50)',
        extra=True,
    )
    def _alias_metric():  # type: ignore[no-untyped-def]
        t = pick_threshold()
        return lambda: _expect(
            fleet.search(f"mape > {t} and alias = 'production'", sort="-mape", limit=50), 50
        )

    @case("facets of one dimension", 'facets("store")')
    def _facets():  # type: ignore[no-untyped-def]
        return lambda: _expect_len(fleet.facets("store"), min(100, stores))

    @case("facets with a filter", 'facets("store", where="mape > 0.9")', extra=True)
    def _facets_where():  # type: ignore[no-untyped-def]
        t = pick_threshold()
        return lambda: fleet.facets("store", where=f"mape > {t}")

    @case("count, whole fleet", "count()")
    def _count():  # type: ignore[no-untyped-def]
        return lambda: _expect_eq(fleet.count(), n)

    @case("count, one key value", "count(\"store = 's0123'\")")
    def _count_key():  # type: ignore[no-untyped-def]
        s = pick_store()
        return lambda: _expect_eq(fleet.count(f"store = '{s}'"), skus)

    @case("count, alias", "count(\"alias = 'production'\")", extra=True)
    def _count_alias():  # type: ignore[no-untyped-def]
        return lambda: _expect_eq(fleet.count("alias = 'production'"), move.moved)

    @case("count, metric threshold", 'count("mape > 0.9")', extra=True)
    def _count_metric():  # type: ignore[no-untyped-def]
        t = pick_threshold()
        return lambda: fleet.count(f"mape > {t}")

    task = progress.add_task("queries", total=len(cases) * args.reps)
    for name, call, make, extra in cases:
        result = QueryResult(name, call, [], extra=extra)
        results.queries.append(result)
        progress.update(task, description=f"query: {name.strip()}")
        spent = 0.0
        for _ in range(args.reps):
            try:
                fn = make()
            except KeyError:
                result.skipped = "its first page timed out"
                break
            ms, finished = guard.run(fn)
            spent += ms / 1000.0
            progress.advance(task)
            if not finished:
                result.timeouts += 1
                break  # the next repetitions would time out as well
            result.times_ms.append(ms)
            if spent > args.query_budget:
                break
        if guard.statements and not result.skipped and not result.p95 < TARGET_QUERY_P95_MS:
            result.plan = explain(db_path, guard.statements)
        progress.update(task, completed=len(results.queries) * args.reps)
    progress.remove_task(task)


def bench_walk(
    fleet: shoal.Fleet, n: int, db_path: Path, args: argparse.Namespace, guard: Guard,
    progress: Progress,
) -> WalkResult:  # fmt: skip
    """Every model of the fleet, page by page with keyset cursors (up to ``--walk-budget``)."""
    task = progress.add_task(f"walk the fleet, {args.page_size} per page", total=n)
    cursor = None
    seen = 0
    page_ms: list[float] = []
    stopped = ""
    statements: list[list[Any]] = []
    pages: list[Any] = []
    t_start = time.perf_counter()
    while True:

        def call(c: str | None = cursor) -> None:
            pages.append(fleet.search(limit=args.page_size, cursor=c))

        ms, finished = guard.run(call)
        if not finished:
            stopped = f"a page ran past the {args.query_timeout:g} s timeout"
            break
        page = pages.pop()
        page_ms.append(ms)
        seen += len(page)
        progress.advance(task, len(page))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        statements = guard.statements
        if time.perf_counter() - t_start > args.walk_budget:
            stopped = f"stopped at the {args.walk_budget:g} s budget"
            break
    seconds = time.perf_counter() - t_start
    progress.remove_task(task)
    if not stopped and seen != n:
        raise SystemExit(f"the walk saw {seen} versions, expected {n}")
    plan = explain(db_path, statements) if statements else []
    return WalkResult(n, args.page_size, len(page_ms), seen, seconds, page_ms, stopped, plan)


def _expect(page: Any, at_least: int) -> Any:
    if len(page) < at_least:
        raise SystemExit(f"a query returned {len(page)} rows, expected {at_least}")
    return page


def _expect_len(facets: dict[str, int], size: int) -> dict[str, int]:
    if len(facets) != size:
        raise SystemExit(f"facets returned {len(facets)} values, expected {size}")
    return facets


def _expect_eq(value: int, expected: int) -> int:
    if value != expected:
        raise SystemExit(f"count returned {value}, expected {expected}")
    return value


# ---- MLflow -----------------------------------------------------------------------------------


def mlflow_python(venv: Path, log: Path) -> tuple[Path | None, str | None]:
    """MLflow's own interpreter: reuse the venv when MLflow imports there, else build it."""
    python = venv / "bin" / "python"
    if python.exists() and _mlflow_version(python):
        return python, None
    with console.status(f"creating MLflow's venv at {venv} (pip install mlflow; log: {log})"):
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            steps = [
                [_base_python(), "-m", "venv", "--clear", str(venv)],
                [str(python), "-m", "pip", "install", "--upgrade", "pip"],
                [str(python), "-m", "pip", "install", "mlflow"],
            ]
            for step in steps:
                out.write(f"$ {' '.join(step)}\n")
                out.flush()
                try:
                    done = subprocess.run(
                        step, stdout=out, stderr=subprocess.STDOUT, timeout=1800, check=False
                    )
                except (OSError, subprocess.SubprocessError) as exc:
                    return None, f"{' '.join(step[:4])}: {exc}"
                if done.returncode != 0:
                    tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                    return None, f"{' '.join(step[-3:])} failed: " + " | ".join(tail)
    if not _mlflow_version(python):
        return None, f"mlflow does not import in {venv} after installing it (see {log})"
    return python, None


def _base_python() -> str:
    """The interpreter Shoal's venv was made from (a venv of a venv also works)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix) / "bin" / f"python{version}"
    return str(base) if base.exists() else sys.executable


def _mlflow_version(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import mlflow; print(mlflow.__version__)"],
            capture_output=True, text=True, timeout=300, env=_child_env(),
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", RAY_USAGE_STATS_ENABLED="0",
        AWS_EC2_METADATA_DISABLED="true", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    return env


def bench_mlflow(
    python: Path, models: int, workdir: Path, progress: Progress
) -> tuple[dict[str, Any] | None, str | None]:
    root = workdir / "mlflow"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    out_file = root / "result.json"
    log = root / "mlflow.log"
    task = progress.add_task(f"MLflow: register {models:,} models", total=models)
    cmd = [str(python), str(MLFLOW_SCRIPT), "--models", str(models), "--workdir", str(root),
           "--out", str(out_file)]  # fmt: skip
    with log.open("w") as log_out:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log_out, text=True, env=_child_env()
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("PROGRESS "):
                    progress.update(task, completed=int(line.split()[1]))
                else:
                    log_out.write(line)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            progress.remove_task(task)
    if proc.returncode != 0 or not out_file.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        return None, f"mlflow_registry.py exited {proc.returncode}: " + " | ".join(tail)
    return json.loads(out_file.read_text()), None


# ---- report -----------------------------------------------------------------------------------


def _ok(good: bool, markup: bool = True) -> str:
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
            _ok(r.seconds < TARGET_REGISTER_1M_S, markup) if is_1m else "-",
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
            _ok(q.p95 < TARGET_QUERY_P95_MS, markup),
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


def _md_table(columns: tuple[str, ...], rows: list[list[str]], right_from: int) -> list[str]:
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
        lines += _md_table(REGISTER_COLUMNS, register_rows(results, markup=False), 0)
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
        lines += _md_table(QUERY_COLUMNS, query_rows(results, markup=False), 2)
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


# ---- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="comma-separated version counts (default: 10000,100000,1000000)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=100_000,
        help="versions per fleet.register call (default: 100000)",
    )
    p.add_argument("--reps", type=int, default=50, help="repetitions per query (default: 50)")
    p.add_argument("--page-size", type=int, default=1000, help="page size of the fleet walk")
    p.add_argument(
        "--query-timeout",
        type=float,
        default=10.0,
        help="stop one query call after this many seconds (default: 10)",
    )
    p.add_argument(
        "--query-budget",
        type=float,
        default=60.0,
        help="stop repeating a query once it has taken this many seconds (default: 60)",
    )
    p.add_argument(
        "--walk-budget",
        type=float,
        default=600.0,
        help="stop the fleet walk after this many seconds (default: 600)",
    )
    p.add_argument("--no-queries", action="store_true", help="registration only")
    p.add_argument(
        "--mlflow-models", type=int, default=2000, help="models MLflow registers (default: 2000)"
    )
    p.add_argument("--no-mlflow", action="store_true", help="skip the MLflow comparison")
    p.add_argument(
        "--mlflow-venv",
        type=Path,
        default=MLFLOW_VENV,
        help=f"MLflow's own venv, created when missing (default: {MLFLOW_VENV})",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=HERE / ".work",
        help="where the stores go (default: benchmarks/.work)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep every store (default: keep only the largest, for EXPLAIN)",
    )
    p.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="also write the result tables as Markdown to this file",
    )
    args = p.parse_args(argv)  # fmt: skip
    try:
        args.size_list = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s})
    except ValueError:
        p.error(f"--sizes takes numbers separated by commas, got {args.sizes!r}")
    if not args.size_list or min(args.size_list) < 1:
        p.error("--sizes needs at least one positive number")
    if args.batch_size < 1 or args.reps < 1 or not 1 <= args.page_size <= 1000:
        p.error("--batch-size and --reps must be positive, --page-size 1..1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["SHOAL_USER"] = "bench"
    results = Results(
        started=time.strftime("%Y-%m-%d %H:%M %Z"),
        args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        machine=machine_info(),
    )
    t_start = time.perf_counter()
    mlflow_py = None
    clients: list[shoal.Client] = []
    try:
        if not args.no_mlflow:
            mlflow_py, results.mlflow_error = mlflow_python(
                args.mlflow_venv.resolve(), workdir / "mlflow-install.log"
            )
            if results.mlflow_error:
                console.print(f"[yellow]MLflow unavailable, continuing without it:[/] "
                              f"{results.mlflow_error}")  # fmt: skip
        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), console=console,
        )  # fmt: skip
        with progress:
            largest = None
            for n in args.size_list:
                result, client, fleet = bench_register(n, workdir, args.batch_size, progress)
                results.register.append(result)
                console.print(
                    f"registered {n:,} versions in {result.seconds:,.1f} s "
                    f"({result.per_second:,.0f}/s)"
                )
                if largest is not None:
                    _drop(largest, workdir, keep=args.keep)
                largest = (client, n)
                clients.append(client)
            if not args.no_queries and largest is not None:
                client, n = largest
                fleet = client.fleet(FLEET)
                results.query_n = n
                guard = Guard(args.query_timeout)
                db_path = workdir / f"shoal-{n}" / "shoal.db"
                bench_queries(fleet, n, db_path, args, guard, progress, results)
                results.walk = bench_walk(fleet, n, db_path, args, guard, progress)
            if mlflow_py is not None:
                results.mlflow, results.mlflow_error = bench_mlflow(
                    mlflow_py, args.mlflow_models, workdir, progress
                )
    except KeyboardInterrupt:
        results.interrupted = True
    finally:
        for client in clients:
            client.close()
        results.wall_seconds = time.perf_counter() - t_start
        results.machine["loadavg_end"] = _loadavg()
        end_commit = _shoal_commit()
        if end_commit != results.machine["shoal_commit"]:
            results.machine["shoal_commit_end"] = end_commit
            console.print(
                f"[yellow]Shoal's source changed during the run: {results.machine['shoal_commit']}"
                f" at the start, {end_commit} at the end (this process kept the first)[/]"
            )
        save(results, workdir, args.markdown)
        print_report(results)
        console.print(f"[dim]results: {workdir / 'results.json'}"
                      + (f", {args.markdown}" if args.markdown else "") + "[/]")  # fmt: skip
    return 130 if results.interrupted else 0


def _drop(previous: tuple[shoal.Client, int], workdir: Path, *, keep: bool) -> None:
    client, n = previous
    client.close()
    if not keep:
        shutil.rmtree(workdir / f"shoal-{n}", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
