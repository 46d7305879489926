"""Exporting a fleet's per-model table whole: the SDK, ``shoal export`` and the REST download.

Every test runs on a real store (SQLite, and PostgreSQL when ``SHOAL_TEST_POSTGRES_URL`` is
set) through the public surface. What must hold: one row per model the filter selects,
each model once however many chunks the keyset takes, the values ``fleet.search`` reads,
files that pyarrow reads back, clear errors for a bad format or filter, and nothing of
another tenant.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from tests.helpers import records
from typer.testing import CliRunner

import shoal
from shoal.cli import app
from shoal.cli.housekeeping import size
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.testing import ThreadServer
from shoal.web import create_web_app

FLEET = "grocer/demand"
FILTERS = [
    None,
    "mape > 0.1",
    "alias = 'candidate'",
    "store = 's001' and mape < 0.3",
    "coverage is not null or sku = 'k004'",
]


@pytest.fixture
def seeded(client: shoal.Client) -> shoal.Fleet:
    """grocer/demand: 4 stores x 5 SKUs, a second version for two stores, production on
    every model, candidate on three, a metric only some versions have, run and dataset ids
    on some; and apparel/demand, another tenant's fleet of the same name and keys."""
    demand = client.fleet(FLEET, keys=["store", "sku"])
    dataset = client.datasets.register(
        pd.DataFrame({"store": ["s000"], "units": [1.0]}), name="grocer/sales"
    )
    run = demand.start_run("train")
    first = records(4, 5)
    for i, item in enumerate(first):
        if i % 3 == 0:
            item["metrics"]["coverage"] = i / 10
        if i % 4 == 0:
            item.update(run=run, dataset=dataset)
    demand.register(first)
    demand.register(records(2, 5, version_bias=0.5))
    demand.promote("production", all=True, create=True)
    demand.set_alias("candidate", {("s000", "k001"): 1, ("s001", "k002"): None,
                                   ("s003", "k004"): 1}, create=True)  # fmt: skip
    client.fleet("apparel/demand", keys=["store", "sku"]).register(
        {"key": {"store": f"x{i}", "sku": "k000"}, "model": LinearModel(0.0),
         "metrics": {"mape": 0.5, "f1": 0.9}}
        for i in range(3)
    )  # fmt: skip
    return demand


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty folder for files (tmp_path holds the store)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def expected(fleet: shoal.Fleet, where: str | None = None) -> dict[tuple[str, ...], dict[str, Any]]:
    """The rows an export must hold, read through ``fleet.search`` (keyset pages)."""
    at = {
        alias: {_key(fleet, v.key): v.version for v in fleet.iter_search(f"alias = '{alias}'")}
        for alias in fleet.coverage()
    }
    rows = {}
    for v in fleet.iter_search(where, page_size=7):
        key = _key(fleet, v.key)
        rows[key] = {
            **v.key, "version": v.version, "version_id": v.id, "status": v.status,
            "flavor": v.flavor, "created_at": v.to_dict()["created_at"], "run_id": v.run_id,
            "dataset_id": v.dataset_id,
            **{f"alias.{alias}": numbers.get(key) for alias, numbers in at.items()},
            **{f"metric.{m}": v.metrics.get(m) for m in ("coverage", "mape", "rmse")},
        }  # fmt: skip
    return rows


def _key(fleet: shoal.Fleet, key: dict[str, str]) -> tuple[str, ...]:
    return tuple(key[dim] for dim in fleet.keys)


def as_rows(fleet: shoal.Fleet, table: pa.Table) -> dict[tuple[str, ...], dict[str, Any]]:
    """An export read back, by key, with times as ISO text; a key seen twice fails."""
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in table.to_pylist():
        if isinstance(row["created_at"], datetime):
            row["created_at"] = row["created_at"].astimezone(UTC).isoformat(timespec="seconds")
        key = _key(fleet, row)
        assert key not in rows, f"model {key} exported twice"
        rows[key] = row
    return rows


def read_csv(data: bytes | Path) -> pa.Table:
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    types = {"store": pa.string(), "sku": pa.string(), "created_at": pa.string()}
    return pa_csv.read_csv(source, convert_options=pa_csv.ConvertOptions(column_types=types))


COLUMNS = ["store", "sku", "version", "version_id", "status", "flavor", "created_at", "run_id",
           "dataset_id", "alias.candidate", "alias.production", "metric.coverage", "metric.mape",
           "metric.rmse"]  # fmt: skip


# ---- SDK ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", FILTERS)
def test_every_model_once_in_keyset_chunks_with_the_values_search_reads(
    seeded: shoal.Fleet, where: str | None
) -> None:
    batches = list(seeded.iter_export(where=where, chunk=3))
    table = pa.Table.from_batches(batches)
    assert table.num_rows == seeded.count(where)
    assert len(batches) == max(1, math.ceil(table.num_rows / 3))
    assert all(b.num_rows <= 3 for b in batches)
    assert table.column_names == COLUMNS
    assert as_rows(seeded, table) == expected(seeded, where)


def test_types_a_filter_that_matches_nothing_and_the_alias_scope(seeded: shoal.Fleet) -> None:
    batches = list(seeded.iter_export(where="mape > 100"))
    assert len(batches) == 1 and batches[0].num_rows == 0
    schema = batches[0].schema
    assert schema.names == COLUMNS
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("version").type == pa.int32()
    assert schema.field("alias.production").type == pa.int32()
    assert schema.field("metric.mape").type == pa.float64()
    # The alias scope reads the candidate versions: s000/k001's candidate is version 1 of 2.
    candidate = as_rows(
        seeded, pa.Table.from_batches(seeded.iter_export(where="alias = 'candidate'"))
    )
    assert candidate[("s000", "k001")]["version"] == 1
    assert candidate[("s000", "k001")]["alias.production"] == 2
    assert candidate[("s001", "k002")]["version"] == 2


def test_csv_and_parquet_files_read_back_whole(seeded: shoal.Fleet, out: Path) -> None:
    where = "mape > 0.1"
    want = expected(seeded, where)
    parquet = seeded.export(out / "demand.parquet", where=where, chunk=4)
    assert (parquet.format, parquet.rows, parquet.columns) == ("parquet", len(want), tuple(COLUMNS))
    assert parquet.bytes == (out / "demand.parquet").stat().st_size
    assert parquet.to_dict()["path"] == str(out / "demand.parquet")
    meta = pq.ParquetFile(out / "demand.parquet").metadata
    assert meta.num_row_groups == math.ceil(len(want) / 4)
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert as_rows(seeded, pq.read_table(out / "demand.parquet")) == want

    csv = seeded.export(str(out / "demand.csv"), where=where, chunk=4)
    assert (csv.format, csv.rows) == ("csv", len(want))
    assert csv.bytes == (out / "demand.csv").stat().st_size
    assert as_rows(seeded, read_csv(out / "demand.csv")) == want
    # A format given beats the suffix; a binary file takes the table as it comes.
    seeded.export(out / "table.data", format="CSV")
    assert read_csv(out / "table.data").num_rows == seeded.count()
    sink = io.BytesIO()
    streamed = seeded.export(sink, format="parquet", chunk=5)
    assert streamed.path == "-" and streamed.bytes == len(sink.getvalue())
    assert pq.read_table(io.BytesIO(sink.getvalue())).num_rows == seeded.count()
    assert sorted(p.name for p in out.iterdir()) == ["demand.csv", "demand.parquet",
                                                          "table.data"]  # fmt: skip


def test_bad_format_filter_chunk_or_path_is_a_clear_error(seeded: shoal.Fleet, out: Path) -> None:
    for target, fmt in ((out / "x.xlsx", None), (out / "x.csv", "json")):
        with pytest.raises(shoal.InvalidInput, match="csv, parquet") as caught:
            seeded.export(target, format=fmt)
        assert caught.value.field == "format"
    with pytest.raises(shoal.InvalidInput, match="format") as caught:
        seeded.export(io.BytesIO())
    assert caught.value.field == "format"
    with pytest.raises(shoal.FilterSyntaxError) as syntax:
        seeded.export(out / "x.csv", where="mape >")
    assert syntax.value.field == "where"
    with pytest.raises(shoal.InvalidInput, match="'nope'; its metrics are: coverage, mape"):
        seeded.export(out / "x.csv", where="nope > 1")
    with pytest.raises(shoal.InvalidInput, match="chunk") as caught:
        list(seeded.iter_export(chunk=0))
    assert caught.value.field == "chunk"
    with pytest.raises(shoal.InvalidInput, match="does not exist"):
        seeded.export(out / "missing" / "x.csv")
    assert list(out.iterdir()) == []  # nothing half-written is left behind


def test_a_failed_export_leaves_the_old_file_and_no_temporary(
    seeded: shoal.Fleet, out: Path
) -> None:
    target = out / "demand.csv"
    target.write_text("the previous export\n")
    calls: list[tuple[int, int | None]] = []

    def stop(done: int, total: int | None) -> None:
        calls.append((done, total))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        seeded.export(target, chunk=5, progress=stop)
    assert calls == [(5, seeded.count())]
    assert target.read_text() == "the previous export\n"
    assert [p.name for p in out.iterdir()] == ["demand.csv"]


def test_another_tenant_never_leaks(seeded: shoal.Fleet, store_url: str, tmp_path: Path) -> None:
    exported = pa.Table.from_batches(seeded.iter_export())
    assert not any(s.startswith("x") for s in exported.column("store").to_pylist())
    assert "metric.f1" not in exported.column_names
    scoped = shoal.connect(store_url, str(tmp_path / "artifacts"), tenant="apparel")
    try:
        with pytest.raises(shoal.NotFound):
            scoped.fleet(FLEET).export(tmp_path / "x.csv")
        own = pa.Table.from_batches(scoped.fleet("apparel/demand").iter_export(chunk=2))
        assert sorted(own.column("store").to_pylist()) == ["x0", "x1", "x2"]
        assert own.column_names[-2:] == ["metric.f1", "metric.mape"]
    finally:
        scoped.close()


# ---- CLI ------------------------------------------------------------------------------------


def shoal_cli(client: shoal.Client, *args: str) -> Any:
    return CliRunner().invoke(app, ["--store", client.store_url, "--artifacts",
                                    client.artifacts_url, *args])  # fmt: skip


def test_cli_writes_the_default_file_json_and_stdout(
    seeded: shoal.Fleet, client: shoal.Client, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(out)
    done = shoal_cli(client, "export", FLEET, "--chunk", "3")
    assert done.exit_code == 0, done.output
    n = seeded.count()
    assert done.stdout.strip() == (
        f"exported {n} model(s), {len(COLUMNS)} columns, "
        f"{size((out / 'grocer-demand-models.parquet').stat().st_size)} of parquet to "
        "grocer-demand-models.parquet"
    )
    table = pq.read_table(out / "grocer-demand-models.parquet")
    assert as_rows(seeded, table) == expected(seeded)

    where = "alias = 'candidate'"
    done = shoal_cli(client, "export", FLEET, "-w", where, "--out", "c.csv", "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["rows"] == seeded.count(where) == 3 and result["format"] == "csv"
    assert result["columns"] == COLUMNS and result["path"] == "c.csv"
    assert as_rows(seeded, read_csv(out / "c.csv")) == expected(seeded, where)

    done = shoal_cli(client, "export", FLEET, "--where", "mape > 0.1", "--out", "-", "--chunk", "2")
    assert done.exit_code == 0, done.output
    assert as_rows(seeded, read_csv(done.stdout_bytes)) == expected(seeded, "mape > 0.1")
    assert "exported" in done.stderr and "to stdout" in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--format", "xlsx"], 2, "format must be one of csv, parquet, got 'xlsx'"),
        (["--out", "x.txt"], 2, "format: cannot tell the format of 'x.txt'"),
        (["--where", "mape >"], 2, "where: "),
        (["--where", "nope > 1"], 2, "no version of fleet 'grocer/demand' has metric 'nope'"),
        (["--chunk", "0"], 2, "chunk must be an int from 1 to 100,000"),
        (["--out", "-", "--json"], 2, "pick one"),
        (["--out", "missing/x.csv"], 2, "does not exist"),
    ],
)
def test_cli_bad_input_is_one_line_and_an_exit_code(
    seeded: shoal.Fleet, client: shoal.Client, out: Path, monkeypatch: pytest.MonkeyPatch,
    args: list[str], code: int, says: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(out)
    done = shoal_cli(client, "export", FLEET, *args)
    assert done.exit_code == code, done.output
    assert done.stdout == "" and "Traceback" not in done.output
    assert done.stderr.startswith("error: ") and says in done.stderr, done.stderr
    assert list(out.iterdir()) == []


def test_cli_unknown_fleet_is_not_found(client: shoal.Client) -> None:
    done = shoal_cli(client, "export", "grocer/nope")
    assert done.exit_code == 3 and done.stderr.startswith("error: fleet 'grocer/nope' not found")


# ---- REST and the fleet page ----------------------------------------------------------------


@pytest.fixture
def server(seeded: shoal.Fleet, client: shoal.Client) -> Iterator[httpx.Client]:
    with (
        ThreadServer(create_web_app(client, auth=Auth.off())) as running,
        httpx.Client(base_url=running.url, timeout=30) as http,
    ):
        yield http


def test_rest_streams_csv_and_parquet(seeded: shoal.Fleet, server: httpx.Client) -> None:
    route = f"/api/v1/fleets/{FLEET}/export"
    for where in (None, "mape > 0.1 and alias = 'production'"):
        params = {"format": "csv", **({"where": where} if where else {})}
        with server.stream("GET", route, params=params) as reply:
            assert reply.status_code == 200, reply.read()
            assert reply.headers["content-type"].startswith("text/csv")
            assert reply.headers["content-disposition"] == (
                'attachment; filename="grocer-demand-models.csv"'
            )
            body = reply.read()
        assert as_rows(seeded, read_csv(body)) == expected(seeded, where)
    reply = server.get(route, params={"where": "mape > 0.1"})  # parquet by default
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/vnd.apache.parquet"
    assert "grocer-demand-models.parquet" in reply.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(reply.content))
    assert as_rows(seeded, table) == expected(seeded, "mape > 0.1")


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"format": "xlsx"}, 422, "format"),
        ({"where": "mape >"}, 422, "where"),
        ({"where": "nope > 1"}, 422, "where"),
    ],
)
def test_rest_bad_input_is_a_422_in_the_error_shape(
    server: httpx.Client, params: dict[str, str], status: int, field: str
) -> None:
    reply = server.get(f"/api/v1/fleets/{FLEET}/export", params=params)
    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["type"] == "InvalidInput" or error["type"] == "FilterSyntaxError"
    assert error["field"] == field and error["request_id"]
    if field == "format":
        assert "'csv'" in error["message"] and "'parquet'" in error["message"]


def test_rest_of_another_tenant_is_not_found(
    seeded: shoal.Fleet, store_url: str, tmp_path: Path
) -> None:
    scoped = shoal.connect(store_url, str(tmp_path / "artifacts"), tenant="apparel")
    try:
        with ThreadServer(create_web_app(scoped, auth=Auth.off())) as running:
            reply = httpx.get(f"{running.url}/api/v1/fleets/{FLEET}/export", timeout=30)
            assert reply.status_code == 404 and reply.json()["error"]["type"] == "NotFound"
            own = httpx.get(f"{running.url}/api/v1/fleets/apparel/demand/export",
                            params={"format": "csv"}, timeout=30)  # fmt: skip
            assert read_csv(own.content).column("store").to_pylist() == ["x0", "x1", "x2"]
    finally:
        scoped.close()


def test_the_fleet_page_links_both_exports_with_its_filter(
    seeded: shoal.Fleet, server: httpx.Client
) -> None:
    where = "mape > 0.1"
    page = server.get(f"/fleets/{FLEET}", params={"where": where})
    assert page.status_code == 200
    for fmt in ("csv", "parquet"):
        link = f"/api/v1/fleets/{FLEET}/export?format={fmt}&amp;where=mape%20%3E%200.1"
        assert link in page.text or link.replace("&amp;", "&") in page.text, page.text
    assert "Export CSV" in page.text and "Export Parquet" in page.text
    reply = server.get(f"/api/v1/fleets/{FLEET}/export?format=csv&where=mape%20%3E%200.1")
    assert read_csv(reply.content).num_rows == seeded.count(where)
