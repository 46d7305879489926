"""What a caller hands to ``register``: validated into rows the store can insert.

Validation happens before anything is written, and every message names the record
(``versions[12]``), the field and what is allowed, so a bad record in a batch of
100,000 is found without a debugger and the batch is refused whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from shoal.errors import InvalidInput, NotFound, UnsafeArtifact
from shoal.flavors import get_flavor, infer_flavor
from shoal.store.fleets import RESERVED
from shoal.store.reads import normalize_key
from shoal.store.tenancy import FleetRef
from shoal.store.writes import NewVersion

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


@dataclass
class VersionSpec:
    """One version to register. Give ``model`` (saved by its flavor) or ``artifact`` bytes.

    ``dataset`` and ``run`` take ids or the objects Shoal returned; ``slice_fingerprint``
    is the fingerprint of this key's rows of the dataset; ``code_ref`` defaults to the
    git commit of the working directory (with ``+dirty`` when it has changes).
    """

    key: Any
    model: Any = None
    artifact: bytes | None = None
    flavor: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, Any] = field(default_factory=dict)
    run: Any = None
    dataset: Any = None
    slice_fingerprint: str | None = None
    code_ref: str | None = None
    parent: Any = None
    version: int | None = None
    signature: Mapping[str, Any] | None = None


_SPEC_FIELDS = {f.name for f in fields(VersionSpec)}


def as_spec(item: Any, where: str) -> VersionSpec:
    if isinstance(item, VersionSpec):
        return item
    if isinstance(item, Mapping):
        unknown = sorted(set(item) - _SPEC_FIELDS)
        if unknown:
            raise InvalidInput(
                f"{where}: unknown field(s) {unknown}; allowed: {sorted(_SPEC_FIELDS)}",
                field=where,
            )
        if "key" not in item:
            raise InvalidInput(f"{where}: 'key' is required, e.g. {{'store': 's1'}}", field=where)
        return VersionSpec(**item)
    raise InvalidInput(
        f"{where}: expected a dict or shoal.VersionSpec, got {type(item).__name__}", field=where
    )


def _id_of(value: Any, what: str, where: str) -> int | None:
    if value is None:
        return None
    ident = getattr(value, "id", value)
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise InvalidInput(f"{where}.{what} must be an id or a Shoal {what}, got {value!r}")
    return ident


def check_name(name: Any, where: str, fleet: FleetRef) -> str:
    if not isinstance(name, str) or not NAME.match(name) or name in RESERVED:
        raise InvalidInput(
            f"{where}: {name!r} is not a valid name; use letters, digits and '_', starting "
            "with a letter, not a reserved word",
            field=where,
        )
    if name in fleet.keys:
        raise InvalidInput(
            f"{where}: {name!r} is a key dimension of '{fleet.path}' and cannot also be a "
            "metric or tag name",
            field=where,
        )
    return name


def _metrics(values: Mapping[str, Any], where: str, fleet: FleetRef) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{where}.metrics must be a dict of name to number", field="metrics")
    out = {}
    for name, value in values.items():
        check_name(name, f"{where}.metrics", fleet)
        if hasattr(value, "item") and not isinstance(value, bool | int | float):
            value = value.item()  # numpy scalar
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(
                f"{where}.metrics.{name} must be a number, got {value!r}; put text in tags",
                field=f"metrics.{name}",
            )
        if not math.isfinite(value):
            raise InvalidInput(
                f"{where}.metrics.{name} must be finite, got {value!r}; leave it out instead",
                field=f"metrics.{name}",
            )
        out[name] = float(value)
    return out


def _tags(values: Mapping[str, Any], where: str, fleet: FleetRef) -> dict[str, str]:
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{where}.tags must be a dict of name to text", field="tags")
    out = {}
    for name, value in values.items():
        check_name(name, f"{where}.tags", fleet)
        if not isinstance(value, str | int | float | bool):
            raise InvalidInput(
                f"{where}.tags.{name} must be text or a number, got {type(value).__name__}",
                field=f"tags.{name}",
            )
        text = str(value)
        if len(text) > 500:
            raise InvalidInput(f"{where}.tags.{name} is over 500 characters", field="tags")
        out[name] = text
    return out


def _params(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{where}.params must be a dict", field="params")
    out: dict[str, Any] = {}
    for name, value in values.items():
        if not isinstance(name, str):
            raise InvalidInput(f"{where}.params: names must be text, got {name!r}")
        if hasattr(value, "item") and not isinstance(value, str | bool | int | float):
            value = value.item()
        if value is not None and not isinstance(value, str | bool | int | float | list | dict):
            value = repr(value)
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        out[name] = value
    return out


@dataclass
class Prepared:
    """A validated record: the row to insert, plus the artifact bytes to store."""

    row: NewVersion
    payload: bytes


def prepare(item: Any, index: int, fleet: FleetRef, code_ref: str | None) -> Prepared:
    """Validate one record and serialise its model; raise with its position on error."""
    where = f"versions[{index}]"
    spec = as_spec(item, where)
    try:
        key = normalize_key(fleet, spec.key)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}", field="key") from None
    if (spec.model is None) == (spec.artifact is None):
        raise InvalidInput(
            f"{where}: give exactly one of model= (a fitted model) or artifact= (bytes)",
            field="model",
        )
    if spec.artifact is not None:
        if not isinstance(spec.artifact, bytes | bytearray | memoryview):
            raise InvalidInput(f"{where}.artifact must be bytes", field="artifact")
        if spec.flavor is None:
            raise InvalidInput(
                f"{where}: artifact bytes need flavor=, e.g. flavor='linear'", field="flavor"
            )
    try:
        flavor = get_flavor(spec.flavor) if spec.flavor else infer_flavor(spec.model)
    except (InvalidInput, NotFound) as exc:
        raise InvalidInput(f"{where}: {exc}", field="flavor") from None
    if flavor.capabilities.needs_pickle and not fleet.allow_pickle:
        raise UnsafeArtifact(
            f"{where}: fleet '{fleet.path}' does not allow the {flavor.name!r} flavor: loading "
            "pickle runs arbitrary code. Use a safe flavor (sklearn, lightgbm, linear), or "
            "create the fleet with allow_pickle=True",
            field="flavor",
        )
    signature = dict(spec.signature) if spec.signature is not None else None
    if spec.model is not None:
        payload = flavor.save(spec.model)
        if signature is None:
            found = flavor.signature(spec.model)
            signature = found.to_dict() if found is not None else None
    else:
        payload = bytes(spec.artifact)  # type: ignore[arg-type]
    if spec.version is not None and (isinstance(spec.version, bool) or spec.version < 1):
        raise InvalidInput(f"{where}.version must be a positive integer", field="version")
    row = NewVersion(
        key=key,
        flavor=flavor.name,
        sha256="",
        size=len(payload),
        params=_params(spec.params, where),
        metrics=_metrics(spec.metrics, where, fleet),
        tags=_tags(spec.tags, where, fleet),
        signature=signature,
        run_id=_id_of(spec.run, "run", where),
        dataset_id=_id_of(spec.dataset, "dataset", where),
        slice_fingerprint=spec.slice_fingerprint,
        code_ref=spec.code_ref if spec.code_ref is not None else code_ref,
        parent_version_id=_id_of(spec.parent, "parent", where),
        number=spec.version,
    )
    return Prepared(row, payload)
