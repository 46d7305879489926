"""What a caller hands to ``register``: validated into rows the store can insert.

Validation happens before anything is written, and every message names the record
(``versions[12]``), the field and what is allowed, so a bad record in a batch of
100,000 is found without a debugger and the batch is refused whole.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from shoal.errors import InvalidInput, NotFound, UnsafeArtifact
from shoal.flavors import get_flavor, infer_flavor
from shoal.store.fleets import RESERVED
from shoal.store.reads import is_clean_key_value, normalize_key
from shoal.store.tenancy import FleetRef
from shoal.store.writes import NewVersion

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


@dataclass
class VersionSpec:
    """One version to register. Give ``model`` (saved by its flavor) or ``artifact`` bytes.

    ``dataset`` and ``run`` take ids or the objects Shoal returned; ``slice_fingerprint``
    is the fingerprint of this key's rows of the dataset; ``code_ref`` defaults to the
    git commit of the working directory (with ``+dirty`` when it has changes);
    ``baseline`` is the profile of those rows (``shoal.data.profile``) that drift
    monitoring compares new data against.
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
    baseline: Mapping[str, Any] | None = None


_SPEC_FIELDS = {f.name for f in fields(VersionSpec)}


def _id_of(value: Any, what: str, where: str) -> int | None:
    if value is None:
        return None
    ident = getattr(value, "id", value)
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise InvalidInput(f"{where}.{what} must be an id or a Shoal {what}, got {value!r}")
    return ident


@dataclass
class Prepared:
    """A validated record: the row to insert, plus the artifact bytes to store."""

    row: NewVersion
    payload: bytes


class Preparer:
    """Validates records of one ``register`` call; remembers names and flavors it checked.

    A batch of a million records repeats the same few metric names, tag names and
    flavors, so each is validated once per call, not once per record.
    """

    def __init__(self, fleet: FleetRef, code_ref: str | None) -> None:
        self.fleet = fleet
        self.code_ref = code_ref
        self.names: set[str] = set()
        self.flavors: dict[str, Any] = {}

    def name(self, name: Any, where: str) -> str:
        if isinstance(name, str) and name in self.names:
            return name
        if not isinstance(name, str) or not NAME.match(name) or name in RESERVED:
            raise InvalidInput(
                f"{where}: {name!r} is not a valid name; use letters, digits and '_', starting "
                "with a letter, not a reserved word",
                field=where,
            )
        if name in self.fleet.keys:
            raise InvalidInput(
                f"{where}: {name!r} is a key dimension of '{self.fleet.path}' and cannot also "
                "be a metric or tag name",
                field=where,
            )
        self.names.add(name)
        return name

    def flavor(self, name: str | None, model: Any, where: str) -> Any:
        try:
            if name is None:
                flavor = infer_flavor(model)
            elif name in self.flavors:
                return self.flavors[name]
            else:
                flavor = get_flavor(name)
        except (InvalidInput, NotFound) as exc:
            raise InvalidInput(f"{where}: {exc}", field="flavor") from None
        if flavor.capabilities.needs_pickle and not self.fleet.allow_pickle:
            raise UnsafeArtifact(
                f"{where}: fleet '{self.fleet.path}' does not allow the {flavor.name!r} flavor: "
                "loading pickle runs arbitrary code. Use a safe flavor (sklearn, lightgbm, "
                "linear), or create the fleet with allow_pickle=True",
                field="flavor",
            )
        if name is not None:
            self.flavors[name] = flavor
        return flavor

    def key(self, key: Any, where: str) -> tuple[str, ...]:
        dims = self.fleet.keys
        if isinstance(key, dict) and len(key) == len(dims):
            try:
                values = tuple(key[dim] for dim in dims)
            except KeyError:
                values = ()
            if values and all(is_clean_key_value(v) for v in values):
                return values
        try:
            return normalize_key(self.fleet, key)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc}", field="key") from None

    def metrics(self, values: Any, where: str) -> dict[str, float]:
        if not isinstance(values, Mapping):
            raise InvalidInput(f"{where}.metrics must be a dict of name to number", field="metrics")
        _check_count(values, where, "metrics")
        out = {}
        for name, value in values.items():
            self.name(name, f"{where}.metrics")
            kind = type(value)
            if kind is not float and kind is not int:
                if hasattr(value, "item") and not isinstance(value, bool):
                    value = value.item()  # numpy scalar
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise InvalidInput(
                        f"{where}.metrics.{name} must be a number, got {value!r}; put text in tags",
                        field=f"metrics.{name}",
                    )
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise InvalidInput(
                    f"{where}.metrics.{name} must be a finite number, got {str(value)[:40]}; "
                    "leave it out instead",
                    field=f"metrics.{name}",
                )
            out[name] = number
        return out

    def tags(self, values: Any, where: str) -> dict[str, str]:
        if not isinstance(values, Mapping):
            raise InvalidInput(f"{where}.tags must be a dict of name to text", field="tags")
        _check_count(values, where, "tags")
        out = {}
        for name, value in values.items():
            self.name(name, f"{where}.tags")
            if not isinstance(value, str | int | float | bool):
                raise InvalidInput(
                    f"{where}.tags.{name} must be text or a number, got {type(value).__name__}",
                    field=f"tags.{name}",
                )
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            text = unicodedata.normalize("NFC", text)  # as filters compare them
            if len(text) > 500:
                raise InvalidInput(f"{where}.tags.{name} is over 500 characters", field="tags")
            out[name] = text
        return out

    def prepare(self, item: Any, index: int) -> Prepared:
        """Validate one record and serialise its model; errors name its position."""
        where = f"versions[{index}]"
        get: Callable[[str], Any]
        if isinstance(item, VersionSpec):
            get = item.__dict__.get
        elif isinstance(item, Mapping):
            if not item.keys() <= _SPEC_FIELDS:
                unknown = sorted(set(item) - _SPEC_FIELDS)
                raise InvalidInput(
                    f"{where}: unknown field(s) {unknown}; allowed: {sorted(_SPEC_FIELDS)}",
                    field=where,
                )
            get = item.get
        else:
            raise InvalidInput(
                f"{where}: expected a dict or shoal.VersionSpec, got {type(item).__name__}",
                field=where,
            )
        if get("key") is None:
            raise InvalidInput(f"{where}: 'key' is required, e.g. {{'store': 's1'}}", field="key")
        key = self.key(get("key"), where)
        model, artifact = get("model"), get("artifact")
        if (model is None) == (artifact is None):
            raise InvalidInput(
                f"{where}: give exactly one of model= (a fitted model) or artifact= (bytes)",
                field="model",
            )
        flavor_name = get("flavor")
        if artifact is not None:
            if not isinstance(artifact, bytes | bytearray | memoryview):
                raise InvalidInput(f"{where}.artifact must be bytes", field="artifact")
            if flavor_name is None:
                raise InvalidInput(
                    f"{where}: artifact bytes need flavor=, e.g. flavor='linear'", field="flavor"
                )
        flavor = self.flavor(flavor_name, model, where)
        signature = get("signature")
        signature = dict(signature) if signature is not None else None
        if model is not None:
            payload = flavor.save(model)
            if signature is None:
                found = flavor.signature(model)
                signature = found.to_dict() if found is not None else None
        else:
            assert artifact is not None  # exactly one of model= and artifact= was given
            payload = artifact if type(artifact) is bytes else bytes(artifact)
        number = get("version")
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int) or number < 1
        ):
            raise InvalidInput(f"{where}.version must be a positive integer", field="version")
        code = get("code_ref")
        for name, limit in (("code_ref", 200), ("slice_fingerprint", 64)):
            value = get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise InvalidInput(
                    f"{where}.{name} must be text of at most {limit} characters, got {value!r}",
                    field=name,
                )
        baseline = get("baseline")
        if baseline is not None:
            _check_baseline(baseline, where)
        row = NewVersion(
            key=key,
            flavor=flavor.name,
            sha256="",
            size=len(payload),
            params=_params(get("params") or {}, where),
            metrics=self.metrics(get("metrics") or {}, where),
            tags=self.tags(get("tags") or {}, where) if get("tags") else {},
            signature=signature,
            run_id=_id_of(get("run"), "run", where),
            dataset_id=_id_of(get("dataset"), "dataset", where),
            slice_fingerprint=get("slice_fingerprint"),
            code_ref=code if code is not None else self.code_ref,
            parent_version_id=_id_of(get("parent"), "parent", where),
            number=number,
            baseline=dict(baseline) if baseline is not None else None,
        )
        return Prepared(row, payload)


_PLAIN = (str, int, float, bool)


def _check_count(values: Mapping[Any, Any], where: str, what: str) -> None:
    if len(values) > MAX_NAMES:
        raise InvalidInput(
            f"{where}.{what} has {len(values)} entries, over the limit of {MAX_NAMES} per "
            "version: keep the ones you search and sort by",
            field=what,
        )


def _check_baseline(baseline: Any, where: str) -> None:
    """A profile dict that is plain JSON (no NaN or infinity), refused here with its record's
    position rather than failing the whole insert later."""
    if not isinstance(baseline, Mapping):
        raise InvalidInput(
            f"{where}.baseline must be a profile dict (shoal.data.profile), got "
            f"{type(baseline).__name__}",
            field="baseline",
        )
    try:
        json.dumps(baseline, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{where}.baseline must be plain JSON (numbers finite): {exc}", field="baseline"
        ) from None


MAX_PARAM_NAME = 250
"""The longest param name (MLflow's limit too, so params move between the two)."""
MAX_PARAM_VALUE = 8000
"""The most characters one param value takes, as JSON: a param is a setting, not data."""
MAX_PARAMS_JSON = 64_000
"""The most characters all of one version's params take, as JSON."""
MAX_NAMES = 1000
"""The most metrics, or tags, one version carries."""


def _params(values: Any, where: str) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{where}.params must be a dict", field="params")
    out: dict[str, Any] = {}
    total = 0
    for name, value in values.items():
        if type(name) is not str or not 0 < len(name) <= MAX_PARAM_NAME or not name.isprintable():
            raise InvalidInput(
                f"{where}.params: names must be 1-{MAX_PARAM_NAME} printable characters, "
                f"got {str(name)[:60]!r}",
                field="params",
            )
        if type(value) not in _PLAIN:
            if hasattr(value, "item") and not isinstance(value, _PLAIN):
                value = value.item()
            if value is not None and not isinstance(value, str | bool | int | float | list | dict):
                value = repr(value)
        if type(value) is float and not math.isfinite(value):
            value = str(value)
        size = len(value) if type(value) is str else len(_json(value, where, name))
        if size > MAX_PARAM_VALUE:
            raise InvalidInput(
                f"{where}.params.{name} is {size} characters, over the limit of "
                f"{MAX_PARAM_VALUE}: store data as an artifact or a dataset, not a param",
                field=f"params.{name}",
            )
        total += size + len(name)
        out[name] = value
    if total > MAX_PARAMS_JSON:
        raise InvalidInput(
            f"{where}.params take {total} characters, over the limit of {MAX_PARAMS_JSON} "
            "per version: keep params to settings",
            field="params",
        )
    return out


def _json(value: Any, where: str, name: str) -> str:
    """``value`` as the store will write it; a value JSON cannot hold names its param."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{where}.params.{name} cannot be stored as JSON ({exc}): use plain text, "
            "numbers, lists and dicts of them",
            field=f"params.{name}",
        ) from None
