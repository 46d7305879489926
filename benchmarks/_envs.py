"""Comparator environments: MLflow and Evidently, each in a venv of its own, built once.

A comparator pins packages Shoal's venv must not see (Evidently 0.7 wants pandas 2 and
plotly 5; MLflow pins many): installed beside Shoal they would change what Shoal is
tested and measured against. So each gets ``<envs>/<name>`` (``benchmarks/.envs`` unless
``SHOAL_BENCH_ENVS`` names another folder, e.g. one a CI caches), made with ``python -m
venv`` and ``pip install`` of its :data:`PINS` on first use (the log in
``<envs>/<name>-install.log``) and reused while its stamp matches the pins and the
Python. The comparator's script (``mlflow_side.py``, ``evidently_side.py``) then runs
there as a subprocess that sees neither Shoal's venv nor its PYTHONPATH, with telemetry
off, and reports on its stderr ``PROGRESS done total`` lines (shown as a bar) and on its
stdout, last, one JSON object: its result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from _harness import HERE, TELEMETRY_OFF, console, progress

ENVS = Path(os.environ.get("SHOAL_BENCH_ENVS") or HERE / ".envs").resolve()
PINS = {
    # The MLflow the figures in docs/benchmarks.md were measured with.
    "mlflow": ["mlflow==3.17.2"],
    # Evidently's 0.7 API (Report, Dataset, DataDefinition, presets) is the one
    # evidently_side.py uses. 0.7.23 imports a pandas internal pandas 3 removed, so pandas
    # is pinned to the newest 2.x; numpy, scipy, scikit-learn and pyarrow at Shoal's
    # versions, so both sides run the same numerical code.
    "evidently": ["evidently==0.7.23", "pandas==2.3.3", "numpy==2.4.6", "scipy==1.17.1",
                  "scikit-learn==1.9.1", "pyarrow==26.0.1"],
}  # fmt: skip


class Unavailable(RuntimeError):
    """The comparator's venv cannot be made here (no network, no wheel): a skip, not a bug."""


class ScriptFailed(RuntimeError):
    """The comparator's script failed: the benchmark is broken."""


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return {**env, **TELEMETRY_OFF, "PYTHONUNBUFFERED": "1", **extra}


def python(name: str) -> Path:
    """The comparator's interpreter, its venv built first when missing or outdated."""
    venv = ENVS / name
    exe = venv / "bin" / "python"
    stamp = venv / "shoal-bench.json"
    want = {"pins": PINS[name], "python": sys.version.split()[0]}
    if exe.exists() and stamp.exists() and json.loads(stamp.read_text()) == want:
        return exe
    log = ENVS / f"{name}-install.log"
    ENVS.mkdir(parents=True, exist_ok=True)
    steps = [
        [_base_python(), "-m", "venv", "--clear", str(venv)],
        [str(exe), "-m", "pip", "install", "--quiet", *PINS[name]],
        [str(exe), "-c", f"import {name}"],
    ]
    with (
        console.status(f"building {name}'s venv at {venv} (once; log: {log})"),
        log.open("w") as out,
    ):
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            try:
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT,
                                      env=child_env(), timeout=1800, check=False)  # fmt: skip
            except (OSError, subprocess.SubprocessError) as exc:
                raise Unavailable(f"{' '.join(step[:4])}: {exc}") from exc
            if done.returncode != 0 and step is steps[-1]:
                # Installed, yet it does not import: the comparator rotted, not the network.
                raise ScriptFailed(f"{name} installed but does not import: " + _tail(log))
            if done.returncode != 0:
                raise Unavailable(f"{' '.join(step[:5])} failed: " + _tail(log))
    stamp.write_text(json.dumps(want))
    return exe


def _base_python() -> str:
    """The interpreter Shoal's venv was made from (a venv of a venv also works)."""
    base = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    return str(base) if base.exists() else sys.executable


def _tail(log: Path, lines: int = 5) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])


def run(
    name: str, script: str, args: list[str], log: Path, description: str, total: int | None,
    timeout: float = 3600, env: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run ``script`` (a file beside this one) in ``name``'s venv: its JSON result.

    Raises :class:`Unavailable` when the venv cannot be made, :class:`ScriptFailed` when
    the script fails (killed after ``timeout`` s) or prints no JSON (its stderr is in ``log``).
    """
    exe = python(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    stdout = log.with_suffix(".out")
    cmd = [str(exe), str(HERE / script), *args]
    with progress() as shown, log.open("w") as err, stdout.open("w") as out:
        task = shown.add_task(description, total=total)
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True,
                                env=env or child_env(), cwd=HERE)  # fmt: skip
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if line.startswith("PROGRESS "):
                    shown.update(task, completed=int(line.split()[1]))
                else:
                    err.write(line)
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        raise ScriptFailed(f"{script} exited {proc.returncode}: {_tail(log)}")
    try:
        return dict(json.loads(stdout.read_text().strip().splitlines()[-1]))
    except (IndexError, ValueError) as exc:
        raise ScriptFailed(f"{script} printed no JSON (log: {log}, {stdout})") from exc
