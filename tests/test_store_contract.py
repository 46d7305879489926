"""The registry's contract, run on SQLite and on PostgreSQL through the public SDK."""

from __future__ import annotations

import pytest
from tests.helpers import records

import shoal
from shoal.flavors.linear import LinearModel


@pytest.fixture
def demand(client: shoal.Client) -> shoal.Fleet:
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    fleet.register(records())
    return fleet


def test_fleet_is_created_once_and_keys_are_checked(client: shoal.Client) -> None:
    a = client.fleet("grocer/demand", keys=["store", "sku"])
    b = client.fleet("grocer/demand", keys=["store", "sku"])
    assert a.ref == b.ref
    with pytest.raises(shoal.Conflict, match="exists with keys"):
        client.fleet("grocer/demand", keys=["store"])
    with pytest.raises(shoal.NotFound, match="grocer/nope"):
        client.fleet("grocer/nope")
    with pytest.raises(shoal.InvalidInput, match="tenant/fleet"):
        client.fleet("no-slash")
    with pytest.raises(shoal.InvalidInput, match="reserved"):
        client.fleet("grocer/bad", keys=["alias"])
    assert [f.fleet for f in client.fleets()] == ["demand"]


def test_register_counts_facets_and_numbers(demand: shoal.Fleet) -> None:
    assert demand.count() == 20
    assert demand.count(versions="all") == 20
    assert demand.facets("store") == {"s000": 5, "s001": 5, "s002": 5, "s003": 5}
    placed = demand.register(records(stores=1, skus=2, version_bias=0.5))
    assert [(p.key, p.version) for p in placed] == [
        ({"store": "s000", "sku": "k000"}, 2),
        ({"store": "s000", "sku": "k001"}, 2),
    ]
    assert demand.count() == 20
    assert demand.count(versions="all") == 22
    # Only the latest version's metrics answer a latest-scope filter.
    assert demand.count("mape >= 0.5") == 2
    assert demand.count("mape >= 0.5", versions="all") == 2
    assert demand.count("mape < 0.05") == 3
    assert demand.count("mape < 0.05", versions="all") == 5
    assert [v.version for v in demand.versions({"store": "s000", "sku": "k000"})] == [2, 1]


def test_filters_cover_keys_metrics_tags_params_time_and_versions(demand: shoal.Fleet) -> None:
    assert demand.count("store = 's001'") == 5
    assert demand.count("store in ('s001', 's002') and sku != 'k000'") == 8
    assert demand.count("not store = 's001'") == 15
    assert demand.count("mape > 0.1 and mape <= 0.15") == 5
    assert demand.count("tags.region = 'north'") == 10
    assert demand.count("params.kind = 'ridge' and params.depth = 3") == 20
    assert demand.count("created_at > '2000-01-01' and version = 1") == 20
    assert demand.count("created_at < '2000-01-01'") == 0
    with pytest.raises(shoal.InvalidInput, match=r"has tag 'missing'; its tags are: region"):
        demand.count("tags.missing is null")  # a name no version has is a typo, not "none"
    assert demand.count("tags.region is not null") == 20
    assert demand.count("rmse >= 6 or store = 's000'") == 5 + 3
    assert demand.facets("store", where="mape > 0.1") == {"s003": 5, "s002": 4}


def test_sort_and_keyset_pages_visit_every_model_once(demand: shoal.Fleet) -> None:
    page = demand.search("mape > 0.1", sort="-mape", limit=3)
    assert [v.metrics["mape"] for v in page] == [0.19, 0.18, 0.17]
    seen = []
    cursor = None
    while True:
        page = demand.search(sort="-rmse", limit=4, cursor=cursor)
        seen += [(v.metrics["rmse"], v.id) for v in page]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 20 and len({vid for _, vid in seen}) == 20
    assert seen == sorted(seen, key=lambda p: (-p[0], -p[1]))
    by_store = [v.key["store"] for v in demand.iter_search(sort="store", page_size=3)]
    assert by_store == sorted(by_store) and len(by_store) == 20
    assert len(list(demand.iter_search("sku = 'k004'", page_size=2))) == 4


def test_bad_search_input_names_the_field(demand: shoal.Fleet) -> None:
    with pytest.raises(shoal.FilterSyntaxError, match="position"):
        demand.search("mape >")
    with pytest.raises(shoal.InvalidInput, match="compares with numbers"):
        demand.search("mape > 'abc'")
    with pytest.raises(shoal.InvalidInput, match="not a key dimension"):
        demand.count("stor = 's001'")
    with pytest.raises(shoal.InvalidInput, match="sort"):
        demand.search(sort="tags.")
    with pytest.raises(shoal.InvalidInput, match="cursor"):
        demand.search(cursor="garbage!")
    cursor = demand.search(sort="mape", limit=2).next_cursor
    with pytest.raises(shoal.InvalidInput, match="issued for sort"):
        demand.search(sort="-mape", cursor=cursor)
    with pytest.raises(shoal.InvalidInput, match="limit"):
        demand.search(limit=0)


def test_bad_records_are_refused_whole(client: shoal.Client) -> None:
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    batch = records()
    batch[7]["metrics"] = {"mape": "bad"}
    with pytest.raises(shoal.InvalidInput, match=r"versions\[7\]\.metrics\.mape must be a number"):
        fleet.register(batch)
    batch = records()
    batch[3]["key"] = {"store": "s1"}
    with pytest.raises(shoal.InvalidInput, match=r"versions\[3\].*missing \['sku'\]"):
        fleet.register(batch)
    batch = records()
    batch[2]["key"] = {"store": "s1", "sku": "a", "region": "x"}
    with pytest.raises(shoal.InvalidInput, match=r"unknown \['region'\]"):
        fleet.register(batch)
    assert fleet.count() == 0 and fleet.count(versions="all") == 0


def test_duplicate_version_is_a_conflict_and_changes_nothing(demand: shoal.Fleet) -> None:
    dup = records(stores=1, skus=1)
    dup[0]["version"] = 1
    with pytest.raises(shoal.Conflict, match="duplicate version"):
        demand.register(records(stores=2, skus=2) + dup)
    assert demand.count(versions="all") == 20
    ok = records(stores=1, skus=1)
    ok[0]["version"] = 7
    assert demand.register(ok)[0].version == 7


def test_failure_mid_batch_leaves_store_and_artifacts_as_they_were(
    client: shoal.Client, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    fleet.register(records(stores=1, skus=2))
    packs_before = sorted((tmp_path / "artifacts").rglob("*"))
    from shoal.store import writes

    real = writes._bump_counts

    def explode(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writes, "_bump_counts", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        fleet.register(records(stores=3, skus=3, version_bias=1.0))
    monkeypatch.undo()
    assert fleet.count() == 2 and fleet.count(versions="all") == 2
    assert fleet.facets("store") == {"s000": 2}
    assert sorted((tmp_path / "artifacts").rglob("*")) == packs_before
    assert fleet.register(records(stores=3, skus=3))[-1].version == 1


def test_identical_artifacts_are_stored_once(client: shoal.Client, tmp_path) -> None:
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    same = LinearModel(intercept=1.0, coef={"x": 2.0})
    fleet.register([{"key": {"store": f"s{i}", "sku": "a"}, "model": same} for i in range(50)])
    fleet.register([{"key": {"store": f"s{i}", "sku": "b"}, "model": same} for i in range(50)])
    hashes = {v.artifact_sha256 for v in fleet.iter_search()}
    assert len(hashes) == 1
    assert len(list((tmp_path / "artifacts").rglob("*.pack"))) == 1


def test_load_model_by_latest_alias_and_number(demand: shoal.Fleet, client: shoal.Client) -> None:
    key = {"store": "s002", "sku": "k001"}
    demand.promote("production", all=True, create=True)
    demand.register([{"key": key, "model": LinearModel(intercept=42.0)}])
    assert demand.load_model(key).intercept == 42.0
    assert demand.load_model(key, alias="production").intercept == 2.0
    assert client.load_model("grocer/demand", key, version=1).intercept == 2.0
    with pytest.raises(shoal.NotFound, match="no alias 'candidate'"):
        demand.load_model(key, alias="candidate")
    with pytest.raises(shoal.NotFound, match="no model"):
        demand.load_model({"store": "zz", "sku": "k001"})


def test_tampered_artifact_is_detected(demand: shoal.Fleet, tmp_path) -> None:
    key = {"store": "s001", "sku": "k001"}
    version = demand.get(key)
    [pack] = list((tmp_path / "artifacts").rglob("*.pack"))
    data = bytearray(pack.read_bytes())
    # Flip one byte inside this model's bytes: find them by their content.
    model_bytes = LinearModel(intercept=1.0, coef={"x": 0.5}).to_dict()
    assert version.artifact_size > 0 and model_bytes
    start = len(data) - version.artifact_size  # any byte of the pack body will do
    data[start] ^= 0xFF
    pack.write_bytes(bytes(data))
    hits = 0
    for row in demand.iter_search():
        try:
            demand.load_model(row.key)
        except shoal.IntegrityError as exc:
            assert row.artifact_sha256 in str(exc)
            hits += 1
    assert hits == 1


def test_pickle_needs_a_fleet_that_allows_it(client: shoal.Client) -> None:
    safe = client.fleet("grocer/safe", keys=["store"])
    with pytest.raises(shoal.UnsafeArtifact, match="allow_pickle=True"):
        safe.register([{"key": {"store": "a"}, "model": {"any": "object"}, "flavor": "pickle"}])
    risky = client.fleet("grocer/risky", keys=["store"], allow_pickle=True)
    risky.register([{"key": "a", "model": {"any": "object"}, "flavor": "pickle"}])
    assert risky.load_model("a") == {"any": "object"}


def test_aliases_move_in_bulk_with_compare_and_set_and_undo(demand: shoal.Fleet) -> None:
    preview = demand.promote("production", dry_run=True, all=True, create=True)
    assert preview.moved == 20 and preview.move_id is None
    assert demand.count("alias = 'production'") == 0
    first = demand.promote("production", all=True, create=True)
    assert first.moved == 20 and demand.coverage() == {"production": 20}
    demand.register(records(stores=1, skus=5, version_bias=-0.04))
    demand.set_alias("candidate", {("s000", f"k{k:03d}"): 2 for k in range(5)}, create=True)
    better = demand.promote(
        "production", "candidate.mape < production.mape", dry_run=True, create=True
    )
    assert better.source == "candidate" and better.moved == 5
    assert {row["to"] for row in better.preview} == {2}
    moved = demand.promote("production", "candidate.mape < production.mape", create=True)
    assert demand.count("alias = 'production' and version = 2") == 5
    # Someone moves one model again; undo leaves that one alone.
    demand.set_alias("production", [(("s000", "k000"), 1)], create=True)
    undone = demand.undo(moved.move_id)
    assert undone.moved == 4 and undone.skipped == 1
    assert demand.count("alias = 'production' and version = 2") == 0
    with pytest.raises(shoal.Conflict, match="already undone"):
        demand.undo(moved.move_id)
    with pytest.raises(shoal.Conflict, match="moved on 1 model"):
        demand.set_alias(
            "production", [(("s000", "k001"), 2)], expected={("s000", "k001"): 2}, create=True
        )
    assert demand.get(("s000", "k001"), alias="production").version == 1
    assert demand.count("alias = 'production' and mape < 0.02") == 2
    assert demand.coverage() == {"candidate": 5, "production": 20}


def test_datasets_fingerprint_profile_and_lineage(client: shoal.Client) -> None:
    import pandas as pd

    frame = pd.DataFrame({"store": ["s1", "s1", "s2"], "sales": [1.0, 2.0, 5.0]})
    ds = client.datasets.register(frame, name="grocer/sales")
    again = client.datasets.register(frame.copy(), name="grocer/sales")
    assert again.id == ds.id and len(ds.fingerprint) == 64 and ds.row_count == 3
    changed = frame.copy()
    changed.loc[2, "sales"] = 5.5
    assert client.datasets.register(changed, name="grocer/sales").id != ds.id
    assert "sales" in ds.profile["columns"]
    fleet = client.fleet("grocer/demand", keys=["store"])
    run = fleet.start_run("train", {"lr": 0.1})
    fleet.register(
        [
            {"key": "s1", "model": LinearModel(1.0), "dataset": ds, "run": run,
             "slice_fingerprint": "ab" * 32, "code_ref": "git:abc"},
            {"key": "s2", "model": LinearModel(2.0), "dataset": ds.id, "run": run},
        ]
    )  # fmt: skip
    client.finish_run(run, "succeeded", counts={"done": 2})
    version = fleet.get("s1")
    lineage = client.lineage(version)
    assert lineage.dataset.fingerprint == ds.fingerprint
    assert lineage.run.status == "succeeded"
    assert lineage.slice_fingerprint == "ab" * 32 and lineage.code_ref == "git:abc"
    trained = client.datasets.models(ds)
    assert sorted(t["key"]["store"] for t in trained) == ["s1", "s2"]
    with pytest.raises(shoal.NotFound, match="dataset 999"):
        fleet.register([{"key": "s3", "model": LinearModel(3.0), "dataset": 999}])


def test_tenants_never_see_each_other(store_url: str, tmp_path) -> None:
    import pandas as pd

    owner = shoal.connect(store_url, str(tmp_path / "a"))
    grocer = owner.fleet("grocer/demand", keys=["store"])
    apparel = owner.fleet("apparel/demand", keys=["store"])
    grocer.register([{"key": "g1", "model": LinearModel(1.0)}])
    [mine] = apparel.register([{"key": "a1", "model": LinearModel(2.0)}])
    ds = owner.datasets.register(pd.DataFrame({"x": [1]}), name="apparel/data")
    run = apparel.start_run()

    scoped = shoal.connect(store_url, str(tmp_path / "a"), tenant="grocer")
    assert [f.tenant for f in scoped.fleets()] == ["grocer"]
    assert scoped.fleet("grocer/demand").count() == 1
    for call in (
        lambda: scoped.fleet("apparel/demand"),
        lambda: scoped.fleet("apparel/new", keys=["store"]),
        lambda: scoped.get_version(mine.id),
        lambda: scoped.lineage(mine.id),
        lambda: scoped.datasets.get(ds.id),
        lambda: scoped.run(run),
        lambda: scoped.load_model("apparel/demand", "a1"),
    ):
        with pytest.raises(shoal.NotFound):
            call()
    assert scoped.datasets.list() == []
    with pytest.raises(shoal.NotFound):
        scoped.datasets.models(ds.id)
    with pytest.raises(shoal.NotFound):
        scoped.fleet("grocer/demand").register(
            [{"key": "g2", "model": LinearModel(1.0), "run": run}]
        )
    with pytest.raises(shoal.NotFound, match="parent version"):
        scoped.fleet("grocer/demand").register(
            [{"key": "g2", "model": LinearModel(1.0), "parent": mine.id}]
        )
    owner.close()
    scoped.close()


def test_audit_log_records_each_write_call(client: shoal.Client) -> None:
    import sqlalchemy as sa

    from shoal.store.schema import audit

    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    fleet.register(records())
    fleet.promote("production", all=True, create=True)
    with client.registry._store.read() as conn:
        rows = conn.execute(sa.select(audit.c.action, audit.c.actor, audit.c.detail)).all()
    actions = [r.action for r in rows]
    assert actions == ["fleet.create", "register", "alias.promote"]
    assert all(r.actor == "tester" for r in rows)
    assert rows[1].detail["versions"] == 20


def test_migrated_schema_matches_the_code(client: shoal.Client) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shoal.store.schema import metadata

    client.fleets()  # first use migrates
    with client.registry._store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert client.upgrade() == "0011"


def test_upgrade_from_the_first_revision_keeps_data(store_url: str) -> None:
    import sqlalchemy as sa

    from shoal.store import Store
    from shoal.store.engine import current_revision, head_revision, upgrade

    store = Store(store_url)
    upgrade(store, "0001")
    assert current_revision(store) == "0001"
    with store._engine.begin() as conn:  # type: ignore[union-attr]
        conn.execute(sa.text("INSERT INTO tenants (name, created_at) VALUES ('grocer', 1.0)"))
    upgrade(store)
    assert current_revision(store) == head_revision()
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT name FROM tenants")).scalars().all() == ["grocer"]
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("models")}
    assert "ix_models_fleet_id" in indexes
    store.dispose()


def test_recording_a_known_blob_again_is_harmless(client: shoal.Client) -> None:
    """Two registrations that raced to store the same bytes both commit."""
    from shoal.artifacts import BlobRef
    from shoal.store import writes

    ref = BlobRef("ab" * 32, 10, "p" * 64, 24)
    other = BlobRef("cd" * 32, 5, None, 0)
    client.fleets()
    with client.registry._store.write() as conn:
        writes.insert_blobs(conn, [ref])
    with client.registry._store.write() as conn:
        writes.insert_blobs(conn, [ref, other])
    with client.registry._store.read() as conn:
        found = writes.blob_locations(conn, [ref.sha256, other.sha256])
    assert found[ref.sha256].pack == "p" * 64 and found[other.sha256].size == 5


def test_a_retried_register_with_a_request_id_registers_nothing_new(
    client: shoal.Client, tmp_path
) -> None:
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    first = fleet.register(records(), request_id="nightly-2026-11-24")
    packs = sorted((tmp_path / "artifacts").rglob("*.pack"))
    again = fleet.register(records(), request_id="nightly-2026-11-24")
    assert again == first
    assert fleet.count(versions="all") == 20
    assert sorted((tmp_path / "artifacts").rglob("*.pack")) == packs
    with pytest.raises(shoal.Conflict, match="already used"):
        fleet.register(records(version_bias=0.3), request_id="nightly-2026-11-24")
    with pytest.raises(shoal.InvalidInput, match="request_id"):
        fleet.register(records(), request_id="")
    assert fleet.register(records(), request_id="nightly-2026-11-25")[0].version == 2


def test_finishing_a_run_without_counts_keeps_its_counts(client: shoal.Client) -> None:
    from shoal.store import runs

    fleet = client.fleet("grocer/demand", keys=["store"])
    run = fleet.start_run("train")
    with client.registry._store.write() as conn:
        runs.update_counts(conn, run, {"done": 7})
    client.finish_run(run, "failed", error="worker lost")
    record = client.run(run)
    assert record.counts == {"done": 7} and record.status == "failed" and record.done == 7


def test_review_edge_cases_behave(client: shoal.Client) -> None:
    """Paging with NULL sort values, counts that need the join, typed params, bool tags."""
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    run = fleet.start_run("train")
    batch = records(stores=2, skus=3)
    for i, item in enumerate(batch):
        if i % 2:
            item["run"] = run
        item["params"] = {"max_features": "sqrt" if i % 3 == 0 else 0.5}
        item["tags"] = {"champion": i == 0}
        if i == 4:
            item["metrics"] = {"rmse": 1.0}
    fleet.register(batch)
    by_run = [v.id for v in fleet.iter_search(sort="-run", page_size=1)]
    assert len(by_run) == 3 and len(set(by_run)) == 3
    assert fleet.count("mape is null") == 1
    assert fleet.count("mape > 100 or rmse >= 0") == 6
    assert fleet.count("not mape > 100") == 5
    assert fleet.count("params.max_features > 0.3") == 4
    assert fleet.count("tags.champion = true") == 1
    fleet.register(records(stores=2, skus=3, version_bias=0.1))
    fleet.set_alias(
        "production", [((f"s00{s}", f"k00{k}"), 1) for s in range(2) for k in range(3)], create=True
    )
    walked = [v.id for v in fleet.iter_search(versions="all", sort="production.mape", page_size=2)]
    # every version of the 5 models whose production version has a mape, once each
    assert len(walked) == 10 and len(set(walked)) == 10
    with pytest.raises(shoal.InvalidInput, match="named twice"):
        fleet.set_alias("production", [(("s000", "k000"), 1), (("s000", "k000"), 2)], create=True)
    with pytest.raises(shoal.NotFound, match="expected"):
        fleet.set_alias(
            "production", {("s000", "k000"): 2}, expected={("zz", "k000"): None}, create=True
        )
    with pytest.raises(shoal.InvalidInput, match="printable"):
        fleet.register([{"key": ("a\x1fb", "c"), "model": LinearModel(1.0)}])
    bad = records(stores=1, skus=1)
    bad[0]["params"] = {"layers": [float("nan")]}
    with pytest.raises(shoal.InvalidInput, match=r"versions\[0\].*JSON"):
        fleet.register(bad)


def test_metric_histogram_counts_the_latest_values_in_equal_bins(client: shoal.Client) -> None:
    fleet = client.fleet("grocer/hist", keys=["store"])
    fleet.register(
        {"key": {"store": f"s{i:03d}"}, "model": LinearModel(0.0, {}),
         "metrics": {"mape": i / 10}}
        for i in range(100)
    )  # fmt: skip
    fleet.register([{"key": {"store": "s000"}, "model": LinearModel(0.0, {}),
                     "metrics": {"mape": 50.0}}])  # a newer version replaces its 0.0  # fmt: skip
    hist = fleet.metric_histogram("mape", bins=10)
    assert hist["count"] == 100 and sum(hist["counts"]) == 100
    assert hist["edges"][0] == pytest.approx(0.1) and hist["edges"][-1] == pytest.approx(50.0)
    assert hist["counts"][:2] == [50, 49] and hist["counts"][-1] == 1  # 0.1-5.0, 5.1-9.9, 50
    assert fleet.metric_histogram("nope") == {"name": "nope", "edges": [], "counts": [],
                                              "count": 0}  # fmt: skip
    with pytest.raises(shoal.InvalidInput, match="bins"):
        fleet.metric_histogram("mape", bins=0)
