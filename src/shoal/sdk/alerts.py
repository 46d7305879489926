"""A fleet's alert rules and alerts: ``fleet.alerts``.

Why these shapes: a fleet with thousands of alerts is read a page at a time (keyset,
``before=`` an id) and narrowed by state, rule and cohort (key values, ``store=s013``);
it is acted on in bulk, by ids or by the same filter, with a note saying why, in one
call that is one transaction and one audit entry. The built-in quality rule (see
``shoal.monitor._quality``) is configured here too.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput
from shoal.monitor import Quality, check_webhook, is_builtin_rule, read_quality
from shoal.registry import Registry, check_limit
from shoal.registry.alerts import STATES, UNRESOLVED, AlertFilter
from shoal.sdk.keys import split_path_key
from shoal.sdk.monitoring import readable_result

if TYPE_CHECKING:
    from shoal.sdk.fleet import Fleet

StateArg = str | Sequence[str]
CohortArg = str | Mapping[str, Any] | None
STATE_WORDS = (*STATES, "unresolved", "all")


@dataclass(frozen=True)
class AlertPage:
    """One page of alerts, newest first; ``before`` reads the next (None: the last page)."""

    items: list[dict[str, Any]]
    before: int | None


def states_of(state: StateArg) -> tuple[str, ...]:
    """``"unresolved"`` (open and acknowledged), ``"all"``, one state or several."""
    words = [state] if isinstance(state, str) else list(state)
    out: list[str] = []
    for word in words:
        if word not in STATE_WORDS:
            raise InvalidInput(
                f"state {word!r} is not an alert state; use one of {list(STATE_WORDS)}",
                field="state",
            )
        out += UNRESOLVED if word == "unresolved" else STATES if word == "all" else [word]
    if not out:
        raise InvalidInput("name at least one alert state", field="state")
    return tuple(dict.fromkeys(out))


def cohort_of(dims: Sequence[str], cohort: CohortArg) -> tuple[tuple[int, str], ...]:
    """A cohort (``"store=s013"``, ``"store=s013,sku=A77"`` or a dict) as (key index, value)
    pairs of the fleet's key dimensions ``dims``. Text splits as a model's path does
    (:func:`~shoal.sdk.keys.split_path_key`: only at a comma that starts the next
    ``NAME=``), so a value may hold commas and the model page's cohort link reads back."""
    if cohort is None or cohort == "":
        return ()
    if isinstance(cohort, str):
        pairs = []
        for part in split_path_key(cohort):  # as a model path: ``sku=A,77`` is one value
            dim, sep, value = part.partition("=")
            if not sep or not dim.strip() or not value.strip():
                raise InvalidInput(
                    f"cohort {cohort!r} is not understood: write key=value pairs separated "
                    f"by commas, e.g. '{dims[0] if dims else 'store'}=s013'",
                    field="cohort",
                )
            pairs.append((dim.strip(), value.strip()))
    elif isinstance(cohort, Mapping):
        pairs = [(str(k), str(v)) for k, v in cohort.items()]
    else:
        raise InvalidInput("cohort is 'key=value,...' text or a dict", field="cohort")
    out: dict[int, str] = {}
    for dim, value in pairs:
        if dim not in dims:
            raise InvalidInput(
                f"cohort names {dim!r}, which is no key of this fleet; use one of {list(dims)}",
                field="cohort",
            )
        if dims.index(dim) in out:
            raise InvalidInput(f"cohort names {dim!r} twice", field="cohort")
        out[dims.index(dim)] = value
    return tuple(sorted(out.items()))


class FleetAlerts:
    """A fleet's alert rules and alerts."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    @property
    def _registry(self) -> Registry:
        return self._fleet._client.registry

    # -- rules ----------------------------------------------------------------------------------

    def add_rule(self, name: str, expression: str, *, webhook: str | None = None) -> dict[str, Any]:
        """Declare a rule (see ``docs/monitoring.md`` for the grammar); checked after each pass."""
        from shoal.monitor import parse

        parse(expression)
        if webhook is not None:
            check_webhook(webhook)
        return self._registry.alerts.add_rule(self._fleet.ref, name, expression, webhook=webhook)

    def rules(self) -> builtins.list[dict[str, Any]]:
        return self._registry.alerts.rules(self._fleet.ref)

    def remove_rule(self, rule: int | str) -> dict[str, Any]:
        return self._registry.alerts.remove_rule(self._fleet.ref, rule)

    def quality_rule(
        self,
        *,
        enabled: bool | None = None,
        factor: float | None = None,
        margin: float | None = None,
        ceiling: float | None = None,
        min_labelled: int | None = None,
    ) -> dict[str, Any]:
        """Configure the built-in quality rule (live error above ``factor`` x the recorded
        one, live accuracy/f1 below recorded - ``margin``, live MAPE above ``ceiling``, with
        at least ``min_labelled`` actuals), or turn it off with ``enabled=False``; with no
        argument, read it. Returns the rule with its ``settings``."""
        ref, stored = self._fleet.ref, self._registry.alerts
        found = next((r for r in stored.rules(ref) if is_builtin_rule(r["expression"])), None)
        current = read_quality(found["expression"]) if found else Quality()
        given: dict[str, Any] = {"factor": factor, "margin": margin, "ceiling": ceiling,
                                 "min_labelled": min_labelled}  # fmt: skip
        wanted = replace(current, **{k: v for k, v in given.items() if v is not None})
        if found is None and (enabled is not None or wanted != current):
            taken = {r["name"] for r in stored.rules(ref)}
            name = "quality" if "quality" not in taken else "quality-builtin"
            found = stored.add_rule(ref, name, wanted.expression())
        if found is not None and (enabled is not None or wanted != current):
            found = stored.change_rule(
                ref, found["id"], expression=wanted.expression(), enabled=enabled
            )
        if found is None:  # never configured nor matched: the defaults apply
            return {"name": "quality", "expression": wanted.expression(), "enabled": True,
                    "stored": False, "settings": wanted.settings()}  # fmt: skip
        return {**found, "stored": True, "settings": wanted.settings()}

    # -- reads ----------------------------------------------------------------------------------

    def _filter(self, state: StateArg, rule: str | None, cohort: CohortArg) -> AlertFilter:
        return AlertFilter(states_of(state), cohort_of(self._fleet.keys, cohort), rule)

    def page(
        self, state: StateArg = "unresolved", *, rule: str | None = None,
        cohort: CohortArg = None, limit: int = 50, before: int | None = None,
    ) -> AlertPage:  # fmt: skip
        """A page of alerts newest first; pass its ``before`` for the next one."""
        rows, more = self._registry.alerts.page(
            self._fleet.ref, self._filter(state, rule, cohort), before=before,
            limit=check_limit(limit),
        )  # fmt: skip
        return AlertPage([readable_result(self._fleet.keys, r) for r in rows], more)

    def list(
        self, state: StateArg = UNRESOLVED, *, rule: str | None = None, cohort: CohortArg = None,
        limit: int = 100, before: int | None = None,
    ) -> builtins.list[dict[str, Any]]:  # fmt: skip
        """Alerts newest first (unresolved by default), of ``rule`` and ``cohort`` (key
        values, ``"store=s013"``), older than alert ``before``."""
        return self.page(state, rule=rule, cohort=cohort, limit=limit, before=before).items

    def count(
        self, state: StateArg = UNRESOLVED, *, rule: str | None = None, cohort: CohortArg = None
    ) -> int:
        """How many alerts match (unresolved by default)."""
        return self._registry.alerts.count_matching(
            self._fleet.ref, self._filter(state, rule, cohort)
        )

    def groups(
        self, by: str = "rule", *, state: StateArg = UNRESOLVED, rule: str | None = None,
        cohort: CohortArg = None,
    ) -> builtins.list[dict[str, Any]]:  # fmt: skip
        """Matching alerts counted per rule (``by="rule"``) or per value of a key dimension,
        most first: ``[{"value", "count"}]`` (one grouped query)."""
        if by != "rule" and by not in self._fleet.keys:
            raise InvalidInput(
                f"group alerts by 'rule' or a key of the fleet {list(self._fleet.keys)}, "
                f"not {by!r}",
                field="by",
            )
        found = self._registry.alerts.groups(
            self._fleet.ref, self._filter(state, rule, cohort),
            "rule" if by == "rule" else self._fleet.keys.index(by),
        )  # fmt: skip
        return [{"value": value, "count": n} for value, n in found]

    def keys(self, rule: str | None = None) -> builtins.list[dict[str, str]]:
        """The keys of the models with an unresolved alert (what ``shoal retrain`` trains)."""
        found = self._registry.alerts.keys(self._fleet.ref, rule)
        return [dict(zip(self._fleet.keys, key, strict=True)) for key in found]

    # -- moves ----------------------------------------------------------------------------------

    def acknowledge(self, alert_id: int, *, note: str | None = None) -> dict[str, Any]:
        return self._set(alert_id, "acknowledged", note)

    def resolve(self, alert_id: int, *, note: str | None = None) -> dict[str, Any]:
        return self._set(alert_id, "resolved", note)

    def _set(self, alert_id: int, state: str, note: str | None) -> dict[str, Any]:
        row = self._registry.alerts.transition(self._fleet.ref, alert_id, state, note=note)
        return readable_result(self._fleet.keys, row)

    def acknowledge_many(
        self, ids: Sequence[int] | None = None, *, state: StateArg = UNRESOLVED,
        rule: str | None = None, cohort: CohortArg = None, note: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Acknowledge the alerts ``ids``, or (without ids) every alert matching the filter,
        in one transaction with one audit entry: ``{"moved", "skipped", "state"}``."""
        return self._move("acknowledged", ids, state, rule, cohort, note)

    def resolve_many(
        self, ids: Sequence[int] | None = None, *, state: StateArg = UNRESOLVED,
        rule: str | None = None, cohort: CohortArg = None, note: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Resolve the alerts ``ids`` or every alert matching the filter (as
        :meth:`acknowledge_many`)."""
        return self._move("resolved", ids, state, rule, cohort, note)

    def _move(
        self, to: str, ids: Sequence[int] | None, state: StateArg, rule: str | None,
        cohort: CohortArg, note: str | None,
    ) -> dict[str, Any]:  # fmt: skip
        if ids is not None:
            if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
                raise InvalidInput("ids is a list of alert ids", field="ids")
            return self._registry.alerts.move(self._fleet.ref, to, ids=list(ids), note=note)
        where = self._filter(state, rule, cohort)
        return self._registry.alerts.move(self._fleet.ref, to, where=where, note=note)
