"""The Evidently side of the monitoring benchmark: a sample of the same fleet, per model.

For ``--evidently-sample`` models (a tenth of them, at least one, with injected drift; the
rest drawn from the clean ones, seeded) the reference is the model's training slice, made
again from the world's seed (the same rows its Shoal baseline was profiled from: ``f0..f9``
and ``y``), and the current frame is its logged window read back from the same Parquet
logs Shoal's pass read (the features, ``prediction`` and the ``actual`` joined by request
id and row). :func:`prepare` writes both as Parquet with a ``manifest.json``, and
:func:`run_evidently` runs ``evidently_side.py`` on them in Evidently's own venv
(``_envs.py``); reading the sample from the logs is not timed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import _envs
import _monitoring_world as mw
from _harness import fresh


def choose(world: mw.World, size: int, seed: int) -> list[int]:
    """Model indices of the sample: ``max(1, size // 10)`` drifted ones, the rest clean."""
    rng = np.random.default_rng([seed, 4])
    drifted = np.array(world.drifted, dtype=np.int64)
    size = min(size, world.models)
    n_drift = min(len(drifted), max(1, size // 10))
    clean = np.setdiff1d(np.arange(world.models), drifted)
    picked = np.concatenate([
        rng.choice(drifted, n_drift, replace=False),
        rng.choice(clean, size - n_drift, replace=False),
    ])  # fmt: skip
    return sorted(int(i) for i in picked)


def name_of(i: int) -> str:
    key = mw.key_of(i)
    return f"{key['store']}/{key['sku']}"


def references(world: mw.World, sample: list[int]) -> dict[str, Any]:
    """Each sampled model's training slice as a DataFrame (``f0..f9``, ``y``)."""
    import pandas as pd

    p = mw.params(world.models, world.seed)
    out: dict[str, Any] = {}
    by_batch: dict[int, list[int]] = {}
    for i in sample:
        by_batch.setdefault(i // mw.BATCH, []).append(i)
    for batch, members in by_batch.items():
        start = batch * mw.BATCH
        x, y = mw.training_slices(p, start, min(start + mw.BATCH, world.models), world.seed)
        for i in members:
            frame = pd.DataFrame(x[i - start], columns=mw.FEATURES)
            frame["y"] = y[i - start]
            out[name_of(i)] = frame
    return out


def currents(world: mw.World, sample: list[int]) -> dict[str, Any]:
    """Each sampled model's logged window: features, prediction, and actual (by request)."""
    import duckdb

    ids = world.version_ids()
    wanted = {int(ids[i]): name_of(i) for i in sample}
    con = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    try:
        preds = ", ".join(f"'{p}'" for p in world.prediction_files())
        feedback = ", ".join(f"'{p}'" for p in world.feedback_files())
        features = ", ".join(f'"feature.{f}" AS {f}' for f in mw.FEATURES)
        listed = ", ".join(str(v) for v in wanted)
        logged = con.sql(
            f'SELECT version_id, request_id, "row", {features}, prediction '
            f"FROM read_parquet([{preds}]) WHERE version_id IN ({listed})"
        ).to_arrow_table()
        con.register("logged", logged)
        # The sample's rows are the small side of the join: DuckDB builds on them.
        frame = con.sql(
            "SELECT l.*, f.actual FROM logged l "
            f'JOIN read_parquet([{feedback}]) f USING (request_id, "row")'
        ).df()
    finally:
        con.close()
    columns = [*mw.FEATURES, "prediction", "actual"]
    return {
        wanted[int(v)]: part[columns].reset_index(drop=True)
        for v, part in frame.groupby("version_id")
    }


def prepare(world: mw.World, sample: list[int], folder: Path) -> dict[str, int]:
    """Write the sample for :func:`run_evidently`: per model its reference (``f0..f9``,
    ``y``) and current frame (``f0..f9``, ``prediction``, ``actual``) as Parquet, and
    ``manifest.json``; returns the rows per model of the current frames."""
    current = currents(world, sample)
    reference = references(world, [i for i in sample if name_of(i) in current])
    fresh(folder)
    entries = []
    for i, name in enumerate(reference):
        stem = f"m{i:06d}"
        reference[name].to_parquet(folder / f"{stem}.reference.parquet", index=False)
        current[name].to_parquet(folder / f"{stem}.current.parquet", index=False)
        entries.append({"name": name, "reference": f"{stem}.reference.parquet",
                        "current": f"{stem}.current.parquet"})  # fmt: skip
    manifest = {"features": mw.FEATURES, "models": entries}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return {name: len(frame) for name, frame in current.items()}


def run_evidently(folder: Path, timeout: float, drift: str, warmup: int = 1) -> dict[str, Any]:
    """``evidently_side.py`` on the sample in Evidently's venv (raises ``_envs.Unavailable``
    or ``_envs.ScriptFailed``): per model its figures and seconds, and the summary."""
    models = len(json.loads((folder / "manifest.json").read_text())["models"])
    return _envs.run("evidently", "evidently_side.py",
                     [str(folder), "--warmup", str(warmup), "--drift", drift],
                     folder / "evidently.log", f"Evidently: {models} models, one at a time",
                     models, timeout=timeout)  # fmt: skip
