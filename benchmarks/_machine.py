"""The machine and the versions a benchmark run was measured on.

Registry timings mean little without the CPU, the SQLite and SQLAlchemy versions, the
Shoal commit and the load on the machine beside them: the report prints all of these
and ``results.json`` keeps them, so two runs can be told apart and compared fairly.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import shoal

REPO = Path(__file__).resolve().parent.parent


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
        "shoal_commit": shoal_commit(),
        "loadavg_start": loadavg(),
    }


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of ``names`` (distribution names), ``"-"`` for a missing one."""
    from importlib import metadata

    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def shoal_commit() -> str:
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


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class CpuWatch:
    """How much CPU other processes used while a step ran (Linux; elsewhere ``None``).

    On a shared machine a timing means little without it: ``others_cpus`` is the CPU time
    the whole machine spent busy (``/proc/stat``) minus what this process and its
    descendants spent (worker pools, Ray, MLflow's subprocess), over the wall time, in
    CPUs; 1.0 means another process kept one core busy throughout.
    """

    def __enter__(self) -> CpuWatch:
        self.others_cpus: float | None = None
        self._start = (time.perf_counter(), _machine_busy(), _tree_cpu())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, busy0, ours0 = self._start
        wall, busy, ours = time.perf_counter() - wall0, _machine_busy(), _tree_cpu()
        if None not in (busy0, busy) and wall > 0:
            self.others_cpus = max(0.0, ((busy - busy0) - (ours - ours0)) / wall)  # type: ignore[operator]


def _machine_busy() -> float | None:
    """Seconds of CPU the machine has spent busy since boot (every core together)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _tree_cpu() -> float:
    """CPU seconds of this process, its reaped children, and every live descendant."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    parents: dict[int, list[tuple[int, float]]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()  # fields after the command name
        ppid, cpu = int(rest[1]), sum(int(x) for x in rest[11:15]) / tick  # utime..cstime
        parents.setdefault(ppid, []).append((int(entry.name), cpu))
    todo = [os.getpid()]
    while todo:
        for pid, cpu in parents.get(todo.pop(), []):
            total += cpu
            todo.append(pid)
    return total
