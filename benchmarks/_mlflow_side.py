"""MLflow's side of the comparison, run in MLflow's own virtual environment.

MLflow pins many packages; installing it into Shoal's venv would change what Shoal is
tested and measured against. So it gets ``benchmarks/.envs/mlflow`` (made with
``python -m venv`` and ``pip install mlflow`` on first use, reused afterwards), and
each benchmark's MLflow script (``mlflow_registry.py``, ``mlflow_training.py``) runs
there as a subprocess, reporting progress on stdout and its result as JSON. The child
sees neither Shoal's venv nor its PYTHONPATH, and telemetry is off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.progress import Progress

from _report import console

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".envs" / "mlflow"
MLFLOW_SCRIPT = HERE / "mlflow_registry.py"


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
    """The registry benchmark's MLflow side: ``mlflow_registry.py`` for ``models`` models."""
    return run_in_venv(
        python, MLFLOW_SCRIPT, ["--models", str(models)], workdir / "mlflow", progress,
        f"MLflow: register {models:,} models", total=models,
    )  # fmt: skip


def run_in_venv(
    python: Path, script: Path, args: list[str], root: Path, progress: Progress,
    description: str, total: int,
) -> tuple[dict[str, Any] | None, str | None]:  # fmt: skip
    """Run ``script`` in MLflow's venv on a fresh ``root``: (its JSON result, or why none).

    The script gets ``--workdir root --out root/result.json`` after ``args``, reports
    ``PROGRESS done total`` lines on stdout (shown as a bar), and writes everything else
    to ``root/mlflow.log``, whose tail is the error when it fails.
    """
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    out_file = root / "result.json"
    log = root / "mlflow.log"
    task = progress.add_task(description, total=total)
    cmd = [str(python), str(script), *args, "--workdir", str(root), "--out", str(out_file)]
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
        return None, f"{script.name} exited {proc.returncode}: " + " | ".join(tail)
    return json.loads(out_file.read_text()), None
