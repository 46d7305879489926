"""A small monitored fleet: versions with real baselines, and logs written in the server's layout.

Each key's training slice has ``x1`` (normal), ``x2`` (uniform), ``promo`` (bool) and the
target ``y``; its version is registered with the slice's baseline profile and a training
``mape``. :func:`write_logs` writes one window of predictions (and feedback) per key the
way ``shoal serve`` lays them out, with drift injected into the keys it is told.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shoal.data import profile
from shoal.flavors.linear import LinearModel

DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def keys(stores: int, skus: int) -> list[dict[str, str]]:
    return [{"store": f"s{s:02d}", "sku": f"k{k:02d}"} for s in range(stores) for k in range(skus)]


def training_slice(rng: np.random.Generator, rows: int = 300) -> pd.DataFrame:
    x1 = rng.normal(10.0, 2.0, rows)
    x2 = rng.uniform(0.0, 1.0, rows)
    promo = rng.random(rows) < 0.2
    y = 3.0 + 2.0 * x1 + 5.0 * x2 + 4.0 * promo + rng.normal(0, 1.0, rows)
    return pd.DataFrame({"x1": x1, "x2": x2, "promo": promo, "y": y})


def register(fleet: Any, all_keys: list[dict[str, str]], seed: int = 0) -> dict[str, int]:
    """One version per key, with its baseline; returns version ids by key text."""
    rng = np.random.default_rng(seed)
    specs = []
    for key in all_keys:
        frame = training_slice(rng)
        specs.append({
            "key": key,
            "model": LinearModel(intercept=3.0, coef={"x1": 2.0, "x2": 5.0, "promo": 4.0}),
            "baseline": profile(frame), "metrics": {"mape": 0.1},
        })  # fmt: skip
    placed = fleet.register(specs)
    return {_text(p.key): p.id for p in placed}


def _text(key: dict[str, str]) -> str:
    return f"{key['store']}/{key['sku']}"


def write_logs(
    root: Path,
    versions: dict[str, int],
    all_keys: list[dict[str, str]],
    *,
    day: dt.datetime = DAY,
    rows: int = 100,
    drift: frozenset[str] = frozenset(),
    bias: frozenset[str] = frozenset(),
    seed: int = 1,
    tenant: str = "grocer",
    fleet: str = "demand",
    by_key_share: float = 0.2,
) -> pd.DataFrame:
    """Predictions and feedback for one day; returns the joined frame (for direct checks).

    Keys in ``drift`` get ``x1`` shifted by two standard deviations; keys in ``bias`` get
    predictions 30 % too high. A share ``by_key_share`` of the actuals is sent by key and
    time instead of by request id.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for key in all_keys:
        text = _text(key)
        data = training_slice(rng, rows)
        if text in drift:
            data["x1"] += 4.0
        prediction = 3.0 + 2.0 * data.x1 + 5.0 * data.x2 + 4.0 * data.promo
        if text in bias:
            prediction *= 1.3
        at = day + pd.to_timedelta(rng.uniform(0, 86000, rows), unit="s")
        frames.append(pd.DataFrame({
            "request_id": [f"{text}-{uuid.uuid4().hex[:8]}" for _ in range(rows)],
            "row": np.zeros(rows, dtype=np.int64), "at": at,
            "version_id": versions[text], "version": 1, "prediction": prediction,
            "key.store": key["store"], "key.sku": key["sku"],
            "feature.x1": data.x1, "feature.x2": data.x2, "feature.promo": data.promo,
            "actual": data.y,
        }))  # fmt: skip
    logged = pd.concat(frames, ignore_index=True)
    part = f"tenant={tenant}/fleet={fleet}/day={day.date().isoformat()}"
    predictions = logged.drop(columns=["actual"])
    _write(root / "predictions" / part, predictions)
    by_key = rng.random(len(logged)) < by_key_share
    fb_at = day + dt.timedelta(days=1)
    by_request = pd.DataFrame({
        "at": fb_at, "actual": logged.actual[~by_key], "request_id": logged.request_id[~by_key],
        "row": logged.row[~by_key],
    })  # fmt: skip
    keyed = logged[by_key]
    by_keys = pd.DataFrame({
        "at": fb_at, "actual": keyed.actual, "key.store": keyed["key.store"],
        "key.sku": keyed["key.sku"], "for_time": keyed["at"] + pd.Timedelta(seconds=0.5),
    })  # fmt: skip
    fb_part = root / "feedback" / f"tenant={tenant}/fleet={fleet}/day={fb_at.date().isoformat()}"
    _write(fb_part, by_request)
    _write(fb_part, by_keys)
    return logged


def _write(folder: Path, frame: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, folder / f"part-{uuid.uuid4().hex}.parquet")


def monitored_two_days(
    fleet: Any, folder: Path, drift: frozenset[str], *, quality: bool = False
) -> None:
    """Register 3 x 4 keys in ``fleet``, add the rule ``drift``, and monitor two days of
    logs written under ``folder / "logs"``, with ``drift`` keys drifted both days (the
    built-in quality rule, which the drifted keys' worse MAPE raises, only if ``quality``)."""
    all_keys = keys(3, 4)
    versions = register(fleet, all_keys)
    fleet.alerts.add_rule("drift", "psi > 0.2 on any feature")
    for day in range(2):
        when = DAY + dt.timedelta(days=day)
        write_logs(folder / "logs", versions, all_keys, day=when, seed=day, drift=drift,
                   tenant=fleet.ref.tenant, fleet=fleet.ref.name)  # fmt: skip
        fleet.monitor("1d", logs=str(folder / "logs"), since=when,
                      until=when + dt.timedelta(days=1), quality_alerts=quality)  # fmt: skip
