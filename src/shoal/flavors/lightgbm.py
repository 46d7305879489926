"""The "lightgbm" flavor: LightGBM boosters in LightGBM's own text model format.

The text format is what LightGBM itself writes with ``save_model``: readable, parsed by
LightGBM's C++ loader without running Python code, stable across LightGBM versions, and
deterministic, so equal boosters have equal bytes.

The scikit-learn wrappers (``LGBMRegressor``, ``LGBMClassifier``, ``LGBMRanker``) are
accepted and saved as their fitted booster; ``load`` always returns a ``lightgbm.Booster``.
``predict`` therefore gives the booster's raw output for every model, before or after a
round trip: for a regressor, the predictions; for a binary classifier, the probability of
the positive class (shape ``(n,)``); for a multiclass classifier, one probability per
class (shape ``(n, n_classes)``, classes in the order of the wrapper's ``classes_``). The
class labels themselves are not in the booster; map them with ``classes_`` where needed.

``predict_proba`` gives every class's probability, labelled: by the wrapper's ``classes_``
for a fitted ``LGBMClassifier``, by class index (``"0"``, ``"1"``, ...) for a booster, as
every loaded model is. Index labels are the true labels when the model was trained on
labels ``0..k-1`` (LightGBM's own convention); a wrapper trained on other labels loses
them when saved, so its logged ``proba.<index>`` columns do not match its actuals.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput, MissingDependency
from shoal.flavors._base import (
    Capabilities,
    Flavor,
    classifier_proba,
    corrupt,
    module_roots,
    require_bytes,
    type_names,
)
from shoal.flavors._signature import Signature, select_columns

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class LightGBMFlavor(Flavor):
    """LightGBM ``Booster`` and its sklearn wrappers, as LightGBM's native text format."""

    name = "lightgbm"
    capabilities = Capabilities(safe_format=True, extra="lightgbm", suffix=".txt")

    def can_handle(self, model: Any) -> bool:
        if "lightgbm" not in module_roots(model):
            return False
        return hasattr(model, "model_to_string") or hasattr(model, "booster_")

    def save(self, model: Any) -> bytes:
        booster = _booster(model)
        text: str = booster.model_to_string()
        _LAST_SAVED.text = (booster, text)  # signature() reads it instead of saving again
        return text.encode("utf-8")

    def load(self, data: bytes, *, trusted: Sequence[str] = (), allow_pickle: bool = False) -> Any:
        lgb = _lightgbm()
        data = require_bytes(self.name, data)
        if not data.startswith(b"tree\n"):
            # Checked here so obvious junk never reaches LightGBM, which logs "[Fatal]".
            raise corrupt(self.name, ValueError("a LightGBM text model starts with 'tree'"))
        try:
            return lgb.Booster(model_str=data.decode("utf-8"))
        except Exception as exc:  # LightGBMError, UnicodeDecodeError, JSON errors...
            raise corrupt(self.name, exc) from exc

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        booster = _booster(model)
        return np.asarray(booster.predict(_features(booster, X), **_threads(X)))

    def predict_proba(self, model: Any, X: pd.DataFrame) -> tuple[list[str], np.ndarray] | None:
        """Class probabilities of a binary or multiclass model (see the module doc for the
        labels); None for any other objective (regression, ranking, a custom one)."""
        import numpy as np

        booster = _booster(model)
        if "lightgbm.sklearn.LGBMClassifier" in type_names(model):
            # The wrapper checks feature names: it gets the frame, not the float matrix.
            names = booster.feature_name()
            return classifier_proba(model, X.to_numpy() if _positional(names, X)
                                    else select_columns(X, names))  # fmt: skip
        objective = str((getattr(booster, "params", None) or {}).get("objective", ""))
        if objective not in _BINARY and objective not in _MULTICLASS:
            return None  # before selecting columns: a regressor costs nothing here
        features = _features(booster, X)
        if objective in _BINARY:
            positive = np.asarray(booster.predict(features, **_threads(X)), dtype=np.float64)
            if positive.ndim != 1:
                return None
            return ["0", "1"], np.column_stack([1.0 - positive, positive])
        matrix = np.asarray(booster.predict(features, **_threads(X)), dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != len(X):
            return None
        return [str(i) for i in range(matrix.shape[1])], matrix

    def signature(self, model: Any, sample: pd.DataFrame | None = None) -> Signature | None:
        booster = _booster(model)
        names = booster.feature_name()
        output = "float64"
        if sample is not None:
            columns = None if _positional(names, sample) else names
            return Signature.from_frame(sample, output, columns=columns)
        if names == [f"Column_{i}" for i in range(len(names))]:
            return None  # trained on a bare array: LightGBM made the names up
        categorical = set(_categorical_features(booster))
        return Signature(
            tuple((n, "category" if n in categorical else "float64") for n in names), output
        )


_BINARY = frozenset({"binary"})
_MULTICLASS = frozenset({"multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr"})
"""Objectives (and their aliases, as a booster trained in this process keeps them) whose
``predict`` is class probabilities."""


def _positional(names: list[str], X: Any) -> bool:
    """Trained on a bare array (``Column_0``...) and given other names: match by position."""
    auto = [f"Column_{i}" for i in range(len(names))]
    return names == auto and not set(auto) <= set(X.columns) and X.shape[1] == len(names)


SMALL = 10_000
"""Rows below which a predict runs on one thread: a fleet's calls are many and small (a
key's rows, a request's), and waking OpenMP's pool for 100 rows cost 50x the predict
itself on a busy 2-core machine. Callers already run keys in parallel."""


def _features(booster: Any, X: pd.DataFrame) -> Any:
    """The booster's columns of ``X`` in its order, as one float matrix when every column
    is a plain number or bool: LightGBM's own DataFrame conversion costs about a
    millisecond a call, more than predicting a key's rows. Categorical or text columns
    stay a DataFrame, which LightGBM maps by its stored categories."""
    import numpy as np

    names = booster.feature_name()
    if _positional(names, X):
        return X.to_numpy()
    selected = select_columns(X, names)
    try:  # the block dtypes, without the Series ``.dtypes`` builds (a tenth of a key's time)
        dtypes = list(selected._mgr.get_dtypes())
    except AttributeError:  # another pandas' internals: the public way
        dtypes = list(selected.dtypes)
    plain = all(isinstance(d, np.dtype) and d.kind in "fiub" for d in dtypes)
    if plain and len(names):
        return selected.to_numpy(dtype=np.float64)
    return selected


def _threads(X: Any) -> dict[str, int]:
    return {"num_threads": 1} if len(X) < SMALL else {}


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError as exc:
        raise MissingDependency(
            "the 'lightgbm' flavor needs LightGBM: pip install 'shoal[lightgbm]'"
        ) from exc
    return lightgbm


def _booster(model: Any) -> Any:
    """The fitted Booster behind a Booster or a fitted sklearn wrapper."""
    lgb = _lightgbm()
    if isinstance(model, lgb.Booster):
        return model
    if isinstance(model, lgb.LGBMModel):
        if not getattr(model, "fitted_", False):
            raise InvalidInput(
                f"{type(model).__name__} is not fitted; call fit() before saving it",
                field="model",
            )
        return model.booster_
    raise InvalidInput(
        "the lightgbm flavor takes a lightgbm.Booster or a fitted LGBMModel, "
        f"got {type(model).__name__}",
        field="model",
    )


_LAST_SAVED = threading.local()
"""The booster this thread saved last and its text (one model: a reference, not a cache)."""


def _categorical_features(booster: Any) -> list[str]:
    """Names of features LightGBM treats as categorical, read from the saved parameters.

    A freshly trained booster does not expose them in ``params``; its text model does.
    """
    names = booster.feature_name()
    marker = "\n[categorical_feature: "
    last = getattr(_LAST_SAVED, "text", None)
    # Serialising 100 trees takes milliseconds: training saves then asks for the signature
    # of the same booster, so the text just saved (in this thread) is reused.
    text = last[1] if last is not None and last[0] is booster else booster.model_to_string()
    start = text.find(marker)
    if start < 0:
        return []
    raw = text[start + len(marker) : text.find("]", start)]
    out = []
    for item in raw.split(","):
        item = item.strip()
        if item.isdigit() and int(item) < len(names):
            out.append(names[int(item)])
        elif item in names:
            out.append(item)
    return out
