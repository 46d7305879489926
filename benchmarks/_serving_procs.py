"""The two servers as processes of their own, and their memory read from ``/proc``.

``ShoalServer`` runs ``python -m shoal serve`` on a free 127.0.0.1 port, pointed at the
benchmark's store by ``SHOAL_STORE_URL`` / ``SHOAL_ARTIFACTS_URL`` / ``SHOAL_LOGS_URL``;
``MlflowServer`` runs ``mlflow models serve --env-manager local`` from MLflow's own venv.
Each starts in a session of its own, so stopping it reaches every process it started
(MLflow's CLI runs uvicorn as a child): SIGTERM to the group, then SIGKILL to whatever of
the recorded tree is still there. Only those processes are ever signalled.

Memory: ``VmRSS`` and ``VmHWM`` (the peak RSS the kernel kept) from ``/proc/PID/status``,
``Pss`` from ``/proc/PID/smaps_rollup`` (a process's share of pages it shares with
others, so a tree's PSS adds up without counting shared libraries twice), and
:class:`RssSampler`, a thread that reads ``VmRSS`` every few milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def status_kib(pid: int, field: str) -> int | None:
    """A ``/proc/PID/status`` figure in KiB (``VmRSS``, ``VmHWM``), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def pss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, parents first (from ``/proc/*/stat``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        todo.extend(sorted(children.get(current, [])))
    return found


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


def command_of(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    parts = [p.decode(errors="replace") for p in raw.split(b"\0") if p]
    shown = " ".join(Path(parts[0]).name if i == 0 else p for i, p in enumerate(parts))
    return shown[:120]


def tree_memory(pid: int) -> dict[str, Any]:
    """RSS and PSS (KiB) of every process of the tree under ``pid``, and their sums."""
    procs = []
    for p in descendants(pid):
        rss = status_kib(p, "VmRSS")
        if rss is None:
            continue
        procs.append(
            {"pid": p, "command": command_of(p), "rss_kib": rss, "pss_kib": pss_kib(p) or 0}
        )
    return {
        "processes": procs,
        "rss_kib": sum(p["rss_kib"] for p in procs),
        "pss_kib": sum(p["pss_kib"] for p in procs),
    }


class RssSampler:
    """A thread reading one process's ``VmRSS`` every ``interval`` seconds; keeps the max."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.max_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = status_kib(self.pid, "VmRSS")
            if rss is not None:
                self.max_kib = max(self.max_kib, rss)
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class _Process:
    """A server process in its own session, waited for on ``health``, stopped as a tree."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path, health: str) -> None:
        self.cmd = cmd
        self.env = env
        self.log = log
        self.port = free_port()
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.health = health
        self.proc: subprocess.Popen[bytes] | None = None
        self._tree: dict[int, str] = {}  # pid -> its start time (a reused pid is not ours)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float) -> float:
        """Start and wait until ``health`` answers 200; the seconds that took."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            started = time.perf_counter()
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + timeout
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.base + self.health, timeout=2).status_code == 200:
                    self.remember_tree()
                    return time.perf_counter() - started
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.cmd[0]} exited {self.proc.returncode}: {self.tail()}")
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"no answer on {self.health} in {timeout:.0f} s: {self.tail()}")
            time.sleep(0.1)

    def remember_tree(self) -> None:
        if self.proc is not None:
            for pid in descendants(self.proc.pid):
                started = _stat(pid)
                if started is not None:
                    self._tree.setdefault(pid, started[1])

    def tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM to the session's group; SIGKILL to what is left of the tree after 15 s."""
        if self.proc is None:
            return
        self.remember_tree()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        if not self._wait_gone(15.0):
            for pid in self.left_running():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            self._wait_gone(5.0)

    def _wait_gone(self, seconds: float) -> bool:
        """Reap our child and wait until no process of the tree runs; False on timeout."""
        assert self.proc is not None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.proc.poll()
            if not self.left_running():
                return True
            time.sleep(0.05)
        return False

    def left_running(self) -> list[int]:
        """Processes of the tree still alive after :meth:`stop` (should be none)."""
        alive = []
        for pid, started in sorted(self._tree.items()):
            now = _stat(pid)
            if now is not None and now[1] == started and now[0] != "Z":
                alive.append(pid)
        return alive

    def __enter__(self) -> _Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ShoalServer(_Process):
    """``python -m shoal serve`` over the benchmark's store, on a free loopback port."""

    def __init__(
        self, root: Path, cache_mb: int, cache_models: int, extra: list[str] | None = None
    ) -> None:
        env = {
            **os.environ,
            "SHOAL_STORE_URL": f"sqlite:///{root / 'shoal.db'}",
            "SHOAL_ARTIFACTS_URL": str(root / "artifacts"),
            "SHOAL_LOGS_URL": str(root / "logs"),
            "PYTHONUNBUFFERED": "1",
        }
        super().__init__([], env, root / "shoal-serve.log", "/healthz")
        self.cmd = [
            sys.executable,
            "-m",
            "shoal",
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--cache-mb",
            str(cache_mb),
            "--cache-models",
            str(cache_models),
            *(extra or []),
        ]


class MlflowServer(_Process):
    """``mlflow models serve -m URI --env-manager local`` from MLflow's venv, on loopback.

    ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true``: MLflow 3 refuses to load any sklearn
    artifact (skops included) without it; the model is the one this benchmark just logged.
    Its venv's ``bin`` goes first on ``PATH``: the CLI starts ``uvicorn`` by name.
    """

    def __init__(
        self, python: Path, model_uri: str, tracking_uri: str, root: Path, env: dict[str, str]
    ) -> None:
        env = {
            **env,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
            # MLflow's CLI runs `uvicorn` by name: its venv's, not another on PATH
            "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
        }
        super().__init__([], env, root / "mlflow-serve.log", "/ping")
        self.cmd = [
            str(python),
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "-h",
            LOOPBACK,
            "-p",
            str(self.port),
        ]
