"""The "linear" flavor: an intercept and named coefficients, stored as canonical JSON.

Fleets of a million tiny models (one per store and SKU) are mostly numbers. Storing each
as a skops zip would cost kilobytes and a zip parser per load; this format is a couple of
hundred bytes of JSON that anyone can read, that cannot run code, and whose bytes depend
only on the numbers (sorted keys, no spaces, shortest float repr), so equal models
deduplicate in the content-addressed store.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput
from shoal.flavors._base import Capabilities, Flavor, corrupt, require_bytes
from shoal.flavors._signature import Signature, select_columns

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

FORMAT_VERSION = 1


@dataclass(frozen=True)
class LinearModel:
    """``y = intercept + sum(coef[name] * X[name])``.

    >>> LinearModel(1.0, {"x1": 0.5}).predict_one({"x1": 2.0})
    2.0
    """

    intercept: float
    coef: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        intercept = _finite("intercept", self.intercept)
        if not isinstance(self.coef, Mapping):
            raise InvalidInput(
                f"coef must map feature names to numbers, got {type(self.coef).__name__}",
                field="coef",
            )
        coef = {str(k): _finite(f"coef.{k}", v) for k, v in sorted(self.coef.items())}
        object.__setattr__(self, "intercept", intercept)
        object.__setattr__(self, "coef", coef)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearModel:
        """Build from ``{"intercept": 1.0, "coef": {"x1": 0.5}}`` (other keys are refused)."""
        if not isinstance(data, Mapping) or "intercept" not in data:
            raise InvalidInput(
                'a linear model looks like {"intercept": 1.0, "coef": {"x1": 0.5}}, '
                f"got {data!r}",
                field="model",
            )
        unknown = set(data) - {"intercept", "coef", "v"}
        if unknown:
            raise InvalidInput(f"unknown linear model field(s) {sorted(unknown)}", field="model")
        return cls(data["intercept"], data.get("coef", {}))

    def to_dict(self) -> dict[str, Any]:
        return {"intercept": self.intercept, "coef": dict(self.coef)}

    def predict_one(self, row: Mapping[str, float]) -> float:
        """Predict one row given as a mapping; the fast path for a single request."""
        return self.intercept + sum(w * float(row[name]) for name, w in self.coef.items())


class LinearFlavor(Flavor):
    """Saves :class:`LinearModel` (or a dict of the same shape) as compact canonical JSON."""

    name = "linear"
    capabilities = Capabilities(safe_format=True, suffix=".json")

    def can_handle(self, model: Any) -> bool:
        if isinstance(model, LinearModel):
            return True
        return (
            isinstance(model, Mapping)
            and "intercept" in model
            and set(model) <= {"intercept", "coef"}
        )

    def save(self, model: Any) -> bytes:
        data = _as_model(model).to_dict()
        data["v"] = FORMAT_VERSION
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")

    def load(
        self, data: bytes, *, trusted: Sequence[str] = (), allow_pickle: bool = False
    ) -> LinearModel:
        data = require_bytes(self.name, data)
        try:
            parsed = json.loads(data.decode("utf-8"))
            if not isinstance(parsed, dict) or parsed.get("v") != FORMAT_VERSION:
                raise ValueError(f"expected a JSON object with v={FORMAT_VERSION}")
            return LinearModel.from_dict(parsed)
        except (ValueError, TypeError) as exc:
            raise corrupt(self.name, exc) from exc

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        model = _as_model(model)
        if not model.coef:
            return np.full(len(X), model.intercept, dtype="float64")
        names = list(model.coef)
        weights = np.fromiter(model.coef.values(), dtype="float64", count=len(names))
        predicted: np.ndarray = (
            select_columns(X, names).to_numpy(dtype="float64") @ weights + model.intercept
        )
        return predicted

    def signature(self, model: Any, sample: pd.DataFrame | None = None) -> Signature:
        model = _as_model(model)
        if sample is not None:
            return Signature.from_frame(sample, output="float64", columns=list(model.coef))
        return Signature(tuple((name, "float64") for name in model.coef), output="float64")


def _as_model(model: Any) -> LinearModel:
    if isinstance(model, LinearModel):
        return model
    if isinstance(model, Mapping):
        return LinearModel.from_dict(model)
    raise InvalidInput(
        f"the linear flavor takes a LinearModel or a dict, got {type(model).__name__}",
        field="model",
    )


def _finite(name: str, value: Any) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    raise InvalidInput(f"{name} must be a finite number, got {value!r}", field=name)
