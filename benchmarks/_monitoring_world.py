"""The monitored fleet the monitoring benchmark measures: versions with baselines, and logs.

A fleet ``bench/demand`` keyed by (store, sku), 1,000 SKUs a store. Every model has 10
numeric features ``f0..f9`` with its own means and spreads, and a linear target
``y = level + (x - mean) @ coef + noise`` (``level`` >= 100, so MAPE is defined). Each
version is registered with a tiny ``LinearModel`` (the model that made its logged
predictions), the baseline profile of its own 200-row training slice
(``shoal.data.profile``) and its in-sample MAPE, in batches of :data:`BATCH`.

The logs are one day of predictions in the server's layout
(``predictions/tenant=bench/fleet=demand/day=.../part-*.parquet``: ``request_id``, ``row``,
``at``, ``version_id``, ``version``, ``prediction``, ``key.store``, ``key.sku``,
``feature.f0..f9``), written a file at a time from numpy arrays: each file is a slice of
the day's time, its rows go to models drawn uniformly, 4 rows a request (``row`` 0..3).
Feedback for every prediction (``at``, ``actual``, ``request_id``, ``row``) lies in the
next day's folder, each file shuffled. A seeded 1 % of the models have ``f0`` shifted by
two of its standard deviations in the logs: the drift a pass should find.

Everything is seeded: the training slices of any model can be made again
(:func:`training_slices`), which is how the Evidently side gets its reference frames. The
world is built once per size under ``benchmarks/.work/monitoring/<models>x<predictions>``
and reused while ``world.json`` (written last) matches.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import Progress

from _fleet import open_store, sku_name, store_name

FLEET = "bench/demand"
TENANT, FLEET_NAME = FLEET.split("/")
FEATURES = [f"f{i}" for i in range(10)]
SKUS_PER_STORE = 1000
SLICE_ROWS = 200
BATCH = 5000
ROWS_PER_REQUEST = 4
DRIFT_SHARE = 0.01
DRIFT_SD = 2.0
NOISE_SD = 1.0
DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
RULE = ("drift", "drifted_features >= 1")
WORLD_VERSION = 1
"""Bumped whenever what is generated changes, so an old world is rebuilt, not reused."""


@dataclass
class World:
    """What was built, as ``world.json`` keeps it (the arrays live beside it as ``.npy``)."""

    models: int
    predictions: int
    files: int
    seed: int
    day: str = DAY.date().isoformat()
    version: int = WORLD_VERSION
    drifted: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    root: str = ""

    @property
    def path(self) -> Path:
        return Path(self.root)

    @property
    def store_db(self) -> Path:
        return self.path / "store" / "shoal.db"

    @property
    def artifacts(self) -> Path:
        return self.path / "store" / "artifacts"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def since(self) -> float:
        return dt.datetime.fromisoformat(self.day).replace(tzinfo=dt.UTC).timestamp()

    @property
    def until(self) -> float:
        return self.since + 86400

    def version_ids(self) -> np.ndarray:
        return np.load(self.path / "version_ids.npy")

    def prediction_files(self) -> list[Path]:
        return sorted((self.logs / "predictions").rglob("*.parquet"))

    def feedback_files(self) -> list[Path]:
        return sorted((self.logs / "feedback").rglob("*.parquet"))


def world_dir(root: Path, models: int, predictions: int) -> Path:
    return root / f"{models}x{predictions}"


def load(folder: Path, models: int, predictions: int, files: int, seed: int) -> World | None:
    """The world built in ``folder`` when it is complete and of these sizes, else None."""
    meta = folder / "world.json"
    if not meta.is_file():
        return None
    try:
        world = World(**json.loads(meta.read_text()))
    except (TypeError, ValueError):
        return None
    same = (world.models, world.predictions, world.files, world.seed, world.version) == (
        models, predictions, files, seed, WORLD_VERSION,
    )  # fmt: skip
    world.root = str(folder)
    if not same or not (folder / "version_ids.npy").is_file() or not world.store_db.is_file():
        return None
    return world


# -- the models ----------------------------------------------------------------------------


@dataclass
class Params:
    """Per model (row): feature means and spreads, coefficients and the target's level."""

    mean: np.ndarray
    sd: np.ndarray
    coef: np.ndarray
    level: np.ndarray

    @property
    def intercept(self) -> np.ndarray:
        return self.level - np.einsum("mf,mf->m", self.mean, self.coef)


def params(models: int, seed: int) -> Params:
    rng = np.random.default_rng([seed, 0])
    mean = rng.normal(0.0, 3.0, (models, len(FEATURES)))
    sd = rng.uniform(0.5, 2.0, (models, len(FEATURES)))
    coef = np.round(rng.normal(0.0, 1.0, (models, len(FEATURES))), 4)
    level = 100.0 + np.abs(np.einsum("mf,mf->m", mean, coef))
    return Params(mean, sd, coef, level)


def drifted_models(models: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 3])
    count = max(1, round(models * DRIFT_SHARE))
    return np.sort(rng.choice(models, size=count, replace=False))


def training_slices(p: Params, start: int, stop: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training slices of models ``start..stop``: x ``(m, rows, 10)`` and y ``(m, rows)``.

    Seeded by batch (``start`` must be a multiple of :data:`BATCH`), so a model's slice is
    the same whichever models are asked for with it.
    """
    x_parts, y_parts = [], []
    for first in range(start - start % BATCH, stop, BATCH):
        last = min(first + BATCH, len(p.level))
        rng = np.random.default_rng([seed, 1, first])
        m = slice(first, last)
        z = rng.standard_normal((last - first, SLICE_ROWS, len(FEATURES)))
        x = p.mean[m, None, :] + p.sd[m, None, :] * z
        y = p.level[m, None] + np.einsum("mrf,mf->mr", x - p.mean[m, None, :], p.coef[m])
        y += rng.normal(0.0, NOISE_SD, y.shape)
        lo, hi = max(start, first) - first, min(stop, last) - first
        x_parts.append(x[lo:hi])
        y_parts.append(y[lo:hi])
    return np.concatenate(x_parts), np.concatenate(y_parts)


def key_of(i: int) -> dict[str, str]:
    return {"store": store_name(i // SKUS_PER_STORE), "sku": sku_name(i % SKUS_PER_STORE)}


def register(world: World, p: Params, progress: Progress) -> np.ndarray:
    """Register every model's version with its baseline; the version ids, by model."""
    from shoal.data import profile
    from shoal.flavors.linear import LinearModel

    world.store_db.parent.mkdir(parents=True, exist_ok=True)
    client = open_store(world.store_db.parent)
    try:
        fleet = client.fleet(FLEET, keys=["store", "sku"])
        intercept = p.intercept
        ids = np.zeros(world.models, dtype=np.int64)
        task = progress.add_task("register versions with baselines", total=world.models)
        spent = {"slices": 0.0, "profiles": 0.0, "register": 0.0}
        for start in range(0, world.models, BATCH):
            stop = min(start + BATCH, world.models)
            t0 = time.perf_counter()
            x, y = training_slices(p, start, stop, world.seed)
            fitted = intercept[start:stop, None] + np.einsum("mrf,mf->mr", x, p.coef[start:stop])
            mape = np.mean(np.abs(fitted - y) / np.abs(y), axis=1)
            t1 = time.perf_counter()
            specs = []
            for j in range(stop - start):
                i = start + j
                frame = pa.table({**{f: x[j, :, k] for k, f in enumerate(FEATURES)}, "y": y[j]})
                coef = dict(zip(FEATURES, p.coef[i].tolist(), strict=True))
                specs.append({
                    "key": key_of(i),
                    "model": LinearModel(intercept=round(float(intercept[i]), 6), coef=coef),
                    "baseline": profile(frame), "metrics": {"mape": float(mape[j])},
                })  # fmt: skip
            t2 = time.perf_counter()
            placed = fleet.register(specs)
            t3 = time.perf_counter()
            ids[start:stop] = [v.id for v in placed]
            spent["slices"] += t1 - t0
            spent["profiles"] += t2 - t1
            spent["register"] += t3 - t2
            progress.update(task, advance=stop - start)
        progress.remove_task(task)
        fleet.alerts.add_rule(*RULE)
    finally:
        client.close()
    world.seconds.update({f"build_{k}": v for k, v in spent.items()})
    return ids


# -- the logs ------------------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def request_ids(rng: np.random.Generator, count: int) -> pa.Array:
    """``count`` random 32-digit hex ids (what the server makes with ``uuid4().hex``)."""
    raw = np.frombuffer(rng.bytes(16 * count), dtype=np.uint8).reshape(count, 16)
    digits = np.empty((count, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 15]
    return pa.array(digits.view("S32").ravel(), pa.binary()).cast(pa.string())


def write_logs(world: World, p: Params, version_ids: np.ndarray, progress: Progress) -> None:
    """The day's predictions and their feedback, ``world.files`` Parquet files of each."""
    part = f"tenant={TENANT}/fleet={FLEET_NAME}"
    day = DAY.date().isoformat()
    next_day = (DAY + dt.timedelta(days=1)).date().isoformat()
    pred_dir = world.logs / "predictions" / part / f"day={day}"
    fb_dir = world.logs / "feedback" / part / f"day={next_day}"
    for folder in (pred_dir, fb_dir):
        folder.mkdir(parents=True, exist_ok=True)
    is_drifted = np.zeros(world.models, dtype=bool)
    is_drifted[world.drifted] = True
    intercept = p.intercept
    stores = pa.array([store_name(i) for i in range(-(-world.models // SKUS_PER_STORE))])
    skus = pa.array([sku_name(i) for i in range(min(SKUS_PER_STORE, world.models))])
    day_start = int(DAY.timestamp() * 1_000_000)
    per_file = world.predictions // world.files
    task = progress.add_task(f"write {world.predictions:,} predictions + feedback",
                             total=world.predictions)  # fmt: skip
    for k in range(world.files):
        rows = per_file if k < world.files - 1 else world.predictions - per_file * k
        rng = np.random.default_rng([world.seed, 2, k])
        m = rng.integers(0, world.models, rows)
        z = rng.standard_normal((rows, len(FEATURES)))
        x = p.mean[m] + p.sd[m] * z
        x[:, 0] += np.where(is_drifted[m], DRIFT_SD * p.sd[m, 0], 0.0)
        prediction = intercept[m] + np.einsum("rf,rf->r", x, p.coef[m])
        actual = prediction + rng.normal(0.0, NOISE_SD, rows)
        requests = -(-rows // ROWS_PER_REQUEST)
        ids = request_ids(rng, requests)
        of_request = np.arange(rows) // ROWS_PER_REQUEST
        span = 86_400_000_000 // world.files  # this file's slice of the day, in µs
        when = np.sort(rng.integers(0, span, requests)) + day_start + span * k
        at = pa.array(when[of_request], pa.timestamp("us", tz="UTC"))
        rid = ids.take(pa.array(of_request))
        row = pa.array(np.arange(rows) % ROWS_PER_REQUEST, pa.int64())
        predictions = pa.table({
            "request_id": rid, "row": row, "at": at,
            "version_id": pa.array(version_ids[m], pa.int64()),
            "version": pa.array(np.ones(rows, dtype=np.int64)),
            "prediction": pa.array(prediction),
            "key.store": stores.take(pa.array(m // SKUS_PER_STORE)),
            "key.sku": skus.take(pa.array(m % SKUS_PER_STORE)),
            **{f"feature.{f}": pa.array(x[:, j]) for j, f in enumerate(FEATURES)},
        })  # fmt: skip
        name = f"part-{k:03d}.parquet"
        pq.write_table(predictions, pred_dir / name)
        del predictions, x, z
        order = rng.permutation(rows)
        feedback_at = day_start + 86_400_000_000 + rng.integers(0, 86_400_000_000, rows)
        feedback = pa.table({
            "at": pa.array(feedback_at, pa.timestamp("us", tz="UTC")),
            "actual": pa.array(actual[order]),
            "request_id": rid.take(pa.array(order)),
            "row": row.take(pa.array(order)),
        })  # fmt: skip
        pq.write_table(feedback, fb_dir / name)
        progress.update(task, advance=rows)
    progress.remove_task(task)


def build(
    root: Path, models: int, predictions: int, files: int, seed: int, progress: Progress
) -> World:
    """Build the world in ``root`` from nothing (what was there is removed)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    world = World(models=models, predictions=predictions, files=files, seed=seed, root=str(root))
    world.drifted = drifted_models(models, seed).tolist()
    began = time.perf_counter()
    p = params(models, seed)
    ids = register(world, p, progress)
    np.save(root / "version_ids.npy", ids)
    world.seconds["register"] = time.perf_counter() - began
    began = time.perf_counter()
    write_logs(world, p, ids, progress)
    world.seconds["logs"] = time.perf_counter() - began
    world.bytes = {
        "store": sum(f.stat().st_size for f in world.store_db.parent.glob("shoal.db*")),
        "predictions": sum(f.stat().st_size for f in world.prediction_files()),
        "feedback": sum(f.stat().st_size for f in world.feedback_files()),
    }
    meta = {k: v for k, v in asdict(world).items() if k != "root"}
    (root / "world.json").write_text(json.dumps(meta))
    return world


def pass_store(world: World, folder: Path) -> Path:
    """A fresh copy of the built store for one pass (so every pass is the first one)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for f in world.store_db.parent.glob("shoal.db*"):
        shutil.copyfile(f, folder / f.name)
    return folder / "shoal.db"


def warm(paths: list[Path]) -> int:
    """Read files once so a pass finds them in the page cache; their bytes."""
    total = 0
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(16 << 20):
                total += len(chunk)
    return total
