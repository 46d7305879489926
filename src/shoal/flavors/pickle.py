"""The "pickle" flavor: any Python object, for fleets that opt in to running pickled code.

Unpickling runs code chosen by whoever wrote the bytes, so the format is declared unsafe
(``safe_format=False``, ``needs_pickle=True``) and is never inferred. Policy lives in the
registry, which refuses this flavor unless the fleet was created with ``allow_pickle=True``.
``load`` still refuses on its own without an explicit ``allow_pickle=True``, so that a
mistake elsewhere cannot unpickle silently.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput, UnsafeArtifact
from shoal.flavors._base import Capabilities, Flavor, classifier_proba, corrupt, require_bytes
from shoal.flavors._signature import ANY, Signature, select_columns, signature_or_none

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PROTOCOL = 5
"""Pinned, so that the bytes do not change when Python's default protocol does."""


class PickleFlavor(Flavor):
    """Plain pickle of any object with a ``predict(X)`` method. Unsafe by design."""

    name = "pickle"
    # Not deterministic: set order and object sharing can differ between processes.
    capabilities = Capabilities(
        safe_format=False, needs_pickle=True, deterministic=False, suffix=".pkl"
    )

    def can_handle(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any) -> bytes:
        try:
            return pickle.dumps(model, protocol=PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                f"cannot pickle {type(model).__name__}: {exc}", field="model"
            ) from exc

    def load(self, data: bytes, *, trusted: Sequence[str] = (), allow_pickle: bool = False) -> Any:
        if allow_pickle is not True:
            raise UnsafeArtifact(
                "refusing to unpickle: pickle runs arbitrary code on load; pass "
                "allow_pickle=True only for artifacts from a fleet created with "
                "allow_pickle=True whose content hash matches the registry",
                field="allow_pickle",
            )
        data = require_bytes(self.name, data)
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise corrupt(self.name, exc) from exc

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        names = getattr(model, "feature_names_in_", None)
        data = X if names is None else select_columns(X, [str(n) for n in names])
        return np.asarray(model.predict(data))

    def predict_proba(self, model: Any, X: pd.DataFrame) -> tuple[list[str], np.ndarray] | None:
        """Probabilities of a pickled scikit-learn-like classifier (``predict_proba`` and
        ``classes_``, e.g. a scikit-learn model pickled, or a wrapper that keeps both);
        None for anything else."""
        if not callable(getattr(model, "predict_proba", None)):
            return None
        names = getattr(model, "feature_names_in_", None)
        data = X if names is None else select_columns(X, [str(n) for n in names])
        return classifier_proba(model, data)

    def signature(self, model: Any, sample: pd.DataFrame | None = None) -> Signature | None:
        names = getattr(model, "feature_names_in_", None)
        columns = None if names is None else [str(n) for n in names]
        if sample is not None:
            output = str(self.predict(model, sample.head(5)).dtype)
            return Signature.from_frame(sample, output, columns=columns)
        return signature_or_none(((n, ANY) for n in columns or ()), None)
