"""The flavor conformance suite: what every flavor, built-in or third party, must do.

Run it in a plugin's own tests on a small fitted model and a frame it can predict::

    from shoal.testing import check_flavor

    def test_my_flavor():
        report = check_flavor(MyFlavor(), fitted_model, X)
        assert report.size_bytes < 10_000

Each check raises AssertionError with a message saying which promise broke, so a plugin
author sees the contract rather than a stack trace from deep inside a library.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from shoal.errors import InvalidInput, UnsafeArtifact
from shoal.flavors import Capabilities, Flavor, Signature

GARBAGE = (b"", b"\x00not a model\xff" * 4)
"""Bytes no flavor should accept, nor choke on with a raw library exception."""


@dataclass
class FlavorReport:
    """What :func:`check_flavor` verified, with the facts a caller may want to assert on."""

    flavor: str
    size_bytes: int
    sha256: str
    signature: Signature | None
    checks: list[str] = field(default_factory=list)


def check_flavor(
    flavor: Flavor, model: Any, X: pd.DataFrame, *, allow_pickle: bool = False
) -> FlavorReport:
    """Check ``flavor`` against the :class:`~shoal.flavors.Flavor` contract with ``model`` on ``X``.

    ``allow_pickle`` must be True to check the round trip of a flavor that needs pickle;
    its refusal without it is checked either way.
    """
    caps = _check_declaration(flavor, model)
    report = FlavorReport(flavor.name, 0, "", None)
    data = flavor.save(model)
    _expect(isinstance(data, bytes), f"save() must return bytes, got {type(data).__name__}")
    report.size_bytes, report.sha256 = len(data), hashlib.sha256(data).hexdigest()
    report.checks.append("save returns bytes")
    if caps.deterministic:
        _check_deterministic(flavor, model, data)
        report.checks.append("identical models save to identical bytes")
    if caps.needs_pickle:
        _check_pickle_refused(flavor, data)
        report.checks.append("load refuses pickle without allow_pickle=True")
        _expect(
            allow_pickle,
            f"flavor {flavor.name!r} needs pickle: call check_flavor(..., allow_pickle=True) "
            "to check its round trip",
        )
    loaded = flavor.load(data, allow_pickle=allow_pickle)
    expected = _check_predict(flavor, model, X, "the original model")
    _check_same(expected, _check_predict(flavor, loaded, X, "the loaded model"), "round trip")
    report.checks.append("load(save(model)) predicts the same as model")
    if caps.deterministic:
        _expect(
            flavor.save(loaded) == data,
            "saving a loaded model must give the bytes it was loaded from (stable hash)",
        )
        report.checks.append("save(load(data)) == data")
    report.signature = _check_signature(flavor, model, X, expected)
    report.checks.append("signature validates X, rejects a missing column, JSON round trip")
    _check_garbage(flavor, allow_pickle)
    report.checks.append("garbage bytes raise InvalidInput")
    return report


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _check_declaration(flavor: Flavor, model: Any) -> Capabilities:
    _expect(isinstance(flavor, Flavor), f"{flavor!r} is not a shoal.flavors.Flavor")
    _expect(
        isinstance(getattr(flavor, "name", None), str) and bool(flavor.name),
        "flavor.name must be a non-empty string",
    )
    caps = flavor.capabilities
    _expect(
        isinstance(caps, Capabilities),
        f"flavor.capabilities must be a Capabilities instance, got {type(caps).__name__}",
    )
    _expect(
        not (caps.needs_pickle and caps.safe_format),
        "a flavor that needs pickle cannot declare safe_format=True",
    )
    _expect(flavor.can_handle(model), f"can_handle() is False for {type(model).__name__}")
    return caps


def _check_deterministic(flavor: Flavor, model: Any, data: bytes) -> None:
    again = flavor.save(model)
    _expect(
        again == data,
        f"saving the same model twice gave different bytes ({_digest(data)} then "
        f"{_digest(again)}); content addressing needs identical bytes, or declare "
        "Capabilities(deterministic=False)",
    )
    twin = copy.deepcopy(model)
    _expect(
        flavor.save(twin) == data,
        "a deep copy of the model saved to different bytes: the format embeds object "
        "ids, timestamps or another accident of the save; normalise it",
    )


class _LoadOptions(TypedDict, total=False):
    allow_pickle: bool


def _check_pickle_refused(flavor: Flavor, data: bytes) -> None:
    cases: list[_LoadOptions] = [{}, {"allow_pickle": False}]
    for kwargs in cases:
        try:
            flavor.load(data, **kwargs)
        except UnsafeArtifact:
            continue
        raise AssertionError(
            f"load({', '.join(f'{k}={v}' for k, v in kwargs.items()) or 'data'}) of a pickle "
            "flavor must raise UnsafeArtifact unless allow_pickle=True"
        )


def _check_predict(flavor: Flavor, model: Any, X: pd.DataFrame, what: str) -> np.ndarray:
    y = flavor.predict(model, X)
    _expect(
        isinstance(y, np.ndarray), f"predict on {what} must return a numpy array, got {type(y)}"
    )
    _expect(
        y.ndim >= 1 and len(y) == len(X),
        f"predict on {what} returned shape {y.shape} for {len(X)} rows",
    )
    return y


def _check_same(expected: np.ndarray, actual: np.ndarray, what: str) -> None:
    _expect(expected.shape == actual.shape, f"{what}: shape {actual.shape} != {expected.shape}")
    if expected.dtype.kind in "fc" or actual.dtype.kind in "fc":
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12, err_msg=what)
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=what)


def _check_signature(
    flavor: Flavor, model: Any, X: pd.DataFrame, expected: np.ndarray
) -> Signature:
    sig = flavor.signature(model, X)
    _expect(isinstance(sig, Signature), f"signature(model, X) must return a Signature: {sig!r}")
    assert isinstance(sig, Signature)
    _expect(bool(sig.inputs), "signature(model, X) declares no inputs")
    copy_ = Signature.from_dict(json.loads(json.dumps(sig.to_dict())))
    _expect(copy_ == sig, f"Signature JSON round trip changed it: {sig} -> {copy_}")
    declared = X[sig.names]
    sig.validate(declared)
    _check_same(expected, flavor.predict(model, declared), "predict on the signature's columns")
    bare = flavor.signature(model)
    if bare is not None:
        bare.validate(declared)
    first = sig.names[0]
    try:
        sig.validate(declared.drop(columns=[first]))
    except InvalidInput as exc:
        _expect(first in str(exc), f"the missing-column error must name {first!r}: {exc}")
    else:
        raise AssertionError(f"validate() accepted a frame without column {first!r}")
    return sig


def _check_garbage(flavor: Flavor, allow_pickle: bool) -> None:
    for junk in GARBAGE:
        try:
            flavor.load(junk, allow_pickle=allow_pickle)
        except InvalidInput:
            continue
        except Exception as exc:
            raise AssertionError(
                f"load(garbage) raised {type(exc).__name__}: {exc}; wrap library errors "
                "in shoal.errors.InvalidInput"
            ) from exc
        raise AssertionError(f"load({junk[:20]!r}) returned a model instead of InvalidInput")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]
