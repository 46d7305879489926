"""Garbage collection, verification, and archiving and deleting versions (issue 14, point 6).

Through the public surfaces: the SDK client (on SQLite and, when configured, PostgreSQL),
the CLI, the REST API and the prediction server. Orphan packs come from a registration
killed with SIGKILL in a subprocess (the probe's kill -9), or from the artifact store
written directly, as a registration does before its metadata.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import shoal
from shoal.artifacts import Backend, FsspecBackend, MemoryBackend
from shoal.cli import app
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.web import create_web_app

ROOT = Path(__file__).resolve().parents[1]
DAY = 86400


def model(key: str, version: int) -> LinearModel:
    return LinearModel(float(int(key[1:])), {"x": float(version)})


def build(client: shoal.Client, stores: int = 4, versions: int = 2) -> shoal.Fleet:
    """``t/demand`` keyed by store: ``versions`` versions each, mape = store + version/10."""
    fleet = client.fleet("t/demand", keys=["store"])
    for v in range(1, versions + 1):
        fleet.register(
            {"key": {"store": f"s{i}"}, "model": model(f"s{i}", v),
             "metrics": {"mape": i + v / 10}}
            for i in range(stores)
        )  # fmt: skip
    return fleet


def files(root: Path, folder: str) -> list[Path]:
    return sorted(p for p in (root / folder).rglob("*") if p.is_file())


def age(paths: list[Path], seconds: float) -> None:
    """Make files look ``seconds`` old, as a pack left by yesterday's killed registration."""
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


def table_counts(client: shoal.Client) -> dict[str, Any]:
    """Every table's rows, the fleets' counters and the artifact files: what a dry run keeps."""
    engine = sa.create_engine(client.registry.url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            counts: dict[str, Any] = {
                name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar()
                for name in names
                if name != "alembic_version"
            }
            counts["fleets"] = conn.execute(
                sa.text("SELECT model_count, version_count FROM fleets ORDER BY id")
            ).all()
            counts["statuses"] = conn.execute(
                sa.text("SELECT status, count(*) FROM versions GROUP BY status ORDER BY status")
            ).all()
    finally:
        engine.dispose()
    counts["files"] = sorted(str(p) for p in Path(client.artifacts_url).rglob("*"))
    return counts


def audit_rows(client: shoal.Client, action: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(client.registry.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT actor, action, target, detail FROM audit WHERE action = :a"),
                {"a": action},
            ).all()
    finally:
        engine.dispose()
    return [
        {"actor": r.actor, "action": r.action, "target": r.target,
         "detail": r.detail if isinstance(r.detail, dict) else json.loads(r.detail)}
        for r in rows
    ]  # fmt: skip


# -- the backend lists sizes and times ----------------------------------------------------------


@pytest.fixture(
    params=["local", "fsspec-memory", "memory", pytest.param("s3", marks=pytest.mark.s3)]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        yield FsspecBackend(str(tmp_path / "store"))
    elif request.param == "fsspec-memory":
        yield FsspecBackend(f"memory://shoal-{uuid.uuid4().hex}")
    elif request.param == "memory":
        yield MemoryBackend()
    else:
        from shoal.testing import LocalS3Server

        with LocalS3Server() as s3:
            yield FsspecBackend(s3.url(f"t-{uuid.uuid4().hex}/artifacts"), s3.storage_options)


def test_backends_list_sizes_and_modification_times(backend: Backend) -> None:
    before = time.time() - 5
    backend.put_many([("packs/a.pack", b"x" * 10), ("objects/ab/cd", b"yy"), ("other", b"")])
    listed = backend.list_info("packs") + backend.list_info("objects")
    assert [(i.key, i.size) for i in listed] == [("packs/a.pack", 10), ("objects/ab/cd", 2)]
    for info in listed:
        assert info.modified is not None and before <= info.modified <= time.time() + 5
    assert [i.key for i in backend.list_info()] == ["objects/ab/cd", "other", "packs/a.pack"]
    assert backend.list_info("nothing") == []
    assert backend.list_temporary() == []


def test_a_local_folder_lists_and_removes_partial_writes(tmp_path: Path) -> None:
    backend = FsspecBackend(str(tmp_path / "store"))
    backend.put_many([("packs/a.pack", b"x")])
    partial = tmp_path / "store" / "packs" / f".b.pack.{uuid.uuid4().hex}.tmp"
    partial.write_bytes(b"half a pack")
    assert [i.key for i in backend.list_info("packs")] == ["packs/a.pack"]
    [temporary] = backend.list_temporary()
    assert temporary.key == f"packs/{partial.name}" and temporary.size == 11
    with pytest.raises(shoal.InvalidInput):
        backend.delete_temporary(["packs/a.pack"])
    backend.delete_temporary([temporary.key])
    assert not partial.exists() and backend.exists_many(["packs/a.pack"])


# -- gc -------------------------------------------------------------------------------------------

KILLED_REGISTER = """
import os, signal, sys
import shoal
from shoal.flavors.linear import LinearModel
from shoal.store import writes

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9 between the packs and the metadata

writes.insert_versions = die
client = shoal.connect(sys.argv[1], sys.argv[2])
fleet = client.fleet("t/demand", keys=["store"])
fleet.register(
    {"key": {"store": f"k{i}"}, "model": LinearModel(float(i), {"x": 9.0})} for i in range(300)
)
"""


def killed_register(client: shoal.Client, tmp_path: Path) -> int:
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED_REGISTER))
    done = subprocess.run(
        [sys.executable, str(script), client.store_url, client.artifacts_url],
        capture_output=True, timeout=120,
    )  # fmt: skip
    return done.returncode


def test_gc_removes_the_packs_of_a_killed_registration_after_the_grace_period(
    client: shoal.Client, tmp_path: Path
) -> None:
    fleet = build(client)
    root = Path(client.artifacts_url)
    kept = files(root, "packs")
    assert killed_register(client, tmp_path) == -signal.SIGKILL
    orphans = [p for p in files(root, "packs") if p not in kept]
    assert len(orphans) == 2  # one pack and its index, nothing in the metadata
    orphan_bytes = sum(p.stat().st_size for p in orphans)
    assert fleet.count(versions="all") == 8

    young = client.gc()  # the default grace period: a day
    assert (young.packs, young.bytes, young.kept_young) == (0, 0, 1)
    assert young.packs_in_use == 2 and files(root, "packs") == sorted(kept + orphans)

    age(orphans, 2 * DAY)
    dry = client.gc()
    assert (dry.applied, dry.packs, dry.objects, dry.bytes) == (False, 1, 0, orphan_bytes)
    assert [item["kind"] for item in dry.items] == ["pack"]
    assert dry.items[0]["age_seconds"] >= 2 * DAY - 60
    assert files(root, "packs") == sorted(kept + orphans)  # a dry run removes nothing

    done = client.gc(apply=True)
    assert (done.applied, done.packs, done.bytes) == (True, 1, orphan_bytes)
    assert files(root, "packs") == kept
    assert client.gc(grace_seconds=0).items == []
    assert client.verify().ok
    assert fleet.load_model({"store": "s3"}) is not None
    [row] = audit_rows(client, "gc")
    assert row["actor"] == "tester" and row["detail"]["packs"] == 1
    assert row["detail"]["bytes"] == orphan_bytes


def test_gc_keeps_every_pack_a_version_uses_even_in_part(client: shoal.Client) -> None:
    fleet = build(client, stores=4, versions=1)
    root = Path(client.artifacts_url)
    fleet.delete_versions("store in ('s0', 's1', 's2')", apply=True)  # 3 of the pack's 4 blobs
    age(files(root, "packs"), 2 * DAY)
    report = client.gc(apply=True, grace_seconds=0)
    assert (report.packs, report.packs_in_use) == (0, 1)
    assert len(files(root, "packs")) == 2
    assert fleet.load_model({"store": "s3"}) is not None
    fleet.delete_versions("store = 's3'", apply=True)
    freed = client.gc(apply=True, grace_seconds=0)
    assert freed.packs == 1 and files(root, "packs") == []


def test_gc_removes_partial_writes_and_unused_rows(client: shoal.Client) -> None:
    build(client, stores=2, versions=1)
    root = Path(client.artifacts_url)
    partial = root / "packs" / f".{'0' * 64}.pack.{uuid.uuid4().hex}.tmp"
    partial.write_bytes(b"a pack cut short by kill -9")
    stray = root / "packs" / "notes.txt"
    stray.write_text("not the store's")
    age([partial, stray], 2 * DAY)
    report = client.gc(apply=True)
    assert (report.temporary, report.bytes) == (1, len(b"a pack cut short by kill -9"))
    assert not partial.exists() and stray.exists()  # a name the store does not use: untouched


def test_gc_is_the_operators(client: shoal.Client, tmp_path: Path) -> None:
    build(client, stores=1, versions=1)
    tenant = shoal.connect(client.store_url, client.artifacts_url, tenant="t")
    try:
        with pytest.raises(shoal.InvalidInput, match="operator"):
            tenant.gc()
        with pytest.raises(shoal.InvalidInput, match="operator"):
            tenant.verify()
    finally:
        tenant.close()
    with pytest.raises(shoal.InvalidInput, match="grace"):
        client.gc(grace_seconds=-1)


# -- verify ---------------------------------------------------------------------------------------


def test_verify_finds_a_flipped_byte_and_names_the_versions_that_use_it(
    client: shoal.Client,
) -> None:
    fleet = build(client, stores=3, versions=2)
    good = client.verify()
    assert good.ok and (good.blobs, good.packs, good.objects) == (6, 2, 0)
    target = fleet.get({"store": "s1"})  # version 2
    row = client.registry.versions.for_keys(fleet.ref, [("s1",)], numbers=[2])[("s1",)]
    pack = Path(client.artifacts_url) / "packs" / f"{row['pack']}.pack"
    data = bytearray(pack.read_bytes())
    data[row["offset"] + 3] ^= 0xFF
    pack.write_bytes(bytes(data))

    bad = client.verify()
    assert not bad.ok and bad.blobs == 6
    [found] = bad.bad
    assert found["sha256"] == target.artifact_sha256 and found["problem"] == "corrupt"
    assert [(v["fleet"], v["key"], v["version"]) for v in found["versions"]] == [
        ("t/demand", {"store": "s1"}, 2)
    ]
    pack.unlink()
    missing = client.verify()
    assert {b["problem"] for b in missing.bad} == {"missing"} and len(missing.bad) == 3


# -- archive, restore, delete ---------------------------------------------------------------------


def test_archive_hides_versions_from_search_counts_facets_and_aliases(
    client: shoal.Client,
) -> None:
    fleet = build(client, stores=4, versions=2)
    before = table_counts(client)
    dry = fleet.archive("version = 2")
    assert (dry.applied, dry.matched, dry.changed, dry.models, dry.models_hidden) == (
        False, 4, 4, 4, 0,
    )  # fmt: skip
    assert table_counts(client) == before  # a dry run changes nothing

    done = fleet.archive("version = 2", apply=True)
    assert done.applied and done.changed == 4
    assert [v.version for v in fleet.search()] == [1, 1, 1, 1]
    assert fleet.count() == 4 and fleet.count(versions="all") == 4
    assert fleet.count("mape > 2.15") == 1  # the latest metrics are version 1's now
    assert fleet.count("status = 'archived'", versions="all") == 4
    assert fleet.get({"store": "s0"}).version == 1
    assert fleet.get({"store": "s0"}, version=2).status == "archived"  # kept, by number

    gone = fleet.archive("store = 's0'", apply=True)
    assert (gone.changed, gone.models_hidden) == (1, 1)
    assert fleet.count() == 3 and fleet.facets("store") == {"s1": 1, "s2": 1, "s3": 1}
    assert [f.models for f in client.fleets()] == [3]
    with pytest.raises(shoal.Conflict, match="archived"):
        fleet.set_alias("production", {("s0",): 2}, create=True)
    with pytest.raises(shoal.NotFound, match="not archived"):
        fleet.set_alias("production", {("s0",): None}, create=True)

    back = fleet.restore("store = 's0'", apply=True)
    assert (back.changed, back.models_shown) == (2, 1)
    assert fleet.count() == 4 and fleet.get({"store": "s0"}).version == 2
    assert fleet.count(versions="all") == 5
    assert [r["action"] for r in audit_rows(client, "version.archive")] == ["version.archive"] * 2
    [row] = audit_rows(client, "version.restore")
    assert row["detail"]["where"] == "store = 's0'" and row["detail"]["versions"] == 2


def test_a_new_version_shows_a_model_whose_versions_were_all_archived(
    client: shoal.Client,
) -> None:
    fleet = build(client, stores=2, versions=2)
    fleet.archive("store = 's0'", apply=True)
    assert fleet.count() == 1
    [placed] = fleet.register([{"key": {"store": "s0"}, "model": model("s0", 3)}])
    assert placed.version == 3  # numbers are never handed out twice
    assert fleet.count() == 2 and fleet.facets("store") == {"s0": 1, "s1": 1}
    assert [f.models for f in client.fleets()] == [2]


def test_an_alias_blocks_archive_and_delete(client: shoal.Client) -> None:
    fleet = build(client, stores=3, versions=2)
    fleet.set_alias("production", {("s1",): 1}, create=True)
    before = table_counts(client)
    dry = fleet.delete_versions("version = 1")
    assert dry.blocked_count == 1
    assert dry.blocked == [{"key": {"store": "s1"}, "version": 1, "id": dry.blocked[0]["id"],
                            "status": "ready", "alias": "production"}]  # fmt: skip
    for call in (fleet.archive, fleet.delete_versions):
        with pytest.raises(shoal.Conflict, match="alias 'production' points at it") as err:
            call("version = 1", apply=True)
        assert "shoal alias set t/demand production --key store=s1" in str(err.value)
    assert table_counts(client) == before
    done = fleet.archive("version = 1 and alias != 'production'", apply=True)
    assert done.changed == 2


def test_undo_leaves_a_model_whose_old_version_was_archived(client: shoal.Client) -> None:
    fleet = build(client, stores=2, versions=2)
    fleet.promote("production", all=True, create=True)  # to each latest: version 2
    second = fleet.set_alias("production", {("s0",): 1, ("s1",): 1})
    assert second.move_id is not None
    fleet.archive(ids=[fleet.get({"store": "s0"}, version=2).id], apply=True)
    undone = fleet.undo(second.move_id)
    assert (undone.moved, undone.skipped) == (1, 1)
    assert fleet.get({"store": "s1"}, alias="production").version == 2
    assert fleet.get({"store": "s0"}, alias="production").version == 1


def test_delete_removes_metadata_fixes_counts_and_never_reuses_a_number(
    client: shoal.Client,
) -> None:
    fleet = build(client, stores=3, versions=3)
    other = client.fleet("u/twin", keys=["store"])
    other.register([{"key": {"store": "s0"}, "model": model("s0", 3)}])  # same bytes as s0 v3
    assert fleet.count("mape > 2.25") == 1

    newest = fleet.delete_versions("version = 3", apply=True)
    assert (newest.changed, newest.models_hidden, newest.models_deleted) == (3, 0, 0)
    assert newest.packed_released == 2  # s0 v3's bytes: still used by u/twin
    assert fleet.count() == 3 and fleet.count(versions="all") == 6
    assert fleet.count("mape > 2.15") == 1 and fleet.count("mape > 2.25") == 0
    assert [v.version for v in fleet.versions({"store": "s2"})] == [2, 1]
    [placed] = fleet.register([{"key": {"store": "s2"}, "model": model("s2", 4)}])
    assert placed.version == 4
    assert other.load_model({"store": "s0"}) is not None

    whole = fleet.delete_versions("store = 's0'", apply=True)
    assert (whole.changed, whole.models_deleted) == (2, 1)
    assert fleet.count() == 2 and fleet.facets("store") == {"s1": 1, "s2": 1}
    assert [(f.path, f.models, f.versions) for f in client.fleets()] == [
        ("t/demand", 2, 5), ("u/twin", 1, 1),
    ]  # fmt: skip
    with pytest.raises(shoal.NotFound):
        fleet.get({"store": "s0"})
    [again] = fleet.register([{"key": {"store": "s0"}, "model": model("s0", 1)}])
    assert again.version == 1  # a new model: its numbers start again
    assert client.verify().ok
    [row] = [r for r in audit_rows(client, "version.delete") if r["detail"]["versions"] == 2]
    assert row["detail"]["models_deleted"] == 1


def test_delete_removes_single_objects_no_version_uses(
    client: shoal.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_PACK_THRESHOLD", "0")  # every artifact a single object
    single = shoal.connect(client.store_url, client.artifacts_url)
    try:
        fleet = build(single, stores=2, versions=2)
        twin = single.fleet("u/twin", keys=["store"])
        twin.register([{"key": {"store": "s0"}, "model": model("s0", 1)}])
        root = Path(single.artifacts_url)
        assert len(files(root, "objects")) == 4
        dry = fleet.delete_versions("version = 1")
        assert (dry.artifacts_deleted, dry.packed_released) == (1, 0)
        assert len(files(root, "objects")) == 4
        done = fleet.delete_versions("version = 1", apply=True)
        assert done.artifacts_deleted == 1 and done.artifact_bytes_deleted > 0
        assert len(files(root, "objects")) == 3  # s0 v1's object: u/twin still uses it
        assert twin.load_model({"store": "s0"}) is not None
        assert single.verify().ok and single.gc(grace_seconds=0).items == []
    finally:
        single.close()


def test_a_registration_that_reuses_a_blob_removed_meanwhile_registers_nothing(
    client: shoal.Client,
) -> None:
    fleet = build(client, stores=1, versions=1)
    twin = client.fleet("u/twin", keys=["store"])
    put_many = client.artifacts.put_many

    def racing_delete(blobs: Any, known: Any = None) -> Any:
        refs = put_many(blobs, known=known)  # the blob is known: nothing is written
        fleet.delete_versions(ids=[fleet.get({"store": "s0"}).id], apply=True)
        return refs

    client.artifacts.put_many = racing_delete  # type: ignore[method-assign]
    with pytest.raises(shoal.Conflict, match="register again"):
        twin.register([{"key": {"store": "s0"}, "model": model("s0", 1)}])
    client.artifacts.put_many = put_many  # type: ignore[method-assign]
    assert twin.count(versions="all") == 0
    twin.register([{"key": {"store": "s0"}, "model": model("s0", 1)}])
    assert twin.load_model({"store": "s0"}) is not None and client.verify().ok


def test_ids_and_filters_are_checked(client: shoal.Client) -> None:
    fleet = build(client, stores=2, versions=1)
    with pytest.raises(shoal.InvalidInput, match="a filter"):
        fleet.archive()
    with pytest.raises(shoal.InvalidInput, match="a filter"):
        fleet.delete_versions("  ", apply=True)
    with pytest.raises(shoal.NotFound, match="version id 999"):
        fleet.archive(ids=[999])
    with pytest.raises(shoal.InvalidInput, match="ids"):
        fleet.archive(ids=[0])
    with pytest.raises(shoal.FilterSyntaxError):
        fleet.archive("store =")
    other = client.fleet("t/other", keys=["store"])
    [placed] = other.register([{"key": {"store": "s0"}, "model": model("s0", 1)}])
    with pytest.raises(shoal.NotFound, match="not a version of fleet 't/demand'"):
        fleet.delete_versions(ids=[placed.id], apply=True)
    assert fleet.archive("store = 'nope'", apply=True).changed == 0


# -- the prediction server ------------------------------------------------------------------------


def test_the_server_never_answers_with_an_archived_version(
    client: shoal.Client, tmp_path: Path
) -> None:
    from shoal.serve import create_app

    fleet = build(client, stores=2, versions=2)
    fleet.set_alias("production", {("s0",): 1, ("s1",): 1}, create=True)
    fleet.archive("version = 2", apply=True)
    serve = create_app(client, auth=Auth.off(), logs_url=str(tmp_path / "logs"))
    url = "/api/v1/fleets/t/demand/predict"
    with TestClient(serve, base_url="http://127.0.0.1") as http:
        rows = [{"store": "s0", "x": 1.0}]
        assert http.post(url, json={"rows": rows, "version": 1}).status_code == 200
        refused = http.post(url, json={"rows": rows, "version": 2})
        assert refused.status_code == 404, refused.text
        answer = http.post(url, json={"rows": rows, "alias": "production"}).json()
        assert answer["predictions"][0]["version"] == 1


# -- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def home() -> Iterator[shoal.Client]:
    """A store in SHOAL_HOME (conftest points it at tmp_path), where the CLI finds it."""
    client = shoal.connect()
    build(client, stores=3, versions=2)
    yield client
    client.close()


def cli(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.output
    return result


def test_cli_version_archive_restore_delete(home: shoal.Client) -> None:
    dry = cli("version", "archive", "t/demand", "--where", "version = 2")
    assert "would archive 3 version(s) of 3 model(s)" in dry.stdout
    assert "dry run: nothing changed" in dry.stderr
    assert home.fleet("t/demand").count("status = 'archived'", versions="all") == 0
    done = json.loads(cli("version", "archive", "t/demand", "-w", "version = 2", "--apply",
                          "--json").stdout)  # fmt: skip
    assert (done["applied"], done["changed"]) == (True, 3)
    ids = [str(p["id"]) for p in done["preview"][:2]]
    back = cli("version", "restore", "t/demand", "--id", ids[0], "--id", ids[1], "--apply")
    assert "restored 2 version(s)" in back.stdout
    gone = cli("version", "delete", "t/demand", "--where", "store = 's2'", "--apply")
    assert "deleted 2 version(s) of 1 model(s)" in gone.stdout
    assert "1 model(s) go with their last version" in gone.stdout
    assert home.fleet("t/demand").count() == 2

    missing = cli("version", "delete", "t/demand", code=2)
    assert missing.stderr.startswith("error: delete needs the versions")
    home.fleet("t/demand").set_alias("production", {("s0",): 1}, create=True)
    blocked = cli("version", "archive", "t/demand", "--where", "store = 's0'", "--apply", code=4)
    assert "alias 'production' points at it" in blocked.stderr


def test_cli_gc_and_verify(home: shoal.Client) -> None:
    root = Path(home.artifacts_url)
    before = files(root, "packs")
    home.artifacts.put_many([b"bytes of a registration that never finished"])
    orphans = [p for p in files(root, "packs") if p not in before]
    assert len(orphans) == 2
    age(orphans, 2 * DAY)
    dry = cli("gc")
    assert "would remove 1 pack(s)" in dry.stdout and "dry run: nothing removed" in dry.stderr
    report = json.loads(cli("gc", "--apply", "--json").stdout)
    assert (report["applied"], report["packs"]) == (True, 1) and report["bytes"] > 0
    assert "removed 0 pack(s)" in cli("gc", "--apply", "--grace", "0").stdout

    assert "all match" in cli("verify").stdout
    [pack] = [p for p in files(root, "packs") if p.suffix == ".pack"][:1]
    data = bytearray(pack.read_bytes())
    data[-1] ^= 0xFF
    pack.write_bytes(bytes(data))
    failed = cli("verify", code=5)
    assert "1 failed" in failed.stdout and failed.stderr.startswith("error: 1 blob(s)")
    as_json = json.loads(cli("verify", "--json", code=5).stdout)
    assert as_json["ok"] is False and as_json["bad"][0]["problem"] == "corrupt"


# -- REST -----------------------------------------------------------------------------------------


def test_rest_archive_and_delete_are_dry_runs_unless_told(client: shoal.Client) -> None:
    fleet = build(client, stores=3, versions=2)
    fleet.set_alias("production", {("s0",): 2}, create=True)
    base = "/api/v1/fleets/t/demand/versions"
    with TestClient(create_web_app(client, auth=Auth.off()), base_url="http://127.0.0.1") as http:
        before = table_counts(client)
        dry = http.post(f"{base}/archive", json={"where": "version = 1"})
        assert dry.status_code == 200 and dry.json()["applied"] is False
        assert dry.json()["changed"] == 3 and table_counts(client) == before
        done = http.post(f"{base}/archive", json={"where": "version = 1", "dry_run": False})
        assert done.json()["applied"] is True and fleet.count(versions="all") == 3
        back = http.post(f"{base}/restore", json={"ids": [done.json()["preview"][0]["id"]],
                                                  "dry_run": False})  # fmt: skip
        assert back.json()["changed"] == 1
        blocked = http.post(f"{base}/delete", json={"where": "store = 's0'", "dry_run": False})
        assert blocked.status_code == 409 and "production" in blocked.json()["error"]["message"]
        deleted = http.post(f"{base}/delete", json={"where": "store = 's1'", "dry_run": False})
        assert deleted.json()["models_deleted"] == 1
        assert http.post(f"{base}/delete", json={}).status_code == 422
        assert http.post(f"{base}/archive", json={"ids": [0]}).status_code == 422
        assert http.post(f"{base}/archive", json={"nope": 1}).status_code == 422
        assert http.post("/api/v1/fleets/t/nope/versions/archive",
                         json={"ids": [1]}).status_code == 404  # fmt: skip
