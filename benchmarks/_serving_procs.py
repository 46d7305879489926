"""The two servers as processes of their own, and their memory (``psutil``).

``ShoalServer`` runs ``python -m shoal serve`` on a free 127.0.0.1 port, pointed at the
benchmark's store by ``SHOAL_STORE_URL`` / ``SHOAL_ARTIFACTS_URL`` / ``SHOAL_LOGS_URL``;
``MlflowServer`` runs ``mlflow models serve --env-manager local`` from MLflow's own venv.
Each starts in a session of its own, so stopping it reaches every process it started
(MLflow's CLI runs uvicorn as a child): SIGTERM to the group, then SIGKILL to whatever of
the recorded tree is still there. Only those processes are ever signalled (psutil tells a
reused pid from ours by its start time).

Memory: RSS and PSS (a process's share of pages it shares with others, so a tree's PSS
adds up without counting shared libraries twice) from psutil; :class:`RssSampler`, a
thread that reads the RSS every few milliseconds; and the kernel's own peak RSS,
``VmHWM``, which psutil does not expose, from ``/proc/PID/status``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from shoal.testing.servers import LOOPBACK, free_port

KIB = 1024


def rss_kib(pid: int) -> int | None:
    with contextlib.suppress(psutil.Error):
        return int(psutil.Process(pid).memory_info().rss // KIB)
    return None


def hwm_kib(pid: int) -> int | None:
    """The process's peak RSS as the kernel kept it (Linux), None elsewhere or once gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def tree_memory(pid: int) -> dict[str, Any]:
    """RSS and PSS (KiB) of every process of the tree under ``pid``, and their sums."""
    procs = []
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                full = p.memory_full_info()
                words = p.cmdline()
                shown = " ".join([Path(words[0]).name, *words[1:]]) if words else p.name()
                procs.append({"pid": p.pid, "command": shown[:120], "rss_kib": full.rss // KIB,
                              "pss_kib": getattr(full, "pss", 0) // KIB})  # fmt: skip
    return {"processes": procs, "rss_kib": sum(p["rss_kib"] for p in procs),
            "pss_kib": sum(p["pss_kib"] for p in procs)}  # fmt: skip


class RssSampler:
    """A thread reading one process's RSS every ``interval`` seconds; keeps the max."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.max_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.max_kib = max(self.max_kib, self.proc.memory_info().rss // KIB)
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class ServerProcess:
    """A server process in its own session, waited for on ``health``, stopped as a tree."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path, health: str) -> None:
        self.port = free_port()
        self.cmd = [part.format(port=self.port) for part in cmd]
        self.env = env
        self.log = log
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.health = health
        self.proc: subprocess.Popen[bytes] | None = None
        self._tree: dict[int, psutil.Process] = {}

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
                self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.base + self.health, timeout=2).status_code == 200:
                    self.remember_tree()
                    return time.perf_counter() - started
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.cmd[0]} exited {self.proc.returncode}: {self.tail()}")
            if time.perf_counter() - started > timeout:
                self.stop()
                raise RuntimeError(f"no answer on {self.health} in {timeout:.0f} s: {self.tail()}")
            time.sleep(0.1)

    def remember_tree(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(self.proc.pid)
                for p in [root, *root.children(recursive=True)]:
                    self._tree.setdefault(p.pid, p)

    def tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the session's group; SIGKILL to what is left of the tree after 15 s."""
        if self.proc is None:
            return
        self.remember_tree()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.poll()
        _gone, alive = psutil.wait_procs(self.left_running(), timeout=15)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(alive, timeout=5)
        self.proc.poll()

    def left_running(self) -> list[psutil.Process]:
        """Processes of the tree still alive after :meth:`stop` (should be none)."""
        alive = []
        for p in self._tree.values():
            with contextlib.suppress(psutil.Error):
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
        return alive

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def shoal_server(root: Path, cache_mb: int, cache_models: int) -> ServerProcess:
    """``python -m shoal serve`` over the benchmark's store, on a free loopback port, with
    auth on: a ``predict`` token is created and sent with every request (as a service)."""
    import shoal
    from _serving_client import HEADERS

    client = shoal.connect(f"sqlite:///{root / 'shoal.db'}", str(root / "artifacts"))
    try:
        _, secret = client.create_token("bench", "predict", name=f"bench-{os.getpid()}")
    finally:
        client.close()
    HEADERS["authorization"] = f"Bearer {secret}"
    env = {**os.environ, "SHOAL_STORE_URL": f"sqlite:///{root / 'shoal.db'}",
           "SHOAL_ARTIFACTS_URL": str(root / "artifacts"), "SHOAL_LOGS_URL": str(root / "logs"),
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    cmd = [sys.executable, "-m", "shoal", "serve", "--host", LOOPBACK, "--port", "{port}",
           "--cache-mb", str(cache_mb), "--cache-models", str(cache_models)]  # fmt: skip
    return ServerProcess(cmd, env, root / "shoal-serve.log", "/healthz")


def mlflow_server(
    python: Path, model_uri: str, tracking_uri: str, root: Path, env: dict[str, str]
) -> ServerProcess:
    """``mlflow models serve -m URI --env-manager local`` from MLflow's venv, on loopback.

    ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true``: MLflow 3 refuses to load any sklearn
    artifact (skops included) without it; the model is the one this benchmark just logged.
    Its venv's ``bin`` goes first on ``PATH``: the CLI starts ``uvicorn`` by name.
    """
    env = {**env, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION":
           "true", "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}"}  # fmt: skip
    cmd = [str(python), "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager",
           "local", "-h", LOOPBACK, "-p", "{port}"]  # fmt: skip
    return ServerProcess(cmd, env, root / "mlflow-serve.log", "/ping")
