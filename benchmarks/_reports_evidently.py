"""Evidently's side of the report benchmark: one report per model, written as HTML.

Evidently has no fleet report: its unit is the model. What a team running it over a fleet
does, per model, is what the monitoring benchmark measures (``evidently_side.py``: a
``DataDriftPreset`` report of the model's features against its training slice and an
MAE/RMSE/MAPE report of its window), plus writing both as the HTML pages a person opens
(``Snapshot.save_html``, ``--html``). Its time and bytes per model, on a sample, are then
scaled to the fleet.

The sample's frames are synthetic and seeded, shaped like the monitoring benchmark's
(which reads them from its logs): per model a reference of 200 rows of ten numeric
features ``f0..f9`` and ``y``, and a current window of 96 rows of the features,
``prediction`` and ``actual``; a tenth of the models with ``f0`` shifted by two standard
deviations. Making them is not timed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import _envs
from _harness import fresh

FEATURES = [f"f{i}" for i in range(10)]
REFERENCE_ROWS = 200
CURRENT_ROWS = 96


def prepare(folder: Path, models: int, seed: int = 0) -> None:
    """Write ``models`` models' reference and current frames and ``manifest.json``."""
    import pandas as pd

    fresh(folder)
    rng = np.random.default_rng([seed, 15])
    entries = []
    for i in range(models):
        means = rng.uniform(0, 10, size=len(FEATURES))
        spreads = rng.uniform(0.5, 3, size=len(FEATURES))
        coef = rng.normal(0, 1, size=len(FEATURES))
        level = rng.uniform(100, 300)

        frames = []
        for count, shift in ((REFERENCE_ROWS, 0.0), (CURRENT_ROWS, 2.0 if i % 10 == 0 else 0.0)):
            x = rng.normal(means, spreads, size=(count, len(FEATURES)))
            x[:, 0] += shift * spreads[0]
            fitted = level + (x - means) @ coef
            frames.append((x, fitted, fitted + rng.normal(0, 1, size=count)))
        x, _, y = frames[0]
        reference = pd.DataFrame(x, columns=FEATURES)
        reference["y"] = y
        x, fitted, y = frames[1]
        current = pd.DataFrame(x, columns=FEATURES)
        current["prediction"] = fitted
        current["actual"] = y
        stem = f"m{i:06d}"
        reference.to_parquet(folder / f"{stem}.reference.parquet", index=False)
        current.to_parquet(folder / f"{stem}.current.parquet", index=False)
        entries.append({"name": f"model-{i}", "reference": f"{stem}.reference.parquet",
                        "current": f"{stem}.current.parquet"})  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps({"features": FEATURES, "models": entries}))


def run(folder: Path, timeout: float, drift: str = "preset", warmup: int = 1) -> dict[str, Any]:
    """``evidently_side.py --html`` on the sample in Evidently's venv (raises
    ``_envs.Unavailable`` or ``_envs.ScriptFailed``)."""
    models = len(json.loads((folder / "manifest.json").read_text())["models"])
    return _envs.run("evidently", "evidently_side.py",
                     [str(folder), "--warmup", str(warmup), "--drift", drift, "--html",
                      str(folder / "html")],
                     folder / "evidently.log", f"Evidently: {models} models' reports as HTML",
                     models, timeout=timeout)  # fmt: skip
