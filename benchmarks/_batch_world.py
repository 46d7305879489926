"""The batch-scoring benchmark's world: the data, and per flavor a fleet and its copies.

Built once per size under ``<workdir>/world-<models>x<rows per model>-s<seed>/`` and reused
while each part's marker ``<part>.done.json`` beside it (written last) matches:

- ``data/store=<store>/part-0.parquet``: a Parquet folder partitioned by store (hive
  style), ``sku`` and eight float64 features ``f0..f7``, ``rows per model`` rows a key,
  each store's keys one after the other. 1,000 SKUs a store at 10,000 models and up
  (100 stores at 100,000), a tenth of the models below that (10 stores).
- ``<flavor>/store/``: a SQLite store with the fleet ``bench/<flavor>`` keyed by (store,
  sku), one version a model registered with ``fleet.register`` (model objects, so each
  has its signature) one store a call, and ``production`` on every model.
  ``linear``: Shoal's ``LinearModel`` with the key's own coefficients and intercept.
  ``lightgbm``: a booster trained on the key's rows (``lightgbm.train``, 10 rounds of at
  most 8 leaves, one thread; the fits run in a process pool of the machine's cores).
- ``<flavor>/bare/<store>/<sku>.joblib``: the same models with ``joblib.dump``, what the
  bare loop loads: the booster itself, and for ``linear`` a scikit-learn
  ``LinearRegression`` holding the same numbers (fitted attributes set, no feature names:
  the loop predicts on numpy arrays).
- ``sample/``: MLflow's sample (every n-th key): ``rows.parquet`` (its rows with
  ``store``), ``linear.json`` (coefficients, intercepts) and ``lightgbm/<i>.txt``
  (boosters in LightGBM's text format), what ``_batch_mlflow.py`` logs into MLflow.

Everything is drawn from ``numpy.random.default_rng([seed, store])``, so a store's rows and
models can be made again in any process (the pool's workers do).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = [f"f{i}" for i in range(8)]
FLAVORS = ("linear", "lightgbm")
TENANT = "bench"
WORLD_VERSION = 1
"""Bumped whenever what is generated changes, so an old world is rebuilt, not reused."""
LGBM_PARAMS = {"objective": "regression", "num_leaves": 8, "min_data_in_leaf": 5,
               "learning_rate": 0.3, "num_threads": 1, "verbose": -1, "seed": 0,
               "deterministic": True}  # fmt: skip
LGBM_ROUNDS = 10


def layout(models: int) -> tuple[int, int]:
    """(stores, SKUs a store): 1,000 SKUs a store from 10,000 models, else a tenth of them."""
    skus = min(1000, max(1, models // 10))
    return -(-models // skus), skus


def store_name(s: int) -> str:
    return f"s{s:04d}"


def sku_name(k: int) -> str:
    return f"k{k:04d}"


@dataclass
class World:
    models: int
    per_model: int
    seed: int
    sample: int
    root: str = ""
    stores: int = 0
    skus: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    version: int = WORLD_VERSION

    @property
    def rows(self) -> int:
        return self.models * self.per_model

    @property
    def path(self) -> Path:
        return Path(self.root)

    @property
    def data(self) -> Path:
        return self.path / "data"

    @property
    def sample_dir(self) -> Path:
        return self.path / "sample"

    def store_db(self, flavor: str) -> Path:
        return self.path / flavor / "store" / "shoal.db"

    def artifacts(self, flavor: str) -> Path:
        return self.path / flavor / "store" / "artifacts"

    def bare(self, flavor: str) -> Path:
        return self.path / flavor / "bare"

    def fleet(self, flavor: str) -> str:
        return f"{TENANT}/{flavor}"

    def keys_of(self, s: int) -> int:
        """How many keys store ``s`` holds (the last store may hold fewer)."""
        return min(self.skus, self.models - s * self.skus)

    def sample_keys(self) -> list[int]:
        """Every n-th model, ``sample`` of them (MLflow's sample)."""
        step = max(1, self.models // max(1, self.sample))
        return list(range(0, self.models, step))[: self.sample]

    def partitions(self) -> list[Path]:
        return sorted(self.data.glob("store=*"))

    def key(self) -> dict[str, Any]:
        return {"models": self.models, "per_model": self.per_model, "seed": self.seed,
                "sample": self.sample, "version": self.version}  # fmt: skip


def world_dir(root: Path, models: int, per_model: int, seed: int) -> Path:
    return root / f"world-{models}x{per_model}-s{seed}"


def store_draw(seed: int, s: int, keys: int, per_model: int) -> dict[str, np.ndarray]:
    """Store ``s``'s rows and models: x ``(keys, rows, 8)``, y, coef ``(keys, 8)``, intercept."""
    rng = np.random.default_rng([seed, s])
    x = rng.normal(0.0, 1.0, (keys, per_model, len(FEATURES)))
    coef = np.round(rng.normal(0.0, 2.0, (keys, len(FEATURES))), 6)
    intercept = np.round(rng.uniform(50.0, 150.0, keys), 6)
    y = intercept[:, None] + np.einsum("krf,kf->kr", x, coef)
    y += rng.normal(0.0, 1.0, y.shape) + 3.0 * np.sin(x[:, :, 0] * 2)  # something to learn
    return {"x": x, "y": y, "coef": coef, "intercept": intercept}


def fit_store(task: tuple[int, int, int, int]) -> list[str]:
    """Store ``s``'s LightGBM boosters, as text (a pool worker's unit of work)."""
    import lightgbm as lgb

    seed, s, keys, per_model = task
    d = store_draw(seed, s, keys, per_model)
    out = []
    for k in range(keys):
        data = lgb.Dataset(d["x"][k], d["y"][k], feature_name=FEATURES,
                           params={"verbose": -1, "min_data_in_bin": 1})  # fmt: skip
        booster = lgb.train(LGBM_PARAMS, data, num_boost_round=LGBM_ROUNDS)
        out.append(booster.model_to_string())
    return out


def _done(folder: Path, want: dict[str, Any]) -> dict[str, Any] | None:
    """What ``folder``'s marker (``<folder>.done.json`` beside it) says, if it matches."""
    meta = folder.with_name(folder.name + ".done.json")
    if not meta.is_file():
        return None
    try:
        found = json.loads(meta.read_text())
    except ValueError:
        return None
    return found if found.get("key") == want else None


def _mark(folder: Path, key: dict[str, Any], **extra: Any) -> None:
    folder.with_name(folder.name + ".done.json").write_text(json.dumps({"key": key, **extra}))


def open_world(root: Path, models: int, per_model: int, seed: int, sample: int) -> World:
    """The world's description (its parts are built by :func:`build_data`, :func:`build_flavor`)."""
    stores, skus = layout(models)
    folder = world_dir(root, models, per_model, seed)
    folder.mkdir(parents=True, exist_ok=True)
    return World(models=models, per_model=per_model, seed=seed, sample=min(sample, models),
                 root=str(folder), stores=stores, skus=skus)  # fmt: skip


def build_data(world: World, advance: Any) -> bool:
    """The Parquet folder and MLflow's sample rows; False when reused as it was."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if found := _done(world.data, world.key()):
        world.seconds.update(found.get("seconds", {}))
        return False
    for folder in (world.data, world.sample_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    began = time.perf_counter()
    sample = set(world.sample_keys())
    sample_parts = []
    for s in range(world.stores):
        keys = world.keys_of(s)
        d = store_draw(world.seed, s, keys, world.per_model)
        skus = np.array([sku_name(k) for k in range(keys)])
        x = d["x"].reshape(keys * world.per_model, len(FEATURES))
        table = pa.table({"sku": np.repeat(skus, world.per_model),
                          **{f: x[:, j] for j, f in enumerate(FEATURES)}})  # fmt: skip
        part = world.data / f"store={store_name(s)}"
        part.mkdir()
        pq.write_table(table, part / "part-0.parquet")
        mine = [k for k in range(keys) if s * world.skus + k in sample]
        if mine:
            rows = np.concatenate([np.arange(k * world.per_model, (k + 1) * world.per_model)
                                   for k in mine])  # fmt: skip
            picked = table.take(pa.array(rows))
            sample_parts.append(picked.add_column(
                0, "store", pa.array([store_name(s)] * len(rows))))  # fmt: skip
        advance(keys)
    pq.write_table(pa.concat_tables(sample_parts), world.sample_dir / "rows.parquet")
    world.seconds["data"] = time.perf_counter() - began
    _mark(world.data, world.key(), seconds={"data": world.seconds["data"]})
    return True


def _lgbm_texts(world: World) -> Iterator[tuple[int, list[str]]]:
    """Each store's booster texts, fitted in a process pool (spawned: no OpenMP state or
    open store is inherited)."""
    tasks = [(world.seed, s, world.keys_of(s), world.per_model) for s in range(world.stores)]
    workers = max(1, min(os.cpu_count() or 1, len(tasks)))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from enumerate(pool.imap(fit_store, tasks))


def build_flavor(world: World, flavor: str, advance: Any) -> bool:
    """The fleet of ``flavor``, its joblib copies and MLflow's sample models; False if reused."""
    import joblib
    import lightgbm as lgb
    from sklearn.linear_model import LinearRegression

    import shoal
    from shoal.flavors.linear import LinearModel

    folder = world.path / flavor
    if found := _done(folder, world.key()):
        world.seconds.update(found.get("seconds", {}))
        return False
    if folder.exists():
        shutil.rmtree(folder)
    world.store_db(flavor).parent.mkdir(parents=True)
    sample = {k: i for i, k in enumerate(world.sample_keys())}
    sample_models: list[dict[str, Any]] = []
    if flavor == "lightgbm":
        (world.sample_dir / "lightgbm").mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    spent = {"fit": 0.0, "register": 0.0, "joblib": 0.0}
    client = shoal.connect(f"sqlite:///{world.store_db(flavor)}", str(world.artifacts(flavor)))
    try:
        fleet = client.fleet(world.fleet(flavor), keys=["store", "sku"])
        texts = _lgbm_texts(world) if flavor == "lightgbm" else None
        for s in range(world.stores):
            keys = world.keys_of(s)
            t0 = time.perf_counter()
            if texts is not None:
                got, boosters_text = next(texts)
                assert got == s
                models: list[Any] = [lgb.Booster(model_str=t) for t in boosters_text]
                bare = models
            else:
                d = store_draw(world.seed, s, keys, world.per_model)
                models, bare = [], []
                for k in range(keys):
                    models.append(LinearModel(float(d["intercept"][k]),
                                              dict(zip(FEATURES, d["coef"][k].tolist(),
                                                       strict=True))))  # fmt: skip
                    lr = LinearRegression()
                    lr.coef_, lr.intercept_ = d["coef"][k].copy(), float(d["intercept"][k])
                    lr.n_features_in_ = len(FEATURES)
                    bare.append(lr)
            t1 = time.perf_counter()
            specs = [{"key": {"store": store_name(s), "sku": sku_name(k)}, "model": m,
                      "metrics": {"rmse": 1.0}} for k, m in enumerate(models)]  # fmt: skip
            placed = fleet.register(specs)
            assert len(placed) == keys
            t2 = time.perf_counter()
            out = world.bare(flavor) / store_name(s)
            out.mkdir(parents=True)
            for k, model in enumerate(bare):
                joblib.dump(model, out / f"{sku_name(k)}.joblib")
                i = s * world.skus + k
                if i in sample:
                    entry = {"store": store_name(s), "sku": sku_name(k)}
                    if flavor == "lightgbm":
                        name = f"{sample[i]}.txt"
                        (world.sample_dir / "lightgbm" / name).write_text(model.model_to_string())
                        entry["file"] = name
                    else:
                        entry |= {"coef": model.coef_.tolist(), "intercept": model.intercept_}
                    sample_models.append(entry)
            spent["fit"] += t1 - t0
            spent["register"] += t2 - t1
            spent["joblib"] += time.perf_counter() - t2
            advance(keys)
        fleet.promote("production", all=True, create=True)
    finally:
        client.close()
    (world.sample_dir / f"{flavor}.json").write_text(json.dumps(sample_models))
    seconds = {f"{flavor}_{k}": v for k, v in spent.items()}
    seconds[f"{flavor}_build"] = time.perf_counter() - began
    world.seconds.update(seconds)
    _mark(folder, world.key(), seconds=seconds)
    return True


def measure_bytes(world: World, flavor: str) -> dict[str, int]:
    """On disk: the data, the store (database and artifacts), the joblib copies."""

    def size(path: Path) -> int:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

    return {"data": size(world.data), "store": size(world.store_db(flavor).parent),
            "joblib": size(world.bare(flavor))}  # fmt: skip


def partition_bytes(world: World) -> dict[str, int]:
    """The largest partition's in-memory Arrow size, and the whole data's."""
    import pyarrow.parquet as pq

    sizes = [pq.read_table(p).nbytes for p in world.partitions()]
    return {"partition": max(sizes), "all": sum(sizes), "partitions": len(sizes)}


def warm(paths: list[Path]) -> int:
    """Read every file under ``paths`` once, so no side meets a cold page cache; bytes."""
    total = 0
    for root in paths:
        for p in root.rglob("*"):
            if p.is_file():
                with p.open("rb") as handle:
                    while chunk := handle.read(16 << 20):
                        total += len(chunk)
    return total


def describe(world: World) -> dict[str, Any]:
    return {k: v for k, v in asdict(world).items()}
