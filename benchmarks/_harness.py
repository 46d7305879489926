"""The one harness every benchmark runs on: arguments, progress, machine, results, tables.

Imported first by every ``bench_*.py`` (as a sibling: Python puts this folder first on
``sys.path`` when it runs a script). On import it turns telemetry off for this process and
every child it starts, before numpy, Shoal, Ray, MLflow or Evidently load. Then::

    bench = Bench("training", __doc__, sizes={"keys": (2000, 40, "LightGBM keys")})
    args = bench.parse(argv)              # --quick, --repeat, --workdir, --out, --markdown
    return bench.run(args, measure, report)

``measure(run)`` fills ``run.data`` (what ``results.json`` keeps) and may be stopped by
Ctrl-C or an error at any point; ``report(run)`` then adds :class:`Table` s and notes made
from ``run.data``, which are printed with rich and written to ``results.json`` (as rows)
and, with ``--markdown``, as Markdown: one set of rows for all three, so they never
disagree. The machine (CPU, RAM, versions, Shoal's commit, load) is recorded and printed
under every report. The exit status is 130 after Ctrl-C, 1 when ``run.errors`` holds
anything (a step failed: the benchmark is broken), else 0; a missed target is reported,
not fatal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",  # Evidently's event logger, and others
    "ITERATIVE_DO_NOT_TRACK": "1",  # the telemetry library under Evidently
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "OTEL_SDK_DISABLED": "true",
    "AWS_EC2_METADATA_DISABLED": "true",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}
os.environ.update(TELEMETRY_OFF)

import psutil  # noqa: E402  (after the environment is set)
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table as RichTable  # noqa: E402
from rich.text import Text  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
console = Console(width=None if sys.stdout.isatty() else 150)
"""The one console everything prints through (150 columns in a log, so tables stay whole)."""


# -- figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) that keeps +inf (a timeout) as such."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    if math.isinf(ordered[hi]):
        return math.inf
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def num(value: float | None, digits: int = 1, unit: str = "") -> str:
    """``1,234.5`` (with ``unit``), or ``-`` for None and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}{unit}"


def secs(value: float | None) -> str:
    """Seconds with the digits that matter: 0.123, 1.23, 12.3."""
    return "-" if value is None else num(value, 3 if value < 1 else 2 if value < 10 else 1)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def fresh(path: Path) -> Path:
    """``path`` as a new empty folder."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# -- the machine -------------------------------------------------------------------------------


def machine_info(packages: Sequence[str] = ()) -> dict[str, Any]:
    """CPU, cores, RAM, OS, versions (of ``packages`` too), Shoal's commit and the load."""
    import sqlalchemy

    import shoal

    return {
        "cpu": _cpu_model(),
        "cores": psutil.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "shoal": shoal.__version__,
        "shoal_commit": shoal_commit(),
        "packages": {name: _version(name) for name in packages},
        "loadavg_start": loadavg(),
    }


def _cpu_model() -> str:
    # psutil has no CPU model name; platform.processor() is empty on most Linux machines
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def shoal_commit() -> str:
    """The commit of the working tree, ``+dirty`` when tracked files under src/ differ."""

    def git(*args: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                 timeout=10)  # fmt: skip
            return out.stdout.strip() if out.returncode == 0 else ""
        return ""

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src")
    return (git("rev-parse", "--short=12", "HEAD") or "unknown") + ("+dirty" if dirty else "")


def loadavg() -> list[float]:
    return [round(x, 2) for x in psutil.getloadavg()]


def tree_cpu_seconds(proc: psutil.Process | None = None) -> float:
    """CPU seconds of a process (this one), its reaped children and every live descendant."""
    proc = proc or psutil.Process()
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


class CpuWatch:
    """How much CPU other processes used while a step ran: ``others_cpus``.

    The CPU time the whole machine spent busy minus what this process and its descendants
    spent (worker pools, Ray, a comparator's subprocess), over the wall time, in CPUs;
    1.0 means another process kept one core busy throughout.
    """

    others_cpus: float | None = None

    def __enter__(self) -> CpuWatch:
        self._start = (time.perf_counter(), _busy(), tree_cpu_seconds())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, busy0, ours0 = self._start
        wall = time.perf_counter() - wall0
        if wall > 0:
            used = (_busy() - busy0) - (tree_cpu_seconds() - ours0)
            self.others_cpus = max(0.0, used / wall)


def _busy() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


# -- progress ----------------------------------------------------------------------------------


def progress(transient: bool = True) -> Progress:
    """A rich progress display on the shared console."""
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=transient, refresh_per_second=4,
    )  # fmt: skip


@contextlib.contextmanager
def bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """One progress bar for one step; yields ``advance(n)``."""
    with progress() as shown:
        task = shown.add_task(description, total=total)
        yield lambda n: shown.update(task, advance=n)


# -- tables ------------------------------------------------------------------------------------


class Code(str):
    """A cell shown as is in the terminal and as ``code`` in Markdown."""


@dataclass
class Table:
    """One report table. ``align`` has a letter per column: ``l``, ``r`` or ``c``.

    A cell is text (rich markup allowed: stripped in Markdown), a :class:`Code`, a number
    already formatted, None (``-``), or a bool: a target met (``yes``) or missed (``NO``).
    """

    title: str
    columns: Sequence[str]
    align: str
    rows: list[list[Any]] = field(default_factory=list)
    sections: set[int] = field(default_factory=set)
    widths: dict[int, int] = field(default_factory=dict)

    def add(self, *cells: Any, section: bool = False) -> None:
        if section and self.rows:
            self.sections.add(len(self.rows))
        self.rows.append(list(cells))

    def cells(self, md: bool) -> list[list[str]]:
        return [[_cell(c, md) for c in row] for row in self.rows]

    def rich(self) -> RichTable:
        table = RichTable(title=self.title)
        for i, (name, a) in enumerate(zip(self.columns, self.align, strict=True)):
            justify = {"l": "left", "r": "right", "c": "center"}[a]
            table.add_column(name, justify=justify, overflow="fold",  # type: ignore[arg-type]
                             max_width=self.widths.get(i))  # fmt: skip
        for i, row in enumerate(self.cells(md=False)):
            if i in self.sections:
                table.add_section()
            table.add_row(*row)
        return table

    def markdown(self) -> list[str]:
        rule = {"l": "---", "r": "---:", "c": ":---:"}
        lines = [
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join(rule[a] for a in self.align) + "|",
        ]
        return lines + ["| " + " | ".join(row) + " |" for row in self.cells(md=True)]


def _cell(value: Any, md: bool) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return (
            ("yes" if value else "**no**") if md else ("[green]yes[/]" if value else "[red]NO[/]")
        )
    if isinstance(value, Code):
        return f"`{value}`" if md else escape(value)
    text = str(value)
    return Text.from_markup(text).plain.replace("|", "\\|") if md else text


def plain(text: str) -> str:
    """``text`` without rich markup."""
    return Text.from_markup(text).plain


# -- one run -----------------------------------------------------------------------------------


class Run:
    """One benchmark run: its arguments, what it measured, the report made from that."""

    def __init__(self, name: str, args: argparse.Namespace, packages: Sequence[str]) -> None:
        self.name = name
        self.args = args
        self.workdir: Path = args.workdir
        self.data: dict[str, Any] = {}
        self.errors: list[str] = []
        self.tables: list[Table] = []
        self.notes: list[str] = []
        self.blocks: list[tuple[str, list[str]]] = []  # (title, preformatted lines)
        self.interrupted = False
        self.wall_seconds = 0.0
        self.started = time.strftime("%Y-%m-%d %H:%M %Z")
        self.machine = machine_info(packages)

    def error(self, what: str, exc: BaseException | None = None) -> str:
        """Record a failed step (the run goes on; the exit status will be 1)."""
        text = f"{what}: {type(exc).__name__}: {exc}" if exc is not None else what
        self.errors.append(text[:500])
        console.print(f"[red]{escape(text[:500])}[/]")
        if exc is not None:
            traceback.print_exception(exc, file=sys.stderr)
        return text

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """A step whose failure is recorded, not raised (Ctrl-C still stops the run)."""
        try:
            yield
        except Exception as exc:
            self.error(what, exc)

    def table(self, title: str, columns: Sequence[str], align: str, **widths: int) -> Table:
        table = Table(title, columns, align, widths={int(k[1:]): v for k, v in widths.items()})
        self.tables.append(table)
        return table

    def block(self, title: str, lines: list[str]) -> None:
        """Preformatted lines under the tables (plans, profiles): a code block in Markdown."""
        self.blocks.append((title, lines))

    def machine_note(self) -> str:
        m = self.machine
        versions = "".join(f", {k} {v}" for k, v in m["packages"].items())
        changed = m.get("shoal_commit_end")
        return (
            f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; Python "
            f"{m['python']}, SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}{versions}; "
            f"Shoal {m['shoal']} at {m['shoal_commit']}"
            + (f" (source changed during the run, to {changed})" if changed else "")
            + f"; load average {m['loadavg_start']} -> {m.get('loadavg_end')}; whole run "
            f"{self.wall_seconds / 60:.1f} min" + (" (quick)" if self.args.quick else "")
        )

    def lines(self) -> list[str]:
        return [*self.notes, self.machine_note(), *(f"error: {e}" for e in self.errors)]

    def print(self) -> None:
        console.print()
        for table in self.tables:
            console.print(table.rich())
        for title, lines in self.blocks:
            console.print(f"[bold]{escape(title)}[/]", highlight=False)
            for line in lines:
                console.print(f"  {escape(line)}", highlight=False)
        for line in self.lines():
            style = "red" if line.startswith("error: ") else "dim"
            console.print(f"[{style}]{escape(line)}[/]", highlight=False)
        if self.interrupted:
            console.print("[yellow]interrupted: the figures above are the ones measured so far[/]")

    def markdown(self) -> str:
        out: list[str] = []
        for table in self.tables:
            out += [f"**{plain(table.title)}**", "", *table.markdown(), ""]
        for title, lines in self.blocks:
            out += [f"{title}:", "", "```", *lines, "```", ""]
        return "\n".join(out + [f"- {line}" for line in self.lines()]) + "\n"

    def save(self, out: Path, md_path: Path | None) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "benchmark": self.name, "started": self.started,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.args).items()},
            "machine": self.machine, "wall_seconds": self.wall_seconds,
            "interrupted": self.interrupted, "errors": self.errors,
            "tables": [{"title": plain(t.title), "columns": list(t.columns),
                        "rows": t.cells(md=False)} for t in self.tables],
            "notes": self.notes, "blocks": dict(self.blocks), **self.data,
        }  # fmt: skip
        text = json.dumps(_finite(record), indent=1, default=_json, allow_nan=False)
        out.write_text(text)
        if md_path:
            md_path.write_text(self.markdown())


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None: strict JSON (``allow_nan=False``) has none."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return _finite(asdict(value))
    return str(value)


# -- arguments and the run ---------------------------------------------------------------------


class Bench:
    """A benchmark's arguments (with its full and ``--quick`` sizes) and its run.

    ``sizes`` maps an argument name to (full default, quick default, help); ``repeat`` is
    the same for ``--repeat``, whose meaning each benchmark gives in its help.
    """

    def __init__(
        self, name: str, doc: str | None, sizes: dict[str, tuple[Any, Any, str]],
        repeat: tuple[int, int, str], packages: Sequence[str] = (),
    ) -> None:  # fmt: skip
        self.name = name
        self.packages = packages
        self.sizes = {**sizes, "repeat": repeat}
        self.parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
        add = self.parser.add_argument
        for key, (full, quick, text) in self.sizes.items():
            add(f"--{key.replace('_', '-')}", type=type(full), default=None,
                help=f"{text} (default: {full}; --quick: {quick})")  # fmt: skip
        add("--quick", action="store_true", help="every size small: the mode CI runs")
        add("--workdir", type=Path, default=HERE / ".work" / name, help="stores and logs")
        add("--out", type=Path, help="results.json (default: <workdir>/results.json)")
        add("--markdown", type=Path, help="also write the tables as Markdown to this file")
        add("--keep", action="store_true", help="keep the stores afterwards")

    def parse(self, argv: list[str] | None = None) -> argparse.Namespace:
        args = self.parser.parse_args(argv)
        for key, (full, quick, _) in self.sizes.items():
            if getattr(args, key) is None:
                setattr(args, key, quick if args.quick else full)
        args.workdir = args.workdir.resolve()
        args.out = (args.out or args.workdir / "results.json").resolve()
        if args.repeat < 1:
            self.parser.error("--repeat must be at least 1")
        return args

    def run(
        self, args: argparse.Namespace, measure: Callable[[Run], None],
        report: Callable[[Run], None],
    ) -> int:  # fmt: skip
        """Measure, then report and save whatever was measured (after Ctrl-C or an error)."""
        args.workdir.mkdir(parents=True, exist_ok=True)
        os.environ["SHOAL_USER"] = "bench"
        run = Run(self.name, args, self.packages)
        began = time.perf_counter()
        try:
            measure(run)
        except KeyboardInterrupt:
            run.interrupted = True
        except (Exception, SystemExit) as exc:  # a check that failed, or a bug
            run.error("the run stopped", exc)
        finally:
            run.wall_seconds = time.perf_counter() - began
            run.machine["loadavg_end"] = loadavg()
            end = shoal_commit()
            if end != run.machine["shoal_commit"]:
                run.machine["shoal_commit_end"] = end
            try:
                report(run)
            except Exception as exc:
                run.error("the report failed", exc)
            run.print()
            run.save(args.out, args.markdown)
            console.print(f"[dim]results: {args.out}"
                          + (f", {args.markdown}" if args.markdown else "") + "[/]")  # fmt: skip
        if run.interrupted:
            return 130
        return 1 if run.errors else 0


@contextlib.contextmanager
def inline_threadpool(*modules: str) -> Iterator[None]:
    """FastAPI's ``run_in_threadpool`` in ``modules`` calls inline, so a sync endpoint (and
    with ``fastapi.dependencies.utils``, a sync dependency) runs on the calling thread,
    where cProfile (per thread) sees it. Nothing under ``src/`` changes."""
    import importlib

    found = [importlib.import_module(m) for m in modules or ("fastapi.routing",)]
    saved = [m.run_in_threadpool for m in found]

    async def inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    for m in found:
        m.run_in_threadpool = inline
    try:
        yield
    finally:
        for m, original in zip(found, saved, strict=True):
            m.run_in_threadpool = original


def top_functions(
    stats: Any, per: int, ours: Callable[[str, str], bool],
    skip: Callable[[Any], bool] | None = None, own: int = 15, cumulative: int = 25,
) -> list[dict[str, Any]]:  # fmt: skip
    """From ``pstats.Stats``: per ``per`` calls, the ``own`` functions with the most own
    time and the ``cumulative`` ones (``ours(file, name)`` only) with the most cumulative
    time; ``skip(func)`` leaves frames out (a harness's own)."""
    rows = []
    for func, (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        if skip is not None and skip(func):
            continue
        file, line, name = func
        rows.append({"file": _short(file), "line": line, "function": name, "calls": calls,
                     "own_ms": tottime * 1000 / per, "cum_ms": cumtime * 1000 / per,
                     "ours": ours(file, name)})  # fmt: skip
    by_own = sorted(rows, key=lambda r: -r["own_ms"])[:own]
    by_cum = sorted((r for r in rows if r["ours"]), key=lambda r: -r["cum_ms"])[:cumulative]
    return [{**r, "kind": "any, own time"} for r in by_own] + [
        {**r, "kind": "Shoal, cumulative"} for r in by_cum
    ]


def _short(file: str) -> str:
    """A file from where its package starts (``shoal/serve/app.py``, ``json/decoder.py``)."""
    for marker in ("/site-packages/", "/src/", str(HERE) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    if "/lib/python3." in file:
        return file.split("/lib/python3.", 1)[1].split("/", 1)[-1]
    return file


def profile_table(run: Run, title: str, rows: list[dict[str, Any]], per: int, unit: str) -> None:
    """The :func:`top_functions` rows as a table: ms per ``unit``."""
    table = run.table(title, ("ranked by", "function", f"calls/{unit}", "own ms",
                              "cumulative ms"), "llrrr")  # fmt: skip
    for r in rows:
        table.add(
            r["kind"],
            Code(f"{r['file']}:{r['line']} {r['function']}"),
            f"{r['calls'] / per:,.1f}",
            f"{r['own_ms']:.3f}",
            f"{r['cum_ms']:.3f}",
        )
