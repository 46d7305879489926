"""Evidently's side of the monitoring benchmark, run in Evidently's own virtual environment.

Evidently pins plotly below 6 and, at 0.7.23, still imports a pandas internal that pandas
3 removed: installed into Shoal's venv it would change what Shoal is tested against. So
it gets ``benchmarks/.envs/evidently`` (``python3.11 -m venv`` and ``pip install`` of
:data:`EVIDENTLY_PINS` on first use, reused while the pins match), and
``evidently_drift.py`` runs there as a subprocess on a folder of Parquet files written
here (:func:`write_sample`), printing its result as one JSON object. The child sees
neither Shoal's venv nor its PYTHONPATH, and Evidently's telemetry is off.

The main benchmark calls::

    python = evidently_python(create=True)        # None: not installable (see LAST_ERROR)
    write_sample(folder, reference, current)      # {model name: DataFrame} each
    result = run_evidently(folder, timeout=600)   # dict; EvidentlyError when it fails

``.venv/bin/python benchmarks/_evidently_side.py`` is a self-check: 20 synthetic models
(365 reference rows, 100 current rows, 3 of them with shifted features) through it all.

Imports only the standard library, numpy, pandas and pyarrow (pandas and pyarrow when a
sample is written).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

HERE = Path(__file__).resolve().parent
EVIDENTLY_VENV = HERE / ".envs" / "evidently"
EVIDENTLY_SCRIPT = HERE / "evidently_drift.py"
INSTALL_LOG = HERE / ".envs" / "evidently-install.log"

EVIDENTLY_PINS = [
    # The newest Evidently on PyPI when this was written; its 0.7 API (Report, Dataset,
    # DataDefinition, presets) is the one evidently_drift.py uses.
    "evidently==0.7.23",
    # Evidently 0.7.23 imports pandas.core.dtypes.common.infer_dtype_from_object, which
    # pandas 3 removed (ImportError on `import evidently`): pip resolves pandas 3.1.1 when
    # it is left free, so pin the newest 2.x.
    "pandas==2.3.3",
    # What pip resolves beside those two, and the versions Shoal's venv has, so both
    # sides run the same numerical code: numpy for everything, scipy for the drift tests
    # (scipy.stats.ks_2samp), scikit-learn for the regression metrics (sklearn.metrics),
    # pyarrow to read the Parquet sample (pandas[parquet], which Evidently requires).
    "numpy==2.4.6",
    "scipy==1.17.1",
    "scikit-learn==1.9.1",
    "pyarrow==26.0.1",
]

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",  # Evidently's event logger (evidently/telemetry.py) checks this
    "ITERATIVE_DO_NOT_TRACK": "1",  # the iterative-telemetry library under it checks this
    "EVIDENTLY_DISABLE_TELEMETRY": "1",  # Evidently's legacy UI and collector read this
    "OTEL_SDK_DISABLED": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "AWS_EC2_METADATA_DISABLED": "true",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}

REFERENCE_TARGET = "y"
CURRENT_COLUMNS = ("prediction", "actual")

LAST_ERROR: str | None = None
"""Why the last :func:`evidently_python` returned None."""


class EvidentlyError(RuntimeError):
    """``evidently_drift.py`` could not run, failed, timed out, or printed no JSON."""


def evidently_python(create: bool) -> Path | None:
    """Evidently's interpreter when its venv holds the pinned versions, else None.

    With ``create`` a missing or outdated venv is (re)made: ``python3.11 -m venv --clear``
    and ``pip install`` of :data:`EVIDENTLY_PINS` (minutes; the log in :data:`INSTALL_LOG`).
    None when it cannot be had; :data:`LAST_ERROR` says why.
    """
    global LAST_ERROR
    LAST_ERROR = None
    python = EVIDENTLY_VENV / "bin" / "python"
    if python.exists() and _pins_match(python):
        return python
    if not create:
        LAST_ERROR = f"no venv with {' '.join(EVIDENTLY_PINS)} at {EVIDENTLY_VENV}"
        return None
    INSTALL_LOG.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [_python311(), "-m", "venv", "--clear", str(EVIDENTLY_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_PINS],
    ]
    with INSTALL_LOG.open("w") as log:
        for step in steps:
            log.write(f"$ {' '.join(step)}\n")
            log.flush()
            try:
                done = subprocess.run(
                    step, stdout=log, stderr=subprocess.STDOUT, env=_child_env(),
                    timeout=1800, check=False,
                )  # fmt: skip
            except (OSError, subprocess.SubprocessError) as exc:
                LAST_ERROR = f"{' '.join(step[:4])}: {exc}"
                return None
            if done.returncode != 0:
                tail = INSTALL_LOG.read_text(errors="replace").strip().splitlines()[-5:]
                LAST_ERROR = f"{' '.join(step[:4])} failed: " + " | ".join(tail)
                return None
    if not _pins_match(python):
        LAST_ERROR = f"the pinned versions do not import in {EVIDENTLY_VENV} (see {INSTALL_LOG})"
        return None
    return python


def _python311() -> str:
    """``python3.11`` on PATH, else the interpreter Shoal's venv was made from."""
    found = shutil.which("python3.11")
    if found:
        return found
    base = Path(sys.base_prefix) / "bin" / "python3.11"
    return str(base) if base.exists() else sys.executable


def _pins_match(python: Path) -> bool:
    """Whether ``python`` imports Evidently and has exactly the pinned distributions."""
    pins = dict(pin.split("==") for pin in EVIDENTLY_PINS)
    code = (
        "import json, sys, evidently\n"
        "from importlib import metadata\n"
        "names = json.loads(sys.argv[1])\n"
        "print(json.dumps({n: metadata.version(n) for n in names}))\n"
    )
    try:
        out = subprocess.run(
            [str(python), "-c", code, json.dumps(sorted(pins))],
            capture_output=True, text=True, timeout=300, env=_child_env(),
        )  # fmt: skip
        return out.returncode == 0 and json.loads(out.stdout) == pins
    except (OSError, subprocess.SubprocessError, ValueError):
        return False


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(TELEMETRY_OFF)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_sample(
    folder: Path | str,
    reference: Mapping[str, pd.DataFrame],
    current: Mapping[str, pd.DataFrame],
) -> Path:
    """Write each model's two frames as Parquet under ``folder``, and its ``manifest.json``.

    ``reference[name]`` is the model's training slice: its numeric feature columns and the
    target ``y``; ``current[name]`` its logged window: the same features, ``prediction``
    and ``actual``. The features are the reference's columns other than ``y``, in order,
    the same for every model (the first model's decide); other columns of the current
    frame are left out. ``folder`` is emptied first. Returns the manifest's path.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if set(reference) != set(current):
        missing = sorted(set(reference) ^ set(current))[:5]
        raise ValueError(f"reference and current name different models, e.g. {missing}")
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    features: list[str] | None = None
    entries = []
    for i, name in enumerate(reference):
        ref, cur = reference[name], current[name]
        if REFERENCE_TARGET not in ref.columns:
            raise ValueError(f"model {name!r}: reference has no {REFERENCE_TARGET!r} column")
        cols = [str(c) for c in ref.columns if c != REFERENCE_TARGET]
        if features is None:
            features = cols
        elif cols != features:
            raise ValueError(f"model {name!r}: reference features {cols} are not {features}")
        lacking = [c for c in (*features, *CURRENT_COLUMNS) if c not in cur.columns]
        if lacking:
            raise ValueError(f"model {name!r}: current frame lacks {lacking}")
        stem = f"m{i:06d}"
        for side, frame in (
            ("reference", ref[[*features, REFERENCE_TARGET]]),
            ("current", cur[[*features, *CURRENT_COLUMNS]]),
        ):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table, folder / f"{stem}.{side}.parquet")
        entries.append(
            {
                "name": str(name),
                "reference": f"{stem}.reference.parquet",
                "current": f"{stem}.current.parquet",
            }
        )
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"features": features or [], "models": entries}))
    return manifest


def run_evidently(
    folder: Path | str,
    timeout: float,
    python: Path | None = None,
    warmup: int = 1,
    drift: str = "preset",
) -> dict[str, Any]:
    """Run ``evidently_drift.py`` in Evidently's venv on ``folder``; its JSON result.

    The result: ``models``, ``seconds_total`` (the timed models, Parquet reads left out),
    ``seconds_per_model`` (``median``, ``mean``, ``min``, ``max``), ``peak_rss_mb`` (the
    child's), ``versions`` (evidently, pandas, numpy, scipy, scikit-learn, pyarrow,
    python), ``drifted_models`` (Evidently's dataset drift: at least half the features
    drifted), ``models_with_drifted_feature`` (at least one), ``import_seconds``,
    ``warmup_seconds``, ``read_seconds``, ``api`` and ``per_model`` (name, seconds,
    drifted_features, drift_share, dataset_drift, stattests, mae, rmse, mape_percent),
    plus ``wall_seconds`` (the whole subprocess, as seen from here).

    ``python`` defaults to :func:`evidently_python` ``(create=False)``; ``warmup`` models
    run untimed first. ``drift="preset"`` is ``DataDriftPreset`` as users run it;
    ``"metrics"`` its metrics alone (``DriftedColumnsCount`` and a ``ValueDrift`` per
    feature: the same tests and verdicts, without the preset's own summary tables, about a
    third faster): Evidently's quickest way to the same answer. The child's stderr goes
    to ``folder/evidently.log``. Raises :class:`EvidentlyError` when the venv is missing,
    the child fails or outlives ``timeout`` seconds (it is killed).
    """
    import time

    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        raise EvidentlyError(f"no sample in {folder} (write_sample writes manifest.json)")
    if python is None:
        python = evidently_python(create=False)
        if python is None:
            raise EvidentlyError(LAST_ERROR or "Evidently's venv is missing")
    log = folder / "evidently.log"
    cmd = [str(python), str(EVIDENTLY_SCRIPT), str(folder), "--warmup", str(warmup)]
    cmd += ["--drift", drift]
    started = time.perf_counter()
    with log.open("w") as err:
        try:
            done = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=_child_env(),
                timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise EvidentlyError(f"evidently_drift.py ran past {timeout:g} s (log: {log})") from exc
        except OSError as exc:
            raise EvidentlyError(f"evidently_drift.py did not start: {exc}") from exc
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise EvidentlyError(f"evidently_drift.py exited {done.returncode}: " + " | ".join(tail))
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise EvidentlyError(f"evidently_drift.py printed no JSON (log: {log})") from exc
    result["wall_seconds"] = wall
    return result


def synthetic_fleet(
    models: int = 20, reference_rows: int = 365, current_rows: int = 100, shifted: int = 3,
    seed: int = 0,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], list[str]]:  # fmt: skip
    """Seeded frames for :func:`write_sample`, and the names of the shifted models.

    Per model: 10 normal features ``f0..f9`` with their own means and scales, ``y`` a
    linear function of them plus noise (kept positive, so MAPE is defined); the current
    window is drawn the same way, its ``prediction`` the true function plus noise, its
    ``actual`` the drawn ``y``. The last ``shifted`` models' current features are moved
    by one standard deviation each.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    features = [f"f{i}" for i in range(10)]
    reference: dict[str, pd.DataFrame] = {}
    current: dict[str, pd.DataFrame] = {}
    drifted = []
    for m in range(models):
        name = f"store{m // 5:02d}/sku{m % 5:02d}"
        mean, scale = rng.normal(0, 3, 10), rng.uniform(0.5, 2.0, 10)
        coef = rng.normal(0, 1, 10)
        shift = scale if m >= models - shifted else 0.0
        if m >= models - shifted:
            drifted.append(name)
        x_ref = rng.normal(mean, scale, (reference_rows, 10))
        x_cur = rng.normal(mean + shift, scale, (current_rows, 10))
        level = 100 + np.abs(mean @ coef)
        ref = pd.DataFrame(x_ref, columns=features)
        ref["y"] = level + (x_ref - mean) @ coef + rng.normal(0, 1, reference_rows)
        cur = pd.DataFrame(x_cur, columns=features)
        truth = level + (x_cur - mean) @ coef
        cur["actual"] = truth + rng.normal(0, 1, current_rows)
        cur["prediction"] = truth + rng.normal(0, 1, current_rows)
        reference[name], current[name] = ref, cur
    return reference, current, drifted


def _self_check() -> int:
    import argparse

    p = argparse.ArgumentParser(description="Evidently's side on a small synthetic fleet")
    p.add_argument("--models", type=int, default=20)
    p.add_argument("--shifted", type=int, default=3)
    p.add_argument("--folder", type=Path, default=HERE / ".work" / "evidently-check")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--drift", choices=("preset", "metrics"), default="preset")
    args = p.parse_args()

    python = evidently_python(create=True)
    if python is None:
        print(f"Evidently unavailable: {LAST_ERROR}", file=sys.stderr)
        return 1
    reference, current, shifted = synthetic_fleet(args.models, shifted=args.shifted)
    write_sample(args.folder, reference, current)
    result = run_evidently(args.folder, args.timeout, python=python, drift=args.drift)
    per_model = result.pop("per_model")
    print(json.dumps(result, indent=2))
    flagged = [m["name"] for m in per_model if m["dataset_drift"]]
    print(f"shifted: {shifted}\nEvidently's dataset drift: {flagged}")
    for m in per_model:
        print(
            f"{m['name']:>14}  {m['seconds']:.3f} s  drifted {len(m['drifted_features']):2d}/10"
            f"  mae {m['mae']:.3f}  rmse {m['rmse']:.3f}  mape {m['mape_percent']:.2f}%"
        )
    return 0 if sorted(flagged) == sorted(shifted) else 1


if __name__ == "__main__":
    sys.exit(_self_check())
