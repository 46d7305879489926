"""The "sklearn" flavor: scikit-learn estimators and pipelines in skops format.

skops stores an object tree as JSON plus numpy arrays in a zip, and loading builds only
types the caller trusts, so a registry can load a stranger's artifact without running
its code. Two things are added here:

- **Trust by package.** Types from scikit-learn, numpy and scipy are trusted (minus a few
  that read or write files); anything else, e.g. a custom function in a
  FunctionTransformer, raises UnsafeArtifact naming the types and how to trust them.
- **Deterministic bytes.** skops names nodes and array files by ``id(obj)`` and stamps zip
  entries with the current time, so the same model saved twice differs. :func:`canonical`
  renumbers ids in document order, drops ids of immutable JSON values, fixes timestamps
  and writes compact JSON, so identical models hash alike and are stored once.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput, UnsafeArtifact
from shoal.flavors._base import (
    Capabilities,
    Flavor,
    classifier_proba,
    corrupt,
    require_bytes,
    type_names,
)
from shoal.flavors._signature import ANY, Signature, select_columns, signature_or_none
from shoal.flavors._zip import write_zip

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_NO_NAMES = "X does not have valid feature names"
"""The start of scikit-learn's warning for an array given to a model fitted on a frame."""

TRUSTED_PACKAGES = frozenset({"sklearn", "numpy", "scipy"})
"""Top-level packages whose types load without being named in ``trusted=``."""

DENIED = (
    "numpy.f2py",
    "numpy.distutils",
    "numpy.testing",
    "numpy.ctypeslib",
    "numpy.load",
    "numpy.save",
    "numpy.savez",
    "numpy.savez_compressed",
    "numpy.savetxt",
    "numpy.loadtxt",
    "numpy.genfromtxt",
    "numpy.fromfile",
    "numpy.memmap",
    "scipy.io",
    "sklearn.datasets",
    "sklearn.utils._testing",
)
"""Names (or module prefixes) inside the trusted packages that touch files or compile code:
a FunctionTransformer calling one of them could write files at predict time, so they
need an explicit ``trusted=`` entry like any foreign type."""


class SklearnFlavor(Flavor):
    """scikit-learn estimators (and pipelines) through skops, with deterministic bytes."""

    name = "sklearn"
    capabilities = Capabilities(safe_format=True, suffix=".skops")

    def can_handle(self, model: Any) -> bool:
        return "sklearn.base.BaseEstimator" in type_names(model)

    def save(self, model: Any) -> bytes:
        import skops.io as sio

        if not self.can_handle(model):
            raise InvalidInput(
                f"the sklearn flavor saves scikit-learn estimators, got {type(model).__name__}",
                field="model",
            )
        state = _skops_state(model)
        if state is None:  # skops moved its internals: the public, slower path
            return canonical(sio.dumps(model))
        return _canonical_parts(*state)

    def load(self, data: bytes, *, trusted: Sequence[str] = (), allow_pickle: bool = False) -> Any:
        import skops.io as sio

        data = require_bytes(self.name, data)
        try:
            untrusted = sio.get_untrusted_types(data=data)
        except Exception as exc:
            raise corrupt(self.name, exc) from exc
        refused = [t for t in untrusted if not _trusted(t, trusted)]
        if refused:
            raise UnsafeArtifact(
                f"skops artifact contains types that are not trusted: {refused}; if you "
                f"trust the code that defines them, load with trusted={refused!r}",
                field="trusted",
            )
        try:
            return sio.loads(data, trusted=list(untrusted))
        except Exception as exc:
            raise corrupt(self.name, exc) from exc

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        names = getattr(model, "feature_names_in_", None)
        # Fitted on a bare array: pass one too, or scikit-learn warns about feature names.
        data = X.to_numpy() if names is None else select_columns(X, [str(n) for n in names])
        return np.asarray(model.predict(data))

    def predict_in_sample(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        """``predict`` on the model's own numeric columns as one float matrix, skipping
        scikit-learn's per-call checks of a DataFrame (names, dtypes: a millisecond, as
        much as fitting a small model) which the columns, the model's own in its order,
        pass by construction. A pipeline (whose steps may select columns by name), a
        non-numeric column, or any error take the ordinary path."""
        import numpy as np

        names = getattr(model, "feature_names_in_", None)
        if names is None or hasattr(model, "steps") or [str(n) for n in names] != list(X.columns):
            return self.predict(model, X)
        if not all(kind in "biuf" for kind in (dtype.kind for dtype in X.dtypes)):
            return self.predict(model, X)
        try:
            matrix = X.to_numpy(dtype=np.float64)
            with warnings.catch_warnings():  # "X does not have valid feature names": it has
                warnings.filterwarnings("ignore", _NO_NAMES, UserWarning)
                return np.asarray(model.predict(matrix))
        except Exception:
            return self.predict(model, X)

    def predict_proba(self, model: Any, X: pd.DataFrame) -> tuple[list[str], np.ndarray] | None:
        """A classifier's (or a pipeline ending in one) ``predict_proba``, labelled by
        ``classes_``; None for regressors and classifiers without probabilities."""
        if not callable(getattr(model, "predict_proba", None)):
            return None  # before selecting columns: a regressor costs nothing here
        names = getattr(model, "feature_names_in_", None)
        data = X.to_numpy() if names is None else select_columns(X, [str(n) for n in names])
        return classifier_proba(model, data)

    def signature(self, model: Any, sample: pd.DataFrame | None = None) -> Signature | None:
        names = getattr(model, "feature_names_in_", None)
        columns = None if names is None else [str(n) for n in names]
        if sample is None:
            return signature_or_none(((n, ANY) for n in columns or ()), _output_dtype(model))
        try:
            output = str(self.predict(model, sample.head(5)).dtype)
        except InvalidInput:
            raise
        except Exception as exc:
            raise InvalidInput(
                f"the model cannot predict on the sample ({type(exc).__name__}: {exc})",
                field="sample",
            ) from exc
        return Signature.from_frame(sample, output, columns=columns)


def _output_dtype(model: Any) -> str | None:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    return str(classes.dtype) if hasattr(classes, "dtype") else "object"


def _trusted(type_name: str, trusted: Sequence[str]) -> bool:
    if type_name in trusted:
        return True
    if type_name.split(".", 1)[0] not in TRUSTED_PACKAGES:
        return False
    return not any(type_name == d or type_name.startswith(d + ".") for d in DENIED)


def canonical(data: bytes) -> bytes:
    """Rewrite a skops zip so that its bytes depend only on the model, not on when or where.

    Loading the result gives the same object as loading the input: ids keep their sharing
    (one id, one object), only their numbers change.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        schema = json.loads(src.read("schema.json"))
        files = {n: src.read(n) for n in src.namelist() if n != "schema.json"}
    return _canonical_parts(schema, files)


def _canonical_parts(schema: Any, files: dict[str, bytes]) -> bytes:
    """The canonical zip of a skops schema and its array files (see :func:`canonical`).

    ``schema`` (renumbered in place) is skops' state as built or as read back from JSON:
    both give the same bytes.
    """
    renamed: dict[str, str] = {}
    _renumber(schema, {}, renamed, files)
    entries = [(new, _canonical_member(new, files[old])) for old, new in renamed.items()]
    entries.append(("schema.json", json.dumps(schema, separators=(",", ":")).encode()))
    return write_zip(entries)


class _Members:
    """What skops writes into its zip while saving, kept in memory instead."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def writestr(self, name: str, data: Any) -> None:
        self.files[name] = bytes(data)

    def namelist(self) -> list[str]:
        return list(self.files)


def _skops_state(model: Any) -> tuple[dict[str, Any], dict[str, bytes]] | None:
    """The schema and array files ``skops.io.dumps`` would zip, without the zip.

    Why reach past skops' public API: ``dumps`` writes a zip with an indented JSON schema
    (Python's slow encoder) that :func:`canonical` then reads back and rewrites, about
    0.3 ms of a tiny model's save, paid once per model of a fleet. Building the state
    with skops' own ``get_state`` and zipping it once gives the same bytes (a test checks
    them against ``canonical(skops.io.dumps(model))``). If skops moves these internals,
    this returns None and the public path is used.
    """
    try:
        import skops
        from skops.io._utils import SaveContext, get_state
    except ImportError:
        return None
    members = _Members()
    try:
        context = SaveContext(zip_file=members)
        state = get_state(model, context)
    except Exception:  # changed internals, or a type skops refuses: the public path says
        return None
    context.clear_memo()
    state["protocol"] = context.protocol
    state["_skops_version"] = skops.__version__
    return state, members.files


def _renumber(
    node: Any, ids: dict[int, int], renamed: dict[str, str], files: dict[str, bytes]
) -> None:
    """Renumber ``__id__`` and array file names in document order, in place.

    Works on skops' state as built (tuples where JSON has lists) as well as on a schema
    read back from JSON: JSON writes both alike, so the bytes are the same either way,
    and there is no JSON round trip (a quarter of a tiny model's save) before the walk.
    """
    kind = type(node)
    if kind is dict:
        for key in node:
            if type(key) is not str:  # a dict of the model's own: JSON's keys are text
                _text_keys(node)
                break
        if "__loader__" in node:
            _renumber_node(node, ids, renamed, files)
        children = node.values()
    elif kind is list or kind is tuple:
        children = node
    else:
        return
    for child in children:
        if type(child) in _CONTAINERS:
            _renumber(child, ids, renamed, files)


_CONTAINERS = (dict, list, tuple)


def _text_keys(node: dict[Any, Any]) -> None:
    """Turn ``node``'s keys into text as JSON writes and reads them back (``1`` -> ``"1"``,
    ``True`` -> ``"true"``; of two keys that become one, the later value stays, in the
    earlier one's place), so the bytes are those of the round trip this walk replaces."""
    items = list(node.items())
    node.clear()
    for key, value in items:
        node[key if type(key) is str else json.loads(json.dumps({key: 0})).popitem()[0]] = value


def _renumber_node(node: dict[str, Any], ids: dict[int, int], renamed: dict[str, str],
                   files: dict[str, bytes]) -> None:  # fmt: skip
    """Renumber one node's own ``__id__`` and array file name (before its children's)."""
    if node["__loader__"] == "JsonNode":
        # Immutable JSON values: whether two of them share an id is an accident of
        # interning, and skops neither needs nor uses it to rebuild them.
        node.pop("__id__", None)
    elif isinstance(node.get("__id__"), int):
        node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
    if node["__loader__"] == "SetNode" and isinstance(node.get("content"), list | tuple):
        # Set iteration order follows string hashes, which vary between processes.
        node["content"] = sorted(node["content"], key=_sort_key)
    name = node.get("file")
    if isinstance(name, str) and name in files:
        suffix = name[name.rfind(".") :] if "." in name else ""
        node["file"] = renamed.setdefault(name, f"{len(renamed) + 1}{suffix}")


def _sort_key(item: Any) -> str:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "__id__"}
        if isinstance(value, list | tuple):
            return [strip(v) for v in value]
        return value

    # Through JSON first: keys become text (as loading the schema would make them), so
    # sorting them never compares a number with a string.
    return json.dumps(json.loads(json.dumps(strip(item))), sort_keys=True)


def _canonical_member(name: str, payload: bytes) -> bytes:
    """Array files are deterministic, except scipy's ``.npz``, itself a timestamped zip."""
    if not name.endswith(".npz"):
        return payload
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        return write_zip([(n, inner.read(n)) for n in inner.namelist()])
