"""Champion against challenger, and what an alias move would change, for the registry.

The guards every entry point shares live here, once:

- a side that names an alias no model of the fleet carries (a typo such as ``candiate``)
  is refused, naming the field (``a``, ``b`` or ``source``), the fleet's aliases and
  ``latest``, and the closest name (difflib): a comparison of nothing never reads as
  "0 models" that look like an answer;
- the direction of a metric (is lower better?) is explicit: known error names (``mape``,
  ``rmse``, ``log_loss``, ...) are lower-is-better, known scores (``accuracy``, ``f1``,
  ``auc``, ``r2``, ...) higher-is-better, with or without a prefix such as ``eval_``;
  any other metric needs ``direction`` given, rather than a guess;
- a filter that selects no model says so in the notes.

:meth:`Aliases.compare` and :meth:`Aliases.promote` call these in their own transactions.
"""

from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput
from shoal.store import aliases, vocabulary
from shoal.store import champion as store
from shoal.store import filters as F
from shoal.store.engine import Store
from shoal.store.query import Where, as_node
from shoal.store.tenancy import FleetRef

LOWER_IS_BETTER = (
    "mape", "smape", "wape", "wmape", "mase", "rmse", "mse", "mae", "rmsle", "msle",
    "log_loss", "logloss", "loss", "error", "brier", "crps", "pinball",
)  # fmt: skip
HIGHER_IS_BETTER = (
    "accuracy", "acc", "f1", "auc", "roc_auc", "pr_auc", "r2", "precision", "recall",
    "ap", "ndcg", "mcc", "kappa",
)  # fmt: skip
DIRECTIONS = ("lower", "higher")
MOVE_METRICS = 2
"""At most this many metrics a move preview rolls up (those its filter names, else the
fleet's first ones with a known direction)."""


def direction_of(metric: str, direction: str | None = None) -> str:
    """``lower`` or ``higher``: ``direction`` when given, else what ``metric``'s name says."""
    if direction is not None:
        if direction not in DIRECTIONS:
            raise InvalidInput(
                f"direction must be 'lower' (lower is better: errors) or 'higher' (scores), "
                f"got {direction!r}",
                field="direction",
            )
        return direction
    found = known_direction(metric)
    if found is None:
        raise InvalidInput(
            f"metric {metric!r} is not a known error (lower is better: "
            f"{', '.join(LOWER_IS_BETTER[:6])}, ...) or score (higher is better: "
            f"{', '.join(HIGHER_IS_BETTER[:6])}, ...): pass direction='lower' or 'higher'",
            field="direction",
        )
    return found


def known_direction(metric: str) -> str | None:
    """``lower`` or ``higher`` when ``metric``'s name says, else None."""
    name = metric.lower()
    tokens = [(t, "lower") for t in LOWER_IS_BETTER] + [(t, "higher") for t in HIGHER_IS_BETTER]
    for token, way in sorted(tokens, key=lambda t: -len(t[0])):
        if name == token or name.endswith("_" + token) or name.startswith(token + "_"):
            return way
    return None


def unknown_alias(fleet: FleetRef, name: str, have: list[str], field: str) -> InvalidInput:
    """The error for a side naming an alias no model carries: the fleet's aliases, and
    the closest name to what was typed."""
    choices = [*have, "latest"]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    lead = "source alias" if field == "source" else f"{field}: alias"
    return InvalidInput(
        f"{lead} {name!r} is on no model of fleet '{fleet.path}'; its aliases are "
        f"{', '.join(have) or 'none yet'} (and 'latest', each model's newest version){hint}",
        field=field,
    )


def check_side(conn: Connection, fleet: FleetRef, name: str, field: str) -> str:
    """``name`` if it is ``latest`` or an alias some model of the fleet carries."""
    from shoal.registry.aliases import check_alias

    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{field}: name an alias, e.g. 'production', or 'latest'",
                           field=field)  # fmt: skip
    name = name.strip()
    if name == "latest":
        return name
    try:
        check_alias(name)
    except InvalidInput as exc:
        raise InvalidInput(str(exc), field=field) from None
    if aliases.alias_count(conn, fleet, name) == 0:
        raise unknown_alias(fleet, name, sorted(aliases.coverage(conn, fleet)), field)
    return name


def notes_of(fleet: FleetRef, sides: store.Sides, found: dict[str, Any], where: Any) -> list[str]:
    """What a person should read beside a comparison's numbers (why a count is 0)."""
    notes: list[str] = []
    if found["both"] + found["only_a"] + found["only_b"] == 0:
        notes.append(
            f"the filter {where!r} selects no model carrying {sides.a!r} or {sides.b!r}"
            if where
            else f"no model of fleet '{fleet.path}' carries {sides.a!r} or {sides.b!r}"
        )
    elif found["both"] == 0:
        notes.append(f"no model carries both {sides.a!r} and {sides.b!r}: nothing to compare")
    elif found["compared"] == 0:
        notes.append(
            f"no model has metric {sides.metric!r} on both its {sides.a!r} and {sides.b!r} versions"
        )
    return notes


def compare(
    store_: Store,
    fleet: FleetRef,
    a: str,
    b: str,
    metric: str,
    *,
    direction: str | None = None,
    where: Where = None,
    show: str = "both",
    sort: str = "",
    limit: int = 50,
    cursor: str | None = None,
    by: str | None = None,
    groups: int = 100,
    totals: bool = True,
) -> dict[str, Any]:
    """One page of the comparison; its summary and notes when ``totals``; the roll-up by
    ``by`` when given. One snapshot, so the page, the totals and the roll-up agree."""
    if not isinstance(metric, str) or not metric.strip():
        raise InvalidInput("metric: name a metric, e.g. 'mape'", field="metric")
    metric = metric.strip()
    way = direction_of(metric, direction)
    node = as_node(where)
    with store_.snapshot() as conn:
        a = check_side(conn, fleet, a, "a")
        b = check_side(conn, fleet, b, "b")
        if a == b:
            raise InvalidInput(f"b: compare {a!r} with another alias, not itself", field="b")
        sides = store.Sides(a, b, metric, way == "lower")
        rows, next_cursor = store.page(conn, fleet, sides, where=node, show=show, sort=sort,
                                       limit=limit, cursor=cursor)  # fmt: skip
        out: dict[str, Any] = {"sides": sides, "direction": way, "rows": rows,
                               "next_cursor": next_cursor, "summary": None, "notes": [],
                               "rollup": None, "more_groups": False}  # fmt: skip
        if totals:
            out["summary"] = store.summary(conn, fleet, sides, where=node)
            out["notes"] = notes_of(fleet, sides, out["summary"], where)
        if by:
            by = by.strip()
            if by not in fleet.keys and not (by.startswith("tags.") or "." not in by):
                raise InvalidInput(
                    f"by: roll up by a key dimension ({', '.join(fleet.keys) or 'none'}) or "
                    f"a tag (tags.NAME), got {by!r}",
                    field="by",
                )
            out["rollup"], out["more_groups"] = store.rollup(conn, fleet, sides, by,
                                                             where=node, limit=groups)  # fmt: skip
    return out


def move_metrics(conn: Connection, fleet: FleetRef, node: F.Node | None) -> list[str]:
    """The metrics a move preview rolls up: those its filter names that the fleet has,
    else the fleet's first metrics whose direction is known."""
    have = vocabulary.names(conn, fleet.id, "metric")
    named: list[str] = []
    for fld in F.fields_of(node):
        name = fld.parts[-1]
        if name in have and name not in named and known_direction(name):
            named.append(name)
    if not named:
        named = [name for name in have if known_direction(name)]
    return named[:MOVE_METRICS]


def move_change(
    conn: Connection, fleet: FleetRef, target: str, source: str, scoped: F.Node | None
) -> list[dict[str, Any]]:
    """Per metric, what moving ``target`` to ``source``'s versions changes over the
    models ``scoped`` selects: means before and after, how many get better and worse.
    One aggregate pass (and a median read) per metric, in the move's transaction."""
    if target == source or (target != "latest" and aliases.alias_count(conn, fleet, target) == 0):
        return []
    out = []
    for metric in move_metrics(conn, fleet, scoped):
        way = known_direction(metric) or "lower"
        sides = store.Sides(target, source, metric, way == "lower")
        found = store.summary(conn, fleet, sides, where=scoped, changed_only=True)
        out.append({
            "metric": metric, "direction": way, "models": found["compared"],
            "mean_from": found["mean_a"], "mean_to": found["mean_b"],
            "mean_delta": found["mean_delta"], "median_delta": found["median_delta"],
            "better": found["wins"], "worse": found["losses"], "same": found["ties"],
            "unmeasured": found["both"] - found["compared"], "new": found["only_b"],
        })  # fmt: skip
    return out
