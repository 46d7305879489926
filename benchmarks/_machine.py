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
