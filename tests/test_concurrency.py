"""Two processes moving one alias at once: no lost update, on SQLite and PostgreSQL.

Each process flips ``production`` between its own source alias and the latest
version, many times over. If two promoters ever read the same state and both
wrote, the move log would show a move whose "old" version is not what the
previous move left, and the kept alias count would drift from the real rows.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import defaultdict

import pytest
import sqlalchemy as sa
from tests.helpers import records

import shoal

ROUNDS = 20


def _promoter(store_url: str, artifacts: str, source: str, barrier) -> None:
    client = shoal.connect(store_url, artifacts)
    fleet = client.fleet("grocer/demand")
    barrier.wait(timeout=60)
    for round_ in range(ROUNDS):
        fleet.promote(
            "production", source=source if round_ % 2 == 0 else "latest", all=True, create=True
        )
    client.close()


@pytest.mark.slow
def test_two_processes_promoting_at_once_lose_no_update(store_url: str, tmp_path) -> None:
    artifacts = str(tmp_path / "artifacts")
    client = shoal.connect(store_url, artifacts)
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    fleet.register(records(stores=10, skus=40))
    fleet.register(records(stores=10, skus=40, version_bias=0.1))
    fleet.register(records(stores=10, skus=40, version_bias=0.2))
    all_keys = [v.key for v in fleet.iter_search()]
    fleet.set_alias("blue", [((k["store"], k["sku"]), 1) for k in all_keys], create=True)
    fleet.set_alias("green", [((k["store"], k["sku"]), 2) for k in all_keys], create=True)

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_promoter, args=(store_url, artifacts, source, barrier))
        for source in ("blue", "green")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
        assert worker.exitcode == 0

    from shoal.store.schema import alias_move_items, alias_moves, aliases

    with client.registry._store.read() as conn:
        moves = conn.execute(
            sa.select(alias_moves.c.id, alias_move_items.c.model_id,
                      alias_move_items.c.old_version_id, alias_move_items.c.new_version_id)
            .join(alias_move_items, alias_move_items.c.move_id == alias_moves.c.id)
            .where(alias_moves.c.alias == "production")
            .order_by(alias_moves.c.id)
        ).all()  # fmt: skip
        rows = conn.execute(
            sa.select(aliases.c.model_id, aliases.c.version_id).where(
                aliases.c.name == "production"
            )
        ).all()
    last: dict[int, int | None] = defaultdict(lambda: None)
    for _, model, old, new in moves:
        assert old == last[model], "a move started from a state another move had changed"
        last[model] = new
    assert {m: v for m, v in rows} == dict(last)
    assert fleet.coverage()["production"] == len(rows) == 400
    client.close()
