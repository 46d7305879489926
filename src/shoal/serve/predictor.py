"""Predictions for rows that span many keys: resolve, validate, load, predict, in order.

A request is a list of rows; each row carries its key values and its features. The
predictor resolves every key of the request to a version in one query (at an alias, or an
explicit version number), groups the rows by version, predicts each group with one call
to its model, and puts the answers back in request order, each naming its version.

Alias moves: resolutions are cached per (fleet, alias), and a fleet's alias generation
(its latest alias move id, see ``Versions.alias_generation``) is checked at most every
``refresh_seconds``; when it changed, the fleet's cached resolutions are dropped, so a
moved alias is served within ``refresh_seconds`` plus one request. A request resolves
once, at its start, and holds its models, so requests in flight finish on the versions
they started with. Loaded models are cached by version id, which never changes meaning.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shoal.errors import InvalidInput, NotFound
from shoal.flavors import Flavor, Signature, get_flavor
from shoal.flavors._signature import ANY
from shoal.http.errors import TooLarge
from shoal.registry import FleetRef, Registry
from shoal.serve.cache import ModelCache
from shoal.serve.logbook import refuse_unloggable

log = logging.getLogger(__name__)

MAX_RESOLVED = 100_000
"""Resolutions kept per (fleet, alias); past it they are dropped and read again as needed."""

MAX_ROWS = 10_000
"""Rows one request may carry (``max_rows=`` to change); more is refused with a 413."""


@dataclass(frozen=True)
class Answer:
    """One row's prediction and the version that produced it."""

    key: dict[str, str]
    version: int
    version_id: int
    prediction: Any
    proba: dict[str, float | None] | None = None
    """A classifier's probability per class label (see ``Flavor.predict_proba``); None for
    models without probabilities. A non-finite probability is None, like a prediction."""


@dataclass(frozen=True)
class Predicted:
    """One version's answers for its rows: what :meth:`Models.predict` gives per part.

    A plain object (lists, not arrays) so that Ray Serve replicas return it to the ingress
    as they returned the bare list of predictions before probabilities were added.
    """

    values: list[Any]
    classes: list[str] | None = None
    proba: list[list[float | None]] | None = None
    """One list per row, in the order of ``classes``; None when the model has none."""

    def row_proba(self, i: int) -> dict[str, float | None] | None:
        if self.classes is None or self.proba is None:
            return None
        return dict(zip(self.classes, self.proba[i], strict=True))


@dataclass
class _Resolved:
    """A fleet's cached resolutions at its alias generation ``generation``."""

    generation: int
    checked: float
    by_alias: dict[str, dict[tuple[str, ...], dict[str, Any]]] = field(default_factory=dict)


class Predictor:
    """Answers prediction requests for every fleet of a store (see module doc)."""

    def __init__(
        self,
        registry: Registry,
        fleets: Any,
        models: Models,
        *,
        refresh_seconds: float = 1.0,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self.registry = registry
        self._fleets = fleets  # (tenant, name) -> FleetRef; raises NotFound
        self.models = models
        self.refresh_seconds = refresh_seconds
        self.max_rows = max_rows
        self._resolved: dict[int, _Resolved] = {}
        self._lock = threading.Lock()

    def predict(
        self,
        tenant: str,
        name: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        alias: str | None = "production",
        version: int | None = None,
    ) -> list[Answer]:
        """Predict every row with its key's version at ``alias`` (or numbered ``version``)."""
        fleet = self._fleets(tenant, name)
        keys = self._keys(fleet, rows)
        found = self._resolve(fleet, keys, alias, version)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            groups[found[key]["version_id"]].append(i)
        versions = {vid: found[keys[indices[0]]] for vid, indices in groups.items()}
        parts = list(_frames(fleet, versions, groups, rows))
        predicted = self.models.predict(fleet, [(versions[vid], part) for vid, part in parts])
        answers: list[Answer | None] = [None] * len(rows)
        for (vid, _), got in zip(parts, predicted, strict=True):
            row = versions[vid]
            # A bare list: a Models written before probabilities (values only) still works.
            made = got if isinstance(got, Predicted) else Predicted(list(got))
            for j, (i, value) in enumerate(zip(groups[vid], made.values, strict=True)):
                shown = dict(zip(fleet.keys, keys[i], strict=True))
                answers[i] = Answer(
                    shown, row["number"], row["version_id"], value, made.row_proba(j)
                )
        return [a for a in answers if a is not None]

    def _keys(self, fleet: FleetRef, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
        if not isinstance(rows, Sequence) or isinstance(rows, str | bytes) or not rows:
            raise InvalidInput("rows must be a non-empty list of objects", field="rows")
        if len(rows) > self.max_rows:
            raise TooLarge(
                f"{len(rows)} rows in one request; the limit is {self.max_rows}: split the "
                "request", field="rows",
            )  # fmt: skip
        keys = []
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InvalidInput(f"rows[{i}] must be an object", field=f"rows[{i}]")
            values = []
            for dim in fleet.keys:
                value = row.get(dim)
                if value is None or isinstance(value, bool | dict | list) or value == "":
                    raise InvalidInput(
                        f"rows[{i}] has no value for key {dim!r}: fleet '{fleet.path}' is keyed "
                        f"by {list(fleet.keys)}, give each row a string or number for each",
                        field=f"rows[{i}].{dim}",
                    )
                values.append(str(value))
            keys.append(tuple(values))
        return keys

    def _resolve(
        self, fleet: FleetRef, keys: list[tuple[str, ...]], alias: str | None, version: int | None
    ) -> dict[tuple[str, ...], dict[str, Any]]:
        unique = list(dict.fromkeys(keys))
        if version is not None:
            found = self.registry.versions.for_keys(fleet, unique, numbers=[version] * len(unique))
            what = f"version {version}"
        else:
            assert alias is not None
            found = self._at_alias(fleet, unique, alias)
            what = f"a version at alias {alias!r}"
        missing = [key for key in unique if key not in found]
        if missing:
            shown = [dict(zip(fleet.keys, key, strict=True)) for key in missing[:5]]
            raise NotFound(
                f"{len(missing)} key(s) of the request have no {what} in fleet "
                f"'{fleet.path}', e.g. {shown}",
                field="rows",
            )
        return found

    def _at_alias(
        self, fleet: FleetRef, keys: list[tuple[str, ...]], alias: str
    ) -> dict[tuple[str, ...], dict[str, Any]]:
        state = self._fresh(fleet)
        known = state.by_alias.setdefault(alias, {})
        wanted = [key for key in keys if key not in known]
        if wanted and len(known) + len(wanted) > MAX_RESOLVED:
            known.clear()  # bounded: ~2 KB a key; re-resolving costs one query per request
            wanted = list(keys)
        if wanted:
            known.update(self.registry.versions.for_keys(fleet, wanted, alias=alias))
        return {key: known[key] for key in keys if key in known}

    def _fresh(self, fleet: FleetRef) -> _Resolved:
        """The fleet's resolutions, dropped when its alias generation moved."""
        now = time.monotonic()
        with self._lock:
            state = self._resolved.get(fleet.id)
            if state is not None and now - state.checked < self.refresh_seconds:
                return state
        generation = self.registry.versions.alias_generation(fleet)
        with self._lock:
            state = self._resolved.get(fleet.id)
            if state is None or state.generation != generation:
                state = _Resolved(generation, now)
                self._resolved[fleet.id] = state
            state.checked = now
            return state


class Models:
    """Where versions are loaded and run: this process's cache, or Ray Serve replicas."""

    def predict(
        self, fleet: FleetRef, parts: list[tuple[dict[str, Any], pd.DataFrame]]
    ) -> list[Predicted]:
        """For each (resolved version, its rows' features), the predictions in row order
        (and a classifier's probabilities: :func:`predict_rows`)."""
        raise NotImplementedError


class LocalModels(Models):
    """Models from one :class:`ModelCache` shared by every request of the process.

    A request gets all its models before predicting with any, so an eviction or an alias
    move while it runs changes nothing for it.
    """

    def __init__(self, cache: ModelCache) -> None:
        self.cache = cache

    def predict(
        self, fleet: FleetRef, parts: list[tuple[dict[str, Any], pd.DataFrame]]
    ) -> list[Predicted]:
        models = [self.cache.get({**row, "fleet": fleet}) for row, _ in parts]
        return [
            predict_rows(row, model, frame)
            for (row, frame), model in zip(parts, models, strict=True)
        ]


def _frames(
    fleet: FleetRef, versions: dict[int, dict[str, Any]], groups: dict[int, list[int]],
    rows: Sequence[Mapping[str, Any]],
) -> Iterator[tuple[int, pd.DataFrame]]:  # fmt: skip
    """Each version's rows as a frame in its signature's column order, checked.

    One frame is built for the whole request and checked once per distinct signature (the
    versions of a fleet usually share one), then cut per version: building and checking a
    frame per key would cost more than predicting with a small model. Every feature value
    is checked first (:func:`~shoal.serve.logbook.refuse_unloggable`): a NaN or infinity,
    an object or list, a whole number beyond 64 bits or an overlong string is a 422 naming
    its row, never a ``null`` prediction or a row the logs cannot hold.
    """
    keys = set(fleet.keys)
    records: list[dict[str, Any]] = [{}] * len(rows)
    signatures: dict[int, Signature | None] = {}
    expectations: dict[Signature | None, set[str] | None] = {}
    for vid, indices in groups.items():
        signature = signatures[vid] = parsed_signature(versions[vid].get("signature"))
        expected = expectations.get(signature)
        if expected is None and signature is not None:
            expected = expectations[signature] = set(signature.names)
        for i in indices:
            features = {k: v for k, v in rows[i].items() if k not in keys}
            if expected is not None and features.keys() != expected:
                _refuse_features(i, features, signature, versions[vid]["number"])
            refuse_unloggable(features, "rows", i)  # NaN, Infinity, objects: a 422
            records[i] = features
    frame = pd.DataFrame.from_records(records)
    by_signature: dict[Signature | None, list[int]] = defaultdict(list)
    for vid, signature in signatures.items():
        by_signature[signature].append(vid)
    for signature, vids in by_signature.items():
        indices = [i for vid in vids for i in groups[vid]]  # version by version
        whole = len(vids) == 1 and len(indices) == len(rows)  # the request in its own order
        part = frame if whole else frame.iloc[indices]
        if signature is not None:
            if list(part.columns) != signature.names:
                part = part[signature.names]
            _check_types(signature, part, rows, indices)
        if len(vids) == 1:
            yield vids[0], part
            continue
        start = 0
        for vid in vids:
            stop = start + len(groups[vid])
            yield vid, part.iloc[start:stop]  # the index is never read: no reset copy
            start = stop


@functools.lru_cache(maxsize=4096)
def _signature(inputs: tuple[tuple[str, str], ...], output: str | None) -> Signature:
    return Signature(inputs, output)


def parsed_signature(raw: Mapping[str, Any] | None) -> Signature | None:
    """A version's stored signature, parsed once per distinct signature (a fleet's versions
    mostly share one; a 500-key request would otherwise parse it 500 times)."""
    if not raw:
        return None
    try:
        inputs = tuple((str(i["name"]), str(i["dtype"])) for i in raw["inputs"])
    except (KeyError, TypeError):
        return Signature.from_dict(raw)  # its error names what is wrong
    return _signature(inputs, raw.get("output"))


def _refuse_features(
    i: int, features: Mapping[str, Any], signature: Signature | None, number: int
) -> None:
    assert signature is not None
    expected = set(signature.names)
    missing = sorted(expected - features.keys())
    extra = sorted(features.keys() - expected)
    name = (missing or extra)[0]
    what = f"is missing feature {name!r}" if missing else f"has unknown feature {name!r}"
    raise InvalidInput(
        f"rows[{i}] {what}; version {number} of this model takes {signature.names} (plus "
        "the key columns)",
        field=f"rows[{i}].{name}",
    )


def _check_types(
    signature: Signature, frame: pd.DataFrame, rows: Sequence[Mapping[str, Any]],
    indices: list[int],
) -> None:  # fmt: skip
    """The signature's dtype check, naming the first row whose value is of the wrong kind."""
    try:
        signature.validate(frame)
    except InvalidInput as exc:
        column = (exc.field or "X.").split(".", 1)[1]
        dtype = dict(signature.inputs).get(column, ANY)
        bad = next((i for i in indices if not _fits(rows[i].get(column), dtype)), None)
        where = f"rows[{bad}].{column}" if bad is not None else f"rows[*].{column}"
        raise InvalidInput(f"{where}: {exc}", field=where) from None


def _fits(value: Any, dtype: str) -> bool:
    """Whether one JSON value suits a signature dtype (to name the first bad row)."""
    if value is None or dtype == ANY:
        return True
    try:
        numeric = pd.api.types.is_numeric_dtype(pd.api.types.pandas_dtype(dtype))
    except TypeError:
        return True
    return isinstance(value, int | float) if numeric else not isinstance(value, dict | list)


def predict_rows(row: dict[str, Any], model: Any, frame: pd.DataFrame) -> Predicted:
    """One version's predictions for its frame, as JSON-safe values (NaN and inf as None),
    with the class probabilities of a classifier (:func:`probabilities`)."""
    flavor = get_flavor(row["flavor"])
    try:
        values = np.asarray(flavor.predict(model, frame))
    except InvalidInput:
        raise
    except Exception as exc:  # e.g. a NaN a scikit-learn model refuses: the rows' fault
        raise InvalidInput(
            f"version {row['number']} (id {row['version_id']}) could not predict these rows: "
            f"{type(exc).__name__}: {exc}",
            field="rows",
        ) from None
    if len(values) != len(frame):
        raise RuntimeError(
            f"version {row['version_id']} returned {len(values)} predictions for {len(frame)} rows"
        )
    out = values.tolist()
    finite = [None if isinstance(v, float) and not np.isfinite(v) else v for v in out]
    return Predicted(finite, *probabilities(flavor, row, model, frame))


def probabilities(
    flavor: Flavor, row: dict[str, Any], model: Any, frame: pd.DataFrame
) -> tuple[list[str] | None, list[list[float | None]] | None]:
    """A classifier's labels and per-row probabilities (non-finite as None), or Nones.

    Probabilities are an addition to the answer: a model whose ``predict`` worked but whose
    ``predict_proba`` fails is answered without them (and the failure logged), never
    refused, so serving a version never breaks on them.
    """
    try:
        found = flavor.predict_proba(model, frame)
    except Exception:
        log.warning("version %s: predict_proba failed; answered without probabilities",
                    row.get("version_id"), exc_info=True)  # fmt: skip
        return None, None
    if found is None:
        return None, None
    classes, matrix = found
    if len(matrix) != len(frame) or len(set(classes)) != len(classes):
        log.warning("version %s: predict_proba gave %s rows for %s, or repeated labels; "
                    "answered without probabilities", row.get("version_id"), len(matrix),
                    len(frame))  # fmt: skip
        return None, None
    table = np.asarray(matrix, dtype=np.float64)
    cells: list[list[float | None]] = table.tolist()
    if not np.isfinite(table).all():
        cells = [[v if math.isfinite(v) else None for v in r] for r in cells]  # type: ignore[arg-type]
    return list(classes), cells
