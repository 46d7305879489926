"""Batch scoring where fleets outgrow a laptop: data, output and logs on S3 (a local S3
server), and parts scored as tasks of a real local Ray cluster."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.test_score import STORES, demand, future  # noqa: F401 (the fixture)

import shoal

pytestmark = pytest.mark.slow


def _write_input(folder: Path) -> pd.DataFrame:
    data = future()
    pq.write_to_dataset(pa.Table.from_pandas(data, preserve_index=False), folder,
                        partition_cols=["store"])  # fmt: skip
    return data


def _by_key(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(store=frame["store"].astype(str))
    return frame.sort_values(["store", "sku", "row"]).reset_index(drop=True)


def test_data_output_and_logs_on_s3(
    demand: shoal.Fleet,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fsspec = pytest.importorskip("fsspec")
    pytest.importorskip("s3fs")
    from shoal.testing import LocalS3Server

    _write_input(tmp_path / "in")
    local = demand.predict(tmp_path / "in", out=tmp_path / "out", log=False, progress=False)
    here = f"score-{uuid.uuid4().hex[:8]}"  # moto keeps its buckets for the process: a prefix
    with LocalS3Server() as s3:
        monkeypatch.setitem(fsspec.config.conf, "s3", s3.storage_options)
        fs = fsspec.filesystem("s3")
        fs.put(str(tmp_path / "in"), f"{s3.bucket}/{here}/in", recursive=True)
        scores = demand.predict(s3.url(f"{here}/in"), out=s3.url(f"{here}/out"),
                                logs=s3.url(f"{here}/logs"), as_of="2026-11-24", workers=2,
                                progress=False)  # fmt: skip
        assert scores.rows_scored == local.rows_scored == 49
        assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{s3.bucket}/{here}/out")) == [
            "_SUCCESS",
            *(f"store={s}" for s in STORES),
        ]
        assert not fs.exists(f"{s3.bucket}/{here}/out.partial")
        fs.get(f"{s3.bucket}/{here}/out", str(tmp_path / "from-s3"), recursive=True)
        fs.get(f"{s3.bucket}/{here}/logs", str(tmp_path / "logs"), recursive=True)
    on_s3 = _by_key(pd.read_parquet(tmp_path / "from-s3"))
    here = _by_key(pd.read_parquet(tmp_path / "out"))
    np.testing.assert_allclose(on_s3["prediction"], here["prediction"])
    logged = pd.read_parquet(tmp_path / "logs" / "predictions")
    assert len(logged) == 49 and set(logged["day"].astype(str)) == {"2026-11-24"}


@pytest.fixture(scope="module")
def cluster() -> Any:
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'shoal[ray]'")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_scores_the_same_rows_as_the_local_pool(
    cluster: Any,
    demand: shoal.Fleet,  # noqa: F811
    tmp_path: Path,
) -> None:
    data = _write_input(tmp_path / "in")
    local = demand.predict(tmp_path / "in", out=tmp_path / "local", logs=str(tmp_path / "l1"),
                           progress=False)  # fmt: skip
    on_ray = demand.predict(tmp_path / "in", out=tmp_path / "ray", executor="ray", workers=2,
                            logs=str(tmp_path / "l2"), progress=False)  # fmt: skip
    assert (on_ray.rows_scored, on_ray.keys_scored) == (local.rows_scored, local.keys_scored)
    assert dict(on_ray.problem_rows) == dict(local.problem_rows)
    assert on_ray.data_fingerprint == local.data_fingerprint
    a = _by_key(pd.read_parquet(tmp_path / "local"))
    b = _by_key(pd.read_parquet(tmp_path / "ray"))
    np.testing.assert_allclose(a["prediction"], b["prediction"])
    assert len(pd.read_parquet(tmp_path / "l2" / "predictions")) == on_ray.rows_scored
    in_memory = demand.predict(data, executor="ray", log=False, progress=False)
    assert in_memory.frame["row"].is_monotonic_increasing
    assert in_memory.rows_scored == local.rows_scored
