"""Monitoring and alerts of one fleet: `fleet.monitor()`, `fleet.monitoring`, `fleet.alerts`.

The figures come from the stored results of monitoring passes (see ``docs/monitoring.md``):
each read is one query over one window's rows, never a loop over models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput, NotFound
from shoal.registry import Registry, check_limit
from shoal.sdk.times import window_label

if TYPE_CHECKING:
    from shoal.sdk.fleet import Fleet


def _row(fleet: Fleet, row: dict[str, Any]) -> dict[str, Any]:
    """A stored result as people read it: its key as a dict, its window as a time."""
    return readable_result(fleet.keys, row)


def readable_result(keys: Sequence[str], row: dict[str, Any]) -> dict[str, Any]:
    """:func:`_row` for a fleet known by its key names."""
    out = {k: v for k, v in row.items() if not k.startswith("key.") and k != "fleet_id"}
    out["key"] = {d: row.get(f"key.{d}") for d in keys if f"key.{d}" in row}
    if "window_start" in row:
        out["window"] = window_label(row["window_start"])
    if "first_window" in row:  # an alert: the windows it spans
        out["since"] = window_label(row["first_window"])
        out["window"] = window_label(row["last_window"])
    if "tested_features" in row:  # a result: no tested feature is "not tested", not healthy
        out["drift_state"] = (
            "not tested" if not row["tested_features"]
            else "drifting" if row.get("drifted_features") else "stable"
        )  # fmt: skip
    return out


class FleetMonitoring:
    """Reads of a fleet's monitoring results."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    @property
    def _registry(self) -> Registry:
        return self._fleet._client.registry

    def windows(self, window: str | int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Monitored windows, newest first: ``{"seconds", "start", "window"}``."""
        seconds = _seconds(window)
        found = self._registry.monitoring.windows(self._fleet.ref, seconds, check_limit(limit))
        return [{"seconds": s, "start": w, "window": window_label(w)} for s, w in found]

    def _window(self, window: str | int | None, at: Any) -> tuple[int, float]:
        from shoal.monitor import as_timestamp

        seconds = _seconds(window)
        stored = self._registry.monitoring
        if at is None:
            found = stored.windows(self._fleet.ref, seconds, limit=1)
        else:
            when = as_timestamp(at, "at")
            hit = stored.window_at(self._fleet.ref, when, seconds)
            found = [] if hit is None else [hit]
        if not found:
            raise NotFound(
                f"fleet {self._fleet.path} has no monitoring results"
                + (" for that window" if window or at else "")
                + "; run `shoal monitor run` first"
            )
        return found[0]

    def results(
        self,
        *,
        by: str | None = None,
        n: int | None = None,
        ascending: bool = False,
        window: str | int | None = None,
        at: Any = None,
    ) -> list[dict[str, Any]]:
        """One window's per-version results (the newest window unless ``at`` names a time),
        sorted by figure ``by`` (worst first: highest, or lowest with ``ascending``)."""
        chosen = self._window(window, at)
        rows = self._registry.monitoring.window_rows(
            self._fleet.ref, chosen, order_by=by, descending=not ascending,
            limit=None if n is None else check_limit(n, "n"),
        )  # fmt: skip
        return [_row(self._fleet, r) for r in rows]

    def worst(self, by: str = "max_psi", n: int = 20, **window: Any) -> list[dict[str, Any]]:
        """The ``n`` worst models of a window by ``by`` (for ``accuracy`` and ``f1``: lowest)."""
        return self.results(by=by, n=n, ascending=by in ("accuracy", "f1"), **window)

    def figures(self, **window: Any) -> list[str]:
        """The figures with a value in a window of this fleet (newest unless ``at``): what
        is worth sorting by (a regression fleet has no accuracy)."""
        chosen = self._window(window.get("window"), window.get("at"))
        return self._registry.monitoring.window_figures(self._fleet.ref, chosen)

    def features(self, key: Any, **window: Any) -> list[dict[str, Any]]:
        """One model's per-feature drift figures in a window, most drifted first."""
        chosen = self._window(window.get("window"), window.get("at"))
        ref, stored = self._fleet.ref, self._registry.monitoring
        mid = self._registry.versions.model_id(ref, key)
        versions = [r["version_id"] for r in stored.trend(ref, mid, chosen[0])
                    if r["window_start"] == chosen[1]]  # fmt: skip
        rows = stored.feature_rows(ref, chosen, version_ids=versions)
        return sorted(rows, key=lambda f: -(f["psi"] or 0.0))

    def rollup(self, by: str, **window: Any) -> list[dict[str, Any]]:
        """Per value of key dimension ``by``: models, ``tested`` and ``not_tested`` models,
        drifting, ``share_drifting`` of the tested (None when none was tested: ``state``
        "not tested"), median MAPE, sums; most drifting first (stored by the pass)."""
        if by not in self._fleet.keys:
            raise InvalidInput(
                f"fleet {self._fleet.path} has no key {by!r}; roll up by one of "
                f"{list(self._fleet.keys)}",
                field="by",
            )
        chosen = self._window(window.get("window"), window.get("at"))
        return self._registry.monitoring.rollup(self._fleet.ref, chosen, by)

    def trend(self, key: Any, window: str | int | None = None) -> list[dict[str, Any]]:
        """One model's figures across windows, oldest first."""
        ref = self._fleet.ref
        mid = self._registry.versions.model_id(ref, key)
        rows = self._registry.monitoring.trend(ref, mid, _seconds(window))
        return [_row(self._fleet, r) for r in rows]


def _seconds(window: str | int | None) -> int | None:
    from shoal.monitor import parse_window

    return None if window is None else parse_window(window)


RETRAIN_WHERE = ("alert.open",)


@dataclass(frozen=True)
class Retraining:
    """What :meth:`Fleet.retrain` trains: the alerting keys' rows, the function, the key
    columns (each defaulting to what the fleet's newest training run recorded)."""

    rows: Any
    fn: Any
    by: list[str]


def retraining(
    fleet: Fleet, data: Any, fn: Any, *, where: str, rule: str | None, by: Sequence[str] | None
) -> Retraining | None:
    """The rows of ``data`` of the keys with an unresolved alert (of ``rule``, or any), or
    None when no model has one. ``data``, ``fn`` and ``by`` default to what the fleet's
    newest training run recorded (its Parquet path and its function's importable name)."""
    if where.strip() not in RETRAIN_WHERE:
        raise InvalidInput(
            f"retrain --where {where!r} is not supported; use 'alert.open' (and --rule NAME "
            "to take one rule's alerts)",
            field="where",
        )
    keys = fleet.alerts.keys(rule)
    if not keys:
        return None
    if data is None or fn is None:
        recorded = _last_training(fleet)
        data = recorded.get("data") if data is None else data
        fn = recorded.get("fn") if fn is None else fn
        by = by or recorded.get("by") or None
        if data is None or fn is None:
            raise InvalidInput(
                f"no training run of {fleet.path} recorded a Parquet path and an importable "
                "function to train with again: pass data and fn (DATA FN on the command line)",
                field="data" if data is None else "fn",
            )
    columns = list(by or fleet.keys)
    return Retraining(_rows_of(data, keys, fleet.keys, columns), fn, columns)


def _last_training(fleet: Fleet) -> dict[str, Any]:
    """The params of the fleet's newest training run that recorded its data and fn."""
    for run in fleet.runs(limit=200):
        if run.kind == "train" and run.params.get("data") and run.params.get("fn"):
            return run.params
    return {}


def _rows_of(
    data: Any, keys: list[dict[str, str]], dims: Sequence[str], columns: Sequence[str]
) -> Any:
    """The rows of ``data`` whose key (as text) is one of ``keys``, as an Arrow table."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from shoal.data import to_arrow

    wanted = {"\x1f".join(k[d] for d in dims) for k in keys}
    if isinstance(data, str | bytes) or hasattr(data, "__fspath__"):
        first = {k[dims[0]] for k in keys}
        expression = pc.field(columns[0]).cast(pa.string()).isin(sorted(first))
        table = ds.dataset(str(data), format="parquet").to_table(filter=expression)
    else:
        table = to_arrow(data)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InvalidInput(f"the data has no key column(s) {missing}", field="data")
    parts = [pc.cast(table[c], pa.string()) for c in columns]
    # pyarrow-stubs want every argument an array, but the separator (last) is a plain string.
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")  # type: ignore[call-overload]
    return table.filter(pc.is_in(joined, value_set=pa.array(sorted(wanted))))
