"""Aliases: movable names on models, set explicitly or promoted by a filter, undoable.

The guards every entry point shares live here, once:

- a promotion names the models it moves: a filter, or ``all=True`` (``everything`` here)
  for the whole fleet (the CLI's ``--all``), so an empty ``--where`` never moves every model;
- a move that would start an alias no model of the fleet carries yet (a typo such as
  ``prodution``) is refused unless ``create=True`` (``--create``); a dry run says so;
- a promotion from a ``source`` alias that no model carries is refused, naming the
  aliases the fleet has and the closest one (``candiate``: did you mean ``candidate``?);
- a dry run says what the move changes of the metrics (:func:`champion.move_change`, over
  at most :data:`MOVE_CHANGE_MAX` models; past that over the previewed ones, marked
  ``sample``), and a filter that selects no model says so rather than a bare "0".

Comparing two aliases model by model (champion against challenger) is
:meth:`Aliases.compare`, in :mod:`shoal.registry.champion`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from shoal import faults
from shoal.errors import InvalidInput, NotFound
from shoal.registry import champion
from shoal.registry._guards import check_id
from shoal.registry._part import Part, actor_of
from shoal.store import aliases, audit, reads, retire, search, writes
from shoal.store import filters as F
from shoal.store.engine import lock_fleet
from shoal.store.query import as_node
from shoal.store.schema import metrics as metrics_table
from shoal.store.schema import models as models_table
from shoal.store.schema import versions as versions_table
from shoal.store.tenancy import NAME, FleetRef

MOVE_CHANGE_MAX = 50_000
"""Up to this many selected models, a dry run's metric change covers all of them."""
MOVE_SAMPLE = 20
"""Past :data:`MOVE_CHANGE_MAX`, the change covers this many (the SDK's preview rows)."""

Change = tuple[int, int | None, int | None]
"""(model id, version id before, version id after) of one model an alias move changes."""


@dataclass(frozen=True)
class Moved:
    """What a move did or, in a dry run, would do."""

    result: aliases.MoveResult
    changes: list[Change]
    source: str
    creates: bool = False
    notes: list[str] = field(default_factory=list)
    metric_change: list[dict[str, Any]] = field(default_factory=list)
    """Per metric, what the move changes (dry runs): see :func:`champion.move_change`."""


class Aliases(Part):
    """Alias moves of a fleet, each one transaction under the fleet's lock."""

    def set(
        self,
        fleet: FleetRef,
        name: str,
        targets: Sequence[tuple[Any, int | None]],
        *,
        expected: dict[Any, int | None] | None = None,
        dry_run: bool = False,
        create: bool = False,
        actor: str | None = None,
    ) -> Moved:
        """Point ``name`` at the given (key, version number) pairs in one transaction."""
        check_alias(name)
        actor = actor_of(actor)
        keyed = [(reads.normalize_key(fleet, key), number) for key, number in targets]
        seen: set[tuple[str, ...]] = set()
        for key, _ in keyed:
            if key in seen:
                raise InvalidInput(
                    f"targets: model {dict(zip(fleet.keys, key, strict=True))} is named twice; "
                    "give each model one version",
                    field="targets",
                )
            seen.add(key)
        with self._store.write() as conn:
            lock_fleet(conn, fleet.id)
            notes, creates = _creation(conn, fleet, name, create, dry_run, bool(keyed))
            ids = reads.versions_by_number(conn, fleet, keyed)
            pairs = [ids[key] for key, _ in keyed]
            retire.refuse_hidden(conn, fleet, [version for _, version in pairs])
            cas = None if expected is None else _expected_ids(conn, fleet, expected)
            result, changes = aliases.move(
                conn, fleet, name, pairs, actor=actor, expected=cas, dry_run=dry_run,
                where_text=None, source="explicit",
            )  # fmt: skip
            if not dry_run and result.moved:
                audit.record(
                    conn, fleet.tenant_id, actor, "alias.set", fleet.path,
                    {"alias": name, "moved": result.moved, "move": result.move_id},
                )  # fmt: skip
        if not dry_run:
            self._store.refresh_alias_statistics(result.moved)
        return Moved(result, changes, "explicit", creates, notes)

    def promote(
        self,
        fleet: FleetRef,
        name: str,
        *,
        where: str | F.Node | None = None,
        everything: bool = False,
        source: str | None = None,
        dry_run: bool = False,
        create: bool = False,
        actor: str | None = None,
    ) -> Moved:
        """Move ``name`` to the ``source`` version of every model the filter selects.

        The selection and the move happen in one write transaction under the fleet's
        lock, so two promoters never interleave: the second sees the first's result.
        """
        check_alias(name)
        node = as_node(where)
        if node is None and not everything:
            raise InvalidInput(
                f"promote {name!r} needs a filter naming the models to move (e.g. "
                'where="candidate.mape < production.mape"), or all=True (--all) to '
                "move every model of the fleet",
                field="where",
            )
        if node is not None and everything:
            raise InvalidInput("give a filter or all=True (--all), not both", field="all")
        actor = actor_of(actor)
        source = source or infer_source(fleet, node, name)
        scoped = node
        if source != "latest":
            check_alias(source)
            clause = F.Compare(F.Field(("alias",)), "=", source)
            scoped = clause if node is None else F.And((clause, node))
        where_text = where if isinstance(where, str) and node is not None else None
        with self._store.write() as conn:
            lock_fleet(conn, fleet.id)
            notes: list[str] = []
            if source != "latest" and aliases.alias_count(conn, fleet, source) == 0:
                have = sorted(aliases.coverage(conn, fleet))
                raise champion.unknown_alias(fleet, source, have, "source")
            pairs = search.select_versions(conn, fleet, scoped)
            if not pairs:
                notes.append(
                    f"the filter {where_text!r} selects no model" if source == "latest"
                    else f"no model carrying {source!r} matches the filter {where_text!r}"
                    if where_text else f"no model carries {source!r}"
                )  # fmt: skip
            more, creates = _creation(conn, fleet, name, create, dry_run, bool(pairs))
            notes += more
            result, changes = aliases.move(
                conn, fleet, name, pairs, actor=actor, where_text=where_text, source=source,
                dry_run=dry_run,
            )  # fmt: skip
            change = (_preview_change(conn, fleet, name, source, scoped, pairs, changes)
                      if dry_run and pairs else [])  # fmt: skip
            if not dry_run and result.moved:
                audit.record(
                    conn, fleet.tenant_id, actor, "alias.promote", fleet.path,
                    {"alias": name, "where": where_text, "source": source,
                     "moved": result.moved, "move": result.move_id},
                )  # fmt: skip
                faults.point("promote.before_commit")
        if not dry_run:
            self._store.refresh_alias_statistics(result.moved)
        return Moved(result, changes, source, creates, notes, change)

    def compare(self, fleet: FleetRef, a: str, b: str, metric: str, **options: Any) -> Any:
        """Alias ``a`` against ``b`` on ``metric``, model by model: see
        :func:`shoal.registry.champion.compare` for the options."""
        return champion.compare(self._store, fleet, a, b, metric, **options)

    def undo(self, fleet: FleetRef, move_id: int, *, actor: str | None = None) -> Any:
        actor = actor_of(actor)
        check_id(move_id, "move_id")
        with self._store.write() as conn:
            result = aliases.undo(conn, fleet, move_id, actor=actor)
            audit.record(
                conn, fleet.tenant_id, actor, "alias.undo", fleet.path,
                {"undone": move_id, "move": result.move_id, "moved": result.moved},
            )  # fmt: skip
        return result

    def moves(
        self, fleet: FleetRef, limit: int = 50, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The fleet's alias moves, newest first (``limit`` of them with an id below
        ``before``)."""
        with self._store.read() as conn:
            return aliases.list_moves(conn, fleet, limit, before)

    def coverage(self, fleet: FleetRef) -> dict[str, int]:
        """How many models carry each alias, from the kept counters."""
        with self._store.read() as conn:
            return aliases.coverage(conn, fleet)

    def describe(
        self, fleet: FleetRef, changes: Sequence[Change], limit: int
    ) -> list[dict[str, Any]]:
        """Keys, version numbers and metrics (``{name: {from, to, delta}}``) for the first
        ``limit`` changes of a move (for previews): three queries, not three a row."""
        shown = list(changes[:limit])
        if not shown:
            return []
        version_ids = {v for _, old, new in shown for v in (old, new) if v is not None}
        with self._store.read() as conn:
            numbers = {
                row.id: row.number
                for row in conn.execute(
                    sa.select(versions_table.c.id, versions_table.c.number).where(
                        versions_table.c.id.in_(list(version_ids)),
                        versions_table.c.tenant_id == fleet.tenant_id,
                    )
                )
            } if version_ids else {}  # fmt: skip
            keys = {
                row.id: [row._mapping[f"k{i}"] for i in range(len(fleet.keys))]
                for row in conn.execute(
                    sa.select(models_table).where(
                        models_table.c.id.in_([m for m, _, _ in shown]),
                        models_table.c.tenant_id == fleet.tenant_id,
                    )
                )
            }
            values: dict[int, dict[str, float]] = {}
            for row in conn.execute(
                sa.select(metrics_table.c.version_id, metrics_table.c.name,
                          metrics_table.c.value).where(
                    metrics_table.c.version_id.in_(list(version_ids)),
                    metrics_table.c.fleet_id == fleet.id,
                )
            ) if version_ids else []:  # fmt: skip
                values.setdefault(row.version_id, {})[row.name] = row.value
        return [
            {
                "key": dict(zip(fleet.keys, keys.get(m, []), strict=False)),
                "from": numbers.get(old) if old is not None else None,
                "to": numbers.get(new) if new is not None else None,
                "metrics": _metric_pairs(values.get(old or 0, {}), values.get(new or 0, {})),
            }
            for m, old, new in shown
        ]


def _preview_change(
    conn: Any, fleet: FleetRef, target: str, source: str, scoped: F.Node | None,
    pairs: Sequence[Any], changes: Sequence[Change],
) -> list[dict[str, Any]]:  # fmt: skip
    """A dry run's metric change: over every model the move selects while that is at most
    :data:`MOVE_CHANGE_MAX` (the same bound as the champion page's totals), else over the
    first :data:`MOVE_SAMPLE` changes (the previewed models), marked ``sample``: the full
    change reads every selected model (seconds at a million)."""
    if len(pairs) <= MOVE_CHANGE_MAX:
        full = champion.move_change(conn, fleet, target, source, scoped)
        return [{**c, "sample": False, "over": None} for c in full]
    if target == source or (target != "latest" and aliases.alias_count(conn, fleet, target) == 0):
        return []
    shown = list(changes[:MOVE_SAMPLE])
    names = champion.move_metrics(conn, fleet, scoped)
    version_ids = {v for _, old, new in shown for v in (old, new) if v is not None}
    values: dict[tuple[int, str], float] = {}
    if version_ids and names:
        query = sa.select(
            metrics_table.c.version_id, metrics_table.c.name, metrics_table.c.value
        ).where(
            metrics_table.c.version_id.in_(sorted(version_ids)),
            metrics_table.c.name.in_(names),
            metrics_table.c.fleet_id == fleet.id,
        )  # fmt: skip
        values = {(row.version_id, row.name): row.value for row in conn.execute(query)}
    over = f"the first {len(shown)} previewed models (of {len(changes):,} moving)"
    return [
        _sample_change(metric, [(values.get((old, metric)) if old is not None else None,
                                 values.get((new, metric)) if new is not None else None,
                                 old is None) for _, old, new in shown], over)
        for metric in names
    ]  # fmt: skip


def _sample_change(
    metric: str, pairs: list[tuple[float | None, float | None, bool]], over: str
) -> dict[str, Any]:
    """:func:`champion.move_change`'s figures for one metric over ``pairs`` (value before,
    after, and whether the model gets the alias for the first time)."""
    way = champion.known_direction(metric) or "lower"
    new = sum(1 for _, _, fresh in pairs if fresh)
    both = [(a, b) for a, b, fresh in pairs if not fresh]
    measured = [(a, b) for a, b in both if a is not None and b is not None]
    deltas = sorted(b - a for a, b in measured)
    sign = -1 if way == "lower" else 1
    mid = len(deltas) // 2
    median = (
        None if not deltas
        else deltas[mid] if len(deltas) % 2 else (deltas[mid - 1] + deltas[mid]) / 2
    )  # fmt: skip
    return {
        "metric": metric, "direction": way, "models": len(measured),
        "mean_from": sum(a for a, _ in measured) / len(measured) if measured else None,
        "mean_to": sum(b for _, b in measured) / len(measured) if measured else None,
        "mean_delta": sum(deltas) / len(deltas) if deltas else None,
        "median_delta": median,
        "better": sum(1 for d in deltas if d * sign > 0),
        "worse": sum(1 for d in deltas if d * sign < 0),
        "same": sum(1 for d in deltas if d == 0),
        "unmeasured": len(both) - len(measured), "new": new, "sample": True, "over": over,
    }  # fmt: skip


def _metric_pairs(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Each metric either version has: its value before and after, and the change."""
    return {
        name: {"from": before.get(name), "to": after.get(name),
               "delta": after[name] - before[name] if name in before and name in after
               else None}
        for name in sorted({*before, *after})
    }  # fmt: skip


def _creation(
    conn: Any, fleet: FleetRef, name: str, create: bool, dry_run: bool, moving: bool
) -> tuple[list[str], bool]:
    """Whether the move starts alias ``name`` on this fleet; refused unless ``create``."""
    if not moving or aliases.alias_count(conn, fleet, name) > 0:
        return [], False
    have = sorted(aliases.coverage(conn, fleet))
    note = (
        f"alias {name!r} is on no model of fleet '{fleet.path}' yet (its aliases: "
        f"{', '.join(have) or 'none'}): this move creates it"
    )
    if not create and not dry_run:
        raise InvalidInput(
            f"{note}; check the spelling, or pass create=True (--create) to start it",
            field="alias",
        )
    return [note], True


def _expected_ids(
    conn: Any, fleet: FleetRef, expected: dict[Any, int | None]
) -> dict[int, int | None]:
    """``expected`` (key -> version number seen) as model id -> version id."""
    expected_keys = [(reads.normalize_key(fleet, k), n) for k, n in expected.items()]
    models_of = writes.find_models(conn, fleet, [k for k, _ in expected_keys])
    missing = [k for k, _ in expected_keys if k not in models_of]
    if missing:
        shown = dict(zip(fleet.keys, missing[0], strict=True))
        raise NotFound(f"expected: no model {shown} in fleet '{fleet.path}'")
    with_numbers = [(k, n) for k, n in expected_keys if n is not None]
    resolved = reads.versions_by_number(conn, fleet, with_numbers)
    return {
        models_of[key].id: resolved[key][1] if number is not None else None
        for key, number in expected_keys
    }


def check_alias(name: str) -> str:
    """``name`` if it is a valid alias name, else InvalidInput saying what is allowed."""
    if not isinstance(name, str) or not NAME.match(name) or name == "latest":
        raise InvalidInput(
            f"alias {name!r} is not a valid alias name: use lowercase letters, digits, '-' "
            "or '_' (e.g. 'production'); 'latest' is reserved",
            field="alias",
        )
    return name


def infer_source(fleet: FleetRef, where: F.Node | None, target: str) -> str:
    """The version a promotion moves in: the one other alias the filter compares, else latest.

    ``promote("production", where="candidate.mape < production.mape")`` moves the
    candidate in; a filter on plain metrics promotes each model's latest version.
    """
    owners = {
        f.parts[0]
        for f in F.fields_of(where)
        if len(f.parts) == 2 and f.parts[0] not in ("tags", "params", "metrics")
        and f.parts[0] not in fleet.keys
    }  # fmt: skip
    owners.discard(target)
    return owners.pop() if len(owners) == 1 else "latest"
