"""What a model card shows, read for many models at once.

For each chunk of model ids, one query per kind of data (the models with their card rows,
the versions shown, their metrics and tags, the last versions, lineage, aliases, alias
moves, monitoring windows, alerts), never one query per model. Lists are cut to their
newest few in SQL (``row_number()`` over each model) with the total beside them, so a
model with 10,000 versions or a year of daily windows reads as few rows as any other.

Every query is constrained to the fleet (and its tenant) a scoped lookup produced. The
version a card shows is the one ``production`` points at, else the model's latest: a
card describes what serves, the way a fleet report judges it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.store.cards import CARD_COLUMNS, empty_card
from shoal.store.query import Where, build
from shoal.store.reads import VERSION_COLUMNS as _VERSION_COLUMNS
from shoal.store.schema import (
    alert_rules,
    alerts,
    alias_move_items,
    alias_moves,
    aliases,
    audit,
    datasets,
    fleets,
    metrics,
    model_cards,
    models,
    monitor_results,
    runs,
    version_baselines,
    version_tags,
    versions,
)
from shoal.store.tenancy import FleetRef
from shoal.store.vocabulary import check_names
from shoal.store.writes import chunks

CHUNK = 500
"""Models per chunk of a bulk read: each kind of data is one query per chunk."""
SHOWN_ALIAS = "production"
"""The alias whose version a card shows; a model without it shows its latest version."""
LAST_VERSIONS = 10
LAST_MOVES = 10
LAST_WINDOWS = 12
LAST_ALERTS = 10


def model_page(
    conn: Connection, fleet: FleetRef, where: Where, *, after: int, limit: int
) -> list[int]:
    """Ids of the models ``where`` selects (as search reads it), ``limit`` of them above
    ``after`` in id order: a keyset page, so writing a fleet's cards never re-reads."""
    sql = build(fleet, where, "latest")
    check_names(conn, sql)
    query = (
        sa.select(sql.mo.c.id)
        .select_from(sql.from_clause())
        .where(*sql.where, sql.mo.c.id > after)
        .order_by(sql.mo.c.id)
        .limit(limit)
    )
    return [row[0] for row in conn.execute(query)]


def read(conn: Connection, fleet: FleetRef, model_ids: Sequence[int]) -> dict[str, Any]:
    """Everything the cards of ``model_ids`` show: ``{"fleet": {...}, "models": [...]}``.

    ``fleet`` holds what every card of the fleet shares (its description, size, alert
    rules, the newest evaluation); ``models`` one dict per model found, in the order
    asked, each list newest first and cut to its newest few, with its total beside it.
    Ids of other fleets are left out.
    """
    shared = _fleet_part(conn, fleet)
    found: list[dict[str, Any]] = []
    for part in chunks(list(dict.fromkeys(model_ids)), CHUNK):
        found.extend(_chunk(conn, fleet, list(part)))
    return {"fleet": shared, "models": found}


def _fleet_part(conn: Connection, fleet: FleetRef) -> dict[str, Any]:
    row = conn.execute(
        sa.select(fleets.c.description, fleets.c.model_count, fleets.c.created_at).where(
            fleets.c.id == fleet.id, fleets.c.tenant_id == fleet.tenant_id
        )
    ).one()
    rules = conn.execute(
        sa.select(alert_rules.c.name, alert_rules.c.expression, alert_rules.c.enabled)
        .where(alert_rules.c.fleet_id == fleet.id, alert_rules.c.tenant_id == fleet.tenant_id)
        .order_by(alert_rules.c.id)
    )
    evaluations = conn.execute(
        sa.select(audit.c.at, audit.c.actor, audit.c.detail)
        .where(audit.c.tenant_id == fleet.tenant_id, audit.c.action == "evaluate",
               audit.c.target == fleet.path)
        .order_by(audit.c.id.desc())
        .limit(20)
    ).all()  # fmt: skip
    names = {str(n) for e in evaluations for n in (e.detail or {}).get("metrics", [])}
    newest = evaluations[0] if evaluations else None
    return {
        "path": fleet.path, "keys": list(fleet.keys), "description": row.description or "",
        "models": int(row.model_count), "created_at": row.created_at,
        "rules": [dict(r._mapping) for r in rules],
        "evaluated_metrics": sorted(names),
        "evaluation": None if newest is None else {
            "at": newest.at, "by": newest.actor,
            "alias": (newest.detail or {}).get("alias"),
        },
    }  # fmt: skip


def _chunk(conn: Connection, fleet: FleetRef, ids: list[int]) -> list[dict[str, Any]]:
    base = _models(conn, fleet, ids)
    if not base:
        return []
    shown_ids = [m["shown_id"] for m in base.values() if m["shown_id"] is not None]
    shown = _versions_by_id(conn, fleet, shown_ids)
    figures = _figures(conn, fleet, shown_ids)
    profiled = _baselines(conn, fleet, shown_ids)
    lineage = _lineage(conn, fleet, shown.values())
    history = _history(conn, fleet, ids)
    held = _aliases(conn, fleet, ids)
    moves = _moves(conn, fleet, ids)
    windows = _windows(conn, fleet, ids)
    raised = _alerts(conn, fleet, ids)
    out = []
    for mid in ids:
        model = base.get(mid)
        if model is None:
            continue
        version = shown.get(model["shown_id"]) if model["shown_id"] is not None else None
        if version is not None:
            version = {**version, **figures.get(version["version_id"], {})}
            version["baseline"] = version["version_id"] in profiled
            version["dataset"] = lineage["datasets"].get(version["dataset_id"])
            version["run"] = lineage["runs"].get(version["run_id"])
        out.append({
            **model, "version": version,
            "versions": history.get(mid, ([], 0))[0], "version_total": history.get(mid, ([], 0))[1],
            "aliases": held.get(mid, []),
            "moves": moves.get(mid, ([], 0))[0], "move_total": moves.get(mid, ([], 0))[1],
            "windows": windows.get(mid, ([], 0))[0],
            "window_total": windows.get(mid, ([], 0))[1],
            "alerts": raised.get(mid, ([], 0))[0], "alert_total": raised.get(mid, ([], 0))[1],
        })  # fmt: skip
    return out


def _models(conn: Connection, fleet: FleetRef, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The models of ``ids`` in the fleet, with their card row and the version shown."""
    shown_alias = aliases.alias("shown_alias")
    source = models.outerjoin(
        shown_alias,
        sa.and_(shown_alias.c.model_id == models.c.id, shown_alias.c.name == SHOWN_ALIAS,
                shown_alias.c.fleet_id == fleet.id),
    ).outerjoin(
        model_cards,
        sa.and_(model_cards.c.model_id == models.c.id, model_cards.c.fleet_id == fleet.id),
    )  # fmt: skip
    query = (
        sa.select(
            models.c.id, models.c.created_at, models.c.latest_version_id,
            shown_alias.c.version_id.label("alias_version_id"),
            model_cards.c.model_id.label("card_model_id"),
            *[models.c[f"k{i}"] for i in range(len(fleet.keys))],
            *[model_cards.c[c].label(f"card_{c}") for c in CARD_COLUMNS],
        )
        .select_from(source)
        .where(models.c.id.in_(ids), models.c.fleet_id == fleet.id,
               models.c.tenant_id == fleet.tenant_id)
    )  # fmt: skip
    out: dict[int, dict[str, Any]] = {}
    for row in conn.execute(query):
        data = row._mapping
        card = (
            empty_card()
            if data["card_model_id"] is None
            else {c: data[f"card_{c}"] for c in CARD_COLUMNS}
        )
        by_alias = data["alias_version_id"] is not None
        out[row.id] = {
            "model_id": row.id, "created_at": row.created_at,
            "key": {dim: data[f"k{i}"] for i, dim in enumerate(fleet.keys)},
            "card": card,
            "shown_id": data["alias_version_id"] if by_alias else row.latest_version_id,
            "shown_by": SHOWN_ALIAS if by_alias else "latest",
        }  # fmt: skip
    return out


def _guard(column: Any) -> Any:
    """``column`` in a condition that guards the fleet without steering the plan.

    Rows here are reached by the model or version ids of a fleet-scoped query, through
    their own index; the fleet (or tenant) test stays in the SQL as a guard. Spelled as
    ``column + 0`` so SQLite cannot pick a fleet-wide index for it: with no statistics it
    takes ``fleet_id = ?`` as selective and would scan every alias, move or metric of
    the fleet instead of seeking the few ids asked for (see docs/architecture.md).
    """
    return column + 0


def _versions_by_id(conn: Connection, fleet: FleetRef, ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    query = sa.select(*_VERSION_COLUMNS).where(
        versions.c.id.in_(ids), versions.c.fleet_id == fleet.id,
        versions.c.tenant_id == fleet.tenant_id,
    )  # fmt: skip
    return {row.version_id: dict(row._mapping) for row in conn.execute(query)}


def _figures(conn: Connection, fleet: FleetRef, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Metrics and tags of the versions shown: two queries."""
    out: dict[int, dict[str, Any]] = {vid: {"metrics": {}, "tags": {}} for vid in ids}
    if not ids:
        return out
    for r in conn.execute(
        sa.select(metrics.c.version_id, metrics.c.name, metrics.c.value).where(
            metrics.c.version_id.in_(ids), _guard(metrics.c.fleet_id) == fleet.id
        )
    ):
        out[r.version_id]["metrics"][r.name] = r.value
    for r in conn.execute(
        sa.select(version_tags.c.version_id, version_tags.c.key, version_tags.c.value).where(
            version_tags.c.version_id.in_(ids), _guard(version_tags.c.fleet_id) == fleet.id
        )
    ):
        out[r.version_id]["tags"][r.key] = r.value
    return out


def _baselines(conn: Connection, fleet: FleetRef, ids: list[int]) -> set[int]:
    """Which of the versions have a drift baseline (ids only: profiles are kilobytes)."""
    if not ids:
        return set()
    query = sa.select(version_baselines.c.version_id).where(
        version_baselines.c.version_id.in_(ids), version_baselines.c.fleet_id == fleet.id
    )
    return {row[0] for row in conn.execute(query)}


def _lineage(conn: Connection, fleet: FleetRef, shown: Any) -> dict[str, dict[int, dict[str, Any]]]:
    """The datasets and runs that made the versions shown, joined to the fleet's tenant."""
    rows = list(shown)
    dataset_ids = sorted({v["dataset_id"] for v in rows if v["dataset_id"] is not None})
    run_ids = sorted({v["run_id"] for v in rows if v["run_id"] is not None})
    out: dict[str, dict[int, dict[str, Any]]] = {"datasets": {}, "runs": {}}
    if dataset_ids:
        query = sa.select(
            datasets.c.id, datasets.c.name, datasets.c.fingerprint, datasets.c.row_count,
            datasets.c.location, datasets.c.created_at,
        ).where(datasets.c.id.in_(dataset_ids),
                datasets.c.tenant_id == fleet.tenant_id)  # fmt: skip
        out["datasets"] = {r.id: dict(r._mapping) for r in conn.execute(query)}
    if run_ids:
        query = sa.select(
            runs.c.id, runs.c.kind, runs.c.status, runs.c.code_ref, runs.c.created_by,
            runs.c.started_at, runs.c.finished_at,
        ).where(runs.c.id.in_(run_ids), runs.c.tenant_id == fleet.tenant_id)  # fmt: skip
        out["runs"] = {r.id: dict(r._mapping) for r in conn.execute(query)}
    return out


Ranked = dict[int, tuple[list[dict[str, Any]], int]]
"""Per model id: its newest rows (a few) and how many there are in all."""


def _newest(
    conn: Connection, columns: Sequence[Any], source: Any, where: Sequence[Any],
    partition: Any, order: Sequence[Any], limit: int,
) -> Ranked:  # fmt: skip
    """The newest ``limit`` rows of each model (``partition``) and each model's total:
    one query, ranked by ``row_number()`` in SQL."""
    rank = sa.func.row_number().over(partition_by=partition, order_by=list(order))
    total = sa.func.count().over(partition_by=partition)
    inner = (
        sa.select(partition.label("_model"), *columns, rank.label("_rank"),
                  total.label("_total"))
        .select_from(source)
        .where(*where)
        .subquery()
    )  # fmt: skip
    query = sa.select(inner).where(inner.c._rank <= limit).order_by(inner.c._model, inner.c._rank)
    out: Ranked = {}
    for row in conn.execute(query):
        data = dict(row._mapping)
        model, count = data.pop("_model"), int(data.pop("_total"))
        data.pop("_rank")
        rows, _ = out.get(model, ([], 0))
        rows.append(data)
        out[model] = (rows, count)
    return out


def _history(conn: Connection, fleet: FleetRef, ids: list[int]) -> Ranked:
    columns = (versions.c.id.label("version_id"), versions.c.number, versions.c.status,
               versions.c.flavor, versions.c.run_id, versions.c.created_by,
               versions.c.created_at)  # fmt: skip
    where = (versions.c.model_id.in_(ids), versions.c.fleet_id == fleet.id,
             versions.c.tenant_id == fleet.tenant_id)  # fmt: skip
    return _newest(conn, columns, versions, where, versions.c.model_id,
                   [versions.c.number.desc()], LAST_VERSIONS)  # fmt: skip


def _aliases(conn: Connection, fleet: FleetRef, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    query = (
        sa.select(aliases.c.model_id, aliases.c.name, aliases.c.updated_at,
                  versions.c.number.label("version"))
        .select_from(aliases.join(versions, versions.c.id == aliases.c.version_id))
        .where(aliases.c.model_id.in_(ids), _guard(aliases.c.fleet_id) == fleet.id)
        .order_by(aliases.c.model_id, aliases.c.name)
    )  # fmt: skip
    out: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(query):
        out.setdefault(row.model_id, []).append(
            {"name": row.name, "version": row.version, "updated_at": row.updated_at}
        )
    return out


def _moves(conn: Connection, fleet: FleetRef, ids: list[int]) -> Ranked:
    """Each model's alias moves (``ix_alias_move_items_model``), with version numbers."""
    old, new = versions.alias("old_v"), versions.alias("new_v")
    source = (
        alias_move_items.join(alias_moves, alias_moves.c.id == alias_move_items.c.move_id)
        .outerjoin(old, old.c.id == alias_move_items.c.old_version_id)
        .outerjoin(new, new.c.id == alias_move_items.c.new_version_id)
    )
    columns = (alias_moves.c.id.label("move_id"), alias_moves.c.alias, alias_moves.c.actor,
               alias_moves.c.at, alias_moves.c.undo_of, old.c.number.label("old_version"),
               new.c.number.label("new_version"))  # fmt: skip
    where = (alias_move_items.c.model_id.in_(ids), _guard(alias_moves.c.fleet_id) == fleet.id,
             _guard(alias_moves.c.tenant_id) == fleet.tenant_id)  # fmt: skip
    return _newest(conn, columns, source, where, alias_move_items.c.model_id,
                   [alias_move_items.c.move_id.desc()], LAST_MOVES)  # fmt: skip


def _windows(conn: Connection, fleet: FleetRef, ids: list[int]) -> Ranked:
    """Each model's newest monitored windows (``ix_monitor_results_model``)."""
    r = monitor_results
    source = r.join(versions, versions.c.id == r.c.version_id)
    columns = (r.c.window_seconds, r.c.window_start, versions.c.number.label("version"),
               r.c.predictions, r.c.labelled, r.c.mape, r.c.mae, r.c.accuracy, r.c.max_psi,
               r.c.max_psi_feature, r.c.drifted_features, r.c.tested_features)  # fmt: skip
    where = (r.c.fleet_id == fleet.id, r.c.model_id.in_(ids))
    return _newest(conn, columns, source, where, r.c.model_id,
                   [r.c.window_start.desc(), r.c.version_id.desc()], LAST_WINDOWS)  # fmt: skip


def _alerts(conn: Connection, fleet: FleetRef, ids: list[int]) -> Ranked:
    """Each model's newest alerts, through the fleet's rules (``ix_alerts_rule_model``)."""
    source = alerts.join(alert_rules, alert_rules.c.id == alerts.c.rule_id).join(
        versions, versions.c.id == alerts.c.version_id
    )
    columns = (alerts.c.id.label("alert_id"), alert_rules.c.name.label("rule"),
               alerts.c.state, alerts.c.value, alerts.c.feature, alerts.c.first_window,
               alerts.c.last_window, alerts.c.opened_at, alerts.c.resolved_at,
               versions.c.number.label("version"))  # fmt: skip
    where = (alert_rules.c.fleet_id == fleet.id, _guard(alerts.c.fleet_id) == fleet.id,
             alerts.c.model_id.in_(ids))  # fmt: skip
    return _newest(conn, columns, source, where, alerts.c.model_id,
                   [alerts.c.id.desc()], LAST_ALERTS)  # fmt: skip
