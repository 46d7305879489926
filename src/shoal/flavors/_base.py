"""The flavor seam: how one model format is saved, loaded, described and asked to predict.

A flavor is stateless and knows one format. The registry, the artifact store and the
server never touch a library's own API: they call these members and read
:class:`Capabilities` to decide what they may do (load only safe formats, hash the bytes,
batch the rows of many keys into one call).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from shoal.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from shoal.flavors._signature import Signature


@dataclass(frozen=True)
class Capabilities:
    """What a flavor can promise, as data, so callers choose behaviour without type checks.

    The registry refuses a flavor with ``needs_pickle`` unless the fleet opted in, the
    artifact layer relies on ``deterministic`` for deduplication, and the server groups the
    rows of many keys into one ``predict`` call only when ``batch_predict`` holds.
    """

    safe_format: bool
    """Loading cannot run arbitrary code (no pickle, no untrusted types)."""
    batch_predict: bool = True
    """``predict`` is vectorised: one call on many rows is much cheaper than many calls."""
    needs_pickle: bool = False
    """Loading unpickles: the caller must pass ``allow_pickle=True`` to ``load``."""
    deterministic: bool = True
    """The same fitted model always saves to the same bytes, so identical models dedupe."""
    extra: str | None = None
    """The ``pip install 'shoal[extra]'`` that the flavor needs, if any."""
    suffix: str = ".bin"
    """File suffix for an exported artifact, e.g. ``.skops`` or ``.json``."""


class Flavor(abc.ABC):
    """One model format. Subclass it, then ``register_flavor("name", "pkg.mod:Class")``.

    Contract, checked for any flavor by :func:`shoal.testing.check_flavor`:

    - ``save(model)`` returns bytes; the same fitted model saved twice (or a deep copy of
      it) gives identical bytes when ``capabilities.deterministic``, because artifacts are
      content addressed and identical models must be stored once.
    - ``load(data)`` returns a model whose ``predict`` matches the original's. It never lets
      a library exception escape: bad bytes raise :class:`~shoal.errors.InvalidInput`, and
      bytes that would run untrusted code raise :class:`~shoal.errors.UnsafeArtifact`.
      ``trusted`` names extra types the caller vouches for; ``allow_pickle`` must be True
      for a flavor that unpickles, and is ignored by the others.
    - ``predict(model, X)`` takes a pandas DataFrame and returns a numpy array, one row
      per row of ``X``.
    - ``signature(model, sample)`` describes the inputs, from ``sample`` when given.

    Example::

        flavor = get_flavor("sklearn")
        data = flavor.save(model)                   # bytes to hash and store
        model2 = flavor.load(data)
        y = flavor.predict(model2, frame)           # numpy array, len(frame) rows
        sig = flavor.signature(model, frame)        # Signature, stored with the version
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    @abc.abstractmethod
    def can_handle(self, model: Any) -> bool:
        """Whether ``save`` accepts this object; must be cheap and import nothing heavy."""

    @abc.abstractmethod
    def save(self, model: Any) -> bytes:
        """Serialise a fitted model to bytes (deterministically, see the class docstring)."""

    @abc.abstractmethod
    def load(self, data: bytes, *, trusted: Sequence[str] = (), allow_pickle: bool = False) -> Any:
        """Rebuild a model from bytes written by :meth:`save`."""

    @abc.abstractmethod
    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        """Predict on a DataFrame, returning one output row per input row."""

    @abc.abstractmethod
    def signature(self, model: Any, sample: pd.DataFrame | None = None) -> Signature | None:
        """Describe inputs and output; None when the model does not say and no sample is given."""

    def predict_in_sample(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        """``predict`` on the rows the model was trained on, ``X`` holding exactly its input
        columns in its order: training summarises them as the baseline of prediction drift.

        Why a method of its own: training calls it once per model of a fleet, beside a fit
        that may take a millisecond, so a flavor may take a cheaper path than serving's,
        knowing the columns are the model's own (scikit-learn's checks of a DataFrame
        cost about as much as fitting a small linear model). By default, ``predict``.
        """
        return self.predict(model, X)

    def predict_proba(self, model: Any, X: pd.DataFrame) -> tuple[list[str], np.ndarray] | None:
        """Class probabilities: ``(labels, matrix)`` with ``matrix`` of shape ``(len(X),
        len(labels))``, labels as text; None when the model is not a classifier (or the
        flavor cannot tell).

        Why optional: a regression model has none, and a third-party flavor written before
        this method existed keeps working. The server and batch scoring log each column as
        ``proba.<label>``, so monitoring can compute log loss and calibration from Shoal's
        own logs; monitoring compares ``<label>`` with the actuals as text.
        """
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def type_names(obj: Any) -> set[str]:
    """Qualified names of an object's class and its bases, read without importing anything.

    ``can_handle`` uses them so that asking "is this a LightGBM model?" never imports
    LightGBM (or scikit-learn) when the answer can only be no.
    """
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(obj).__mro__}


def module_roots(obj: Any) -> set[str]:
    """Top-level package names of an object's class and its bases (``{"sklearn", ...}``)."""
    return {cls.__module__.split(".", 1)[0] for cls in type(obj).__mro__}


def classifier_proba(model: Any, data: Any) -> tuple[list[str], np.ndarray] | None:
    """``(classes_ as text, predict_proba(data))`` of a scikit-learn-like classifier, else None.

    Shared by the flavors that hold such models (sklearn, pickle). Only a single-output
    classifier qualifies: ``predict_proba`` present (scikit-learn hides it where the model
    cannot give it, e.g. ``SVC(probability=False)``) and ``classes_`` a flat list of as many
    labels as the matrix has columns; anything else (a multi-output classifier's list of
    matrices, say) is None rather than a guess.
    """
    import numpy as np

    method = getattr(model, "predict_proba", None)
    classes = getattr(model, "classes_", None)
    if not callable(method) or classes is None:
        return None
    labels = np.asarray(classes)
    if labels.ndim != 1:
        return None
    matrix = np.asarray(method(data), dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape != (len(data), len(labels)):
        return None
    return [label_text(label) for label in labels.tolist()], matrix


def label_text(label: Any) -> str:
    """A class label as monitoring compares it with an actual, as text: ``str(label)``,
    except booleans, written ``true``/``false`` as DuckDB casts a logged boolean."""
    if isinstance(label, bool):
        return "true" if label else "false"
    return str(label)


def corrupt(flavor: str, exc: BaseException) -> InvalidInput:
    """The error for bytes a flavor cannot read, so no raw library exception escapes."""
    if isinstance(exc, InvalidInput):
        return exc
    return InvalidInput(
        f"artifact is not a valid {flavor!r} model ({type(exc).__name__}: {exc}); "
        "check that the version was saved with this flavor and the bytes are complete",
        field="data",
    )


def require_bytes(flavor: str, data: Any) -> bytes:
    """Reject non-bytes input early with a message that names the argument."""
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if not isinstance(data, bytes):
        raise InvalidInput(
            f"{flavor} flavor: data must be bytes, got {type(data).__name__}", field="data"
        )
    return data
