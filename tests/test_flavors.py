"""Flavors: the conformance suite over every built-in, plus the safety rules around it."""

from __future__ import annotations

import copy
import hashlib
import io
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from shoal.errors import InvalidInput, MissingDependency, NotFound, UnsafeArtifact
from shoal.flavors import (
    Capabilities,
    Flavor,
    Signature,
    _registry,
    flavor_names,
    get_flavor,
    infer_flavor,
    register_flavor,
)
from shoal.flavors.linear import LinearModel
from shoal.flavors.sklearn import canonical
from shoal.testing import check_flavor

try:
    import lightgbm as lgb
except ImportError:  # the lightgbm extra is optional; its tests skip without it
    lgb = None

needs_lightgbm = pytest.mark.skipif(lgb is None, reason="pip install 'shoal[lightgbm]'")


@pytest.fixture(scope="module")
def X() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.normal(size=(80, 3)), columns=["x1", "x2", "x3"])


@pytest.fixture(scope="module")
def y(X: pd.DataFrame) -> pd.Series:
    return 1.5 + 2.0 * X["x1"] - X["x2"] + 0.1 * X["x3"]


@pytest.fixture(scope="module")
def models(X: pd.DataFrame, y: pd.Series) -> dict[str, object]:
    """One small fitted model per built-in format, keyed by a readable id."""
    models: dict[str, object] = {
        "sklearn-linreg": LinearRegression().fit(X, y),
        "sklearn-pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(
            X, (y > y.median()).astype(int)
        ),
        "linear": LinearModel(0.25, {"x1": 0.5, "x2": -1.125, "x3": 3.0}),
        "linear-dict": {"intercept": 1.0, "coef": {"x1": 0.5}},
    }
    if lgb is None:
        return models
    return models | {
        "lightgbm-regressor": lgb.LGBMRegressor(
            n_estimators=10, min_child_samples=5, verbose=-1
        ).fit(X, y),
        "lightgbm-booster": lgb.train(
            {"objective": "regression", "verbose": -1, "min_data_in_leaf": 5},
            lgb.Dataset(X, y),
            num_boost_round=10,
        ),
    }


EXPECTED_FLAVOR = {
    "sklearn-linreg": "sklearn",
    "sklearn-pipeline": "sklearn",
    "lightgbm-regressor": "lightgbm",
    "lightgbm-booster": "lightgbm",
    "linear": "linear",
    "linear-dict": "linear",
}
MODEL_KEYS = [
    pytest.param(key, marks=needs_lightgbm) if key.startswith("lightgbm") else key
    for key in sorted(EXPECTED_FLAVOR)
]


@pytest.fixture
def isolated_registry(monkeypatch) -> Iterator[None]:
    """Registrations made by a test vanish after it, so tests cannot leak plugins."""
    monkeypatch.setattr(_registry, "_paths", dict(_registry._paths))
    monkeypatch.setattr(_registry, "_loaded", dict(_registry._loaded))
    yield


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_conformance(key: str, models: dict, X: pd.DataFrame) -> None:
    flavor = get_flavor(EXPECTED_FLAVOR[key])
    report = check_flavor(flavor, models[key], X)
    assert report.flavor == flavor.name
    assert report.signature is not None and report.signature.names[0] in X.columns


def test_conformance_pickle(models: dict, X: pd.DataFrame) -> None:
    report = check_flavor(get_flavor("pickle"), models["sklearn-linreg"], X, allow_pickle=True)
    assert "load refuses pickle without allow_pickle=True" in report.checks


def test_check_flavor_demands_allow_pickle_for_pickle(models: dict, X: pd.DataFrame) -> None:
    with pytest.raises(AssertionError, match="allow_pickle=True"):
        check_flavor(get_flavor("pickle"), models["sklearn-linreg"], X)


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_infer_flavor(key: str, models: dict) -> None:
    assert infer_flavor(models[key]).name == EXPECTED_FLAVOR[key]


def test_infer_never_picks_pickle() -> None:
    class Custom:
        def predict(self, X):
            return np.zeros(len(X))

    assert get_flavor("pickle").can_handle(Custom())
    with pytest.raises(InvalidInput, match="allow_pickle=True") as info:
        infer_flavor(Custom())
    assert 'flavor="pickle"' in str(info.value) or "flavor='pickle'" in str(info.value)


def test_pickle_refused_without_allow_pickle(models: dict) -> None:
    flavor = get_flavor("pickle")
    assert flavor.capabilities.needs_pickle and not flavor.capabilities.safe_format
    data = flavor.save(models["sklearn-linreg"])
    with pytest.raises(UnsafeArtifact, match="allow_pickle"):
        flavor.load(data)
    with pytest.raises(UnsafeArtifact):
        flavor.load(data, allow_pickle=False)
    assert isinstance(flavor.load(data, allow_pickle=True), LinearRegression)


def _double(x):
    return 2 * x


class Shifted(RegressorMixin, BaseEstimator):
    """An estimator class skops has never heard of: its type must be refused."""

    def fit(self, X, y):
        self.shift_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.shift_)


@pytest.mark.parametrize(
    ("build", "type_name"),
    [
        (lambda: make_pipeline(FunctionTransformer(_double), LinearRegression()), "_double"),
        (Shifted, "Shifted"),
    ],
    ids=["function-transformer", "custom-estimator"],
)
def test_skops_untrusted_type_refused(build, type_name, X: pd.DataFrame, y: pd.Series) -> None:
    flavor = get_flavor("sklearn")
    model = build().fit(X, y)
    data = flavor.save(model)
    qualified = f"{__name__}.{type_name}"
    with pytest.raises(UnsafeArtifact, match="not trusted") as info:
        flavor.load(data)
    assert qualified in str(info.value) and "trusted=" in str(info.value)
    loaded = flavor.load(data, trusted=[qualified])
    np.testing.assert_allclose(flavor.predict(loaded, X), flavor.predict(model, X))


def test_skops_io_functions_need_explicit_trust(X: pd.DataFrame, y: pd.Series) -> None:
    """numpy is trusted, but not its file writers: a transformer could write at predict time."""
    flavor = get_flavor("sklearn")
    model = make_pipeline(FunctionTransformer(np.savetxt), LinearRegression())
    data = canonical(sio.dumps(model))
    with pytest.raises(UnsafeArtifact, match="savetxt"):
        flavor.load(data)


def test_skops_bytes_are_deterministic_across_time_and_processes(models: dict, monkeypatch) -> None:
    """skops names arrays by id() and stamps zip entries with the time; both are normalised."""
    flavor = get_flavor("sklearn")
    model = models["sklearn-pipeline"]
    first = flavor.save(model)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # zipfile stamps with this
    assert sio.dumps(copy.deepcopy(model)) != sio.dumps(model)  # raw skops embeds id()s
    assert flavor.save(model) == first
    monkeypatch.undo()
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert sorted(zf.namelist())[:2] == ["1.npy", "2.npy"]
    script = (
        "import sys, numpy as np, pandas as pd, hashlib\n"
        "from sklearn.linear_model import LinearRegression\n"
        "from shoal.flavors import get_flavor\n"
        "X = pd.DataFrame(np.arange(12.0).reshape(4, 3) ** 2, columns=['a', 'b', 'c'])\n"
        "junk = [object() for _ in range(int(sys.argv[1]))]\n"
        "m = LinearRegression().fit(X, X.sum(axis=1))\n"
        "print(hashlib.sha256(get_flavor('sklearn').save(m)).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script, str(n)],
            env={**os.environ, "PYTHONHASHSEED": str(n)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for n in (1, 5000)
    }
    assert len(digests) == 1


def test_canonical_sorts_sets_and_keeps_sparse_matrices() -> None:
    import scipy.sparse as sp
    import skops.io as sio

    words = {f"w{i}" for i in range(40)}
    data = canonical(sio.dumps(words))
    assert data == canonical(sio.dumps(set(sorted(words, reverse=True))))
    assert sio.loads(data, trusted=[]) == words
    matrix = sp.random(6, 6, density=0.3, format="csr", random_state=0)
    packed = canonical(sio.dumps(matrix))
    loaded = get_flavor("sklearn").load(packed)  # scipy types are trusted by package
    assert (loaded != matrix).nnz == 0


def test_unknown_flavor_lists_known_names() -> None:
    with pytest.raises(NotFound, match="unknown flavor 'onnx'") as info:
        get_flavor("onnx")
    assert "linear, lightgbm, sklearn, pickle" in str(info.value)


def test_builtins_registered_in_inference_order() -> None:
    assert flavor_names()[:4] == ["linear", "lightgbm", "sklearn", "pickle"]
    for name in flavor_names()[:4]:
        assert isinstance(get_flavor(name).capabilities, Capabilities)


@pytest.mark.parametrize("name", ["linear", "lightgbm", "sklearn"])
@pytest.mark.parametrize("junk", [b"", b"PK\x03\x04garbage", b"tree\nnot a model", "text"])
def test_garbage_bytes_raise_invalid_input(name: str, junk) -> None:
    if name == "lightgbm" and lgb is None:
        pytest.skip("pip install 'shoal[lightgbm]'")
    with pytest.raises(InvalidInput):
        get_flavor(name).load(junk)


def test_garbage_pickle_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput) as info:
        get_flavor("pickle").load(b"\x80\x05garbage", allow_pickle=True)
    assert not isinstance(info.value, UnsafeArtifact)


@pytest.mark.usefixtures("isolated_registry")
def test_register_third_party_flavor(X: pd.DataFrame) -> None:
    register_flavor("constant", f"{__name__}:ConstantFlavor")
    register_flavor("constant", f"{__name__}:ConstantFlavor")  # same path: no-op
    with pytest.raises(InvalidInput, match="replace=True"):
        register_flavor("constant", "elsewhere:Other")
    flavor = get_flavor("constant")
    assert "constant" in flavor_names()
    check_flavor(flavor, 3.0, X)
    with pytest.raises(InvalidInput, match=r"package\.module:ClassName"):
        register_flavor("bad", "no_colon")
    register_flavor("ghost", "shoal_no_such_package.flavor:Ghost")
    with pytest.raises(MissingDependency, match="shoal_no_such_package"):
        get_flavor("ghost")
    with pytest.raises(InvalidInput, match="no safe flavor"):
        infer_flavor(object())  # reaches the broken plugin, and skips it


class ConstantFlavor(Flavor):
    """A minimal third-party flavor: a float that predicts itself."""

    name = "constant"
    capabilities = Capabilities(safe_format=True, suffix=".txt")

    def can_handle(self, model):
        return isinstance(model, float)

    def save(self, model):
        return repr(float(model)).encode()

    def load(self, data, *, trusted=(), allow_pickle=False):
        try:
            return float(data.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"not a constant: {exc}", field="data") from exc

    def predict(self, model, X):
        return np.full(len(X), model)

    def signature(self, model, sample=None):
        return None if sample is None else Signature.from_frame(sample, "float64")


def test_signature_round_trip_and_validation() -> None:
    sig = Signature([("x1", "float64"), ("store", "str"), ("c", "category")], output="float64")
    assert Signature.from_dict(sig.to_dict()) == sig
    good = pd.DataFrame(
        {"x1": [1, 2], "store": ["a", "b"], "c": pd.Categorical(["u", "v"])}
    )  # int64 where float64 is declared: both numbers, accepted
    sig.validate(good)
    with pytest.raises(InvalidInput, match=r"missing column.*'store'") as info:
        sig.validate(good.drop(columns=["store"]))
    assert info.value.field == "X.store"
    with pytest.raises(InvalidInput, match=r"unexpected column.*'extra'"):
        sig.validate(good.assign(extra=1))
    sig.validate(good.assign(extra=1), allow_extra=True)
    with pytest.raises(InvalidInput, match=r"'x1' has dtype str.*float64"):
        sig.validate(good.assign(x1=["a", "b"]))
    with pytest.raises(InvalidInput, match="DataFrame"):
        sig.validate(np.zeros((2, 3)))
    with pytest.raises(InvalidInput, match="inputs"):
        Signature.from_dict({"inputs": "x1"})
    with pytest.raises(InvalidInput, match="repeat"):
        Signature([("a", "float64"), ("a", "int64")])


def test_linear_format_is_tiny_canonical_json(X: pd.DataFrame) -> None:
    flavor = get_flavor("linear")
    model = LinearModel(0.1, {"x3": 3.0, "x1": 0.5, "x2": -1.125})
    data = flavor.save(model)
    assert data == b'{"coef":{"x1":0.5,"x2":-1.125,"x3":3.0},"intercept":0.1,"v":1}'
    assert flavor.save(model.to_dict()) == data
    expected = 0.1 + 0.5 * X["x1"] - 1.125 * X["x2"] + 3.0 * X["x3"]
    np.testing.assert_allclose(flavor.predict(flavor.load(data), X), expected)
    realistic = LinearModel(12.345678901234, {f"feature_{i}": 1 / 3 + i for i in range(3)})
    assert len(flavor.save(realistic)) < 200
    with pytest.raises(InvalidInput, match="finite"):
        LinearModel(float("nan"))
    with pytest.raises(InvalidInput, match=r"coef\.x1"):
        LinearModel(0.0, {"x1": "0.5"})
    with pytest.raises(InvalidInput, match="x2"):
        flavor.predict(model, X.drop(columns=["x2"]))


@needs_lightgbm
def test_lightgbm_classifier_predicts_probabilities(X: pd.DataFrame, y: pd.Series) -> None:
    flavor = get_flavor("lightgbm")
    clf = lgb.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1)
    clf.fit(X, (y > y.median()).astype(int))
    loaded = flavor.load(flavor.save(clf))
    assert isinstance(loaded, lgb.Booster)
    proba = flavor.predict(loaded, X)
    np.testing.assert_allclose(proba, clf.predict_proba(X)[:, 1])
    # Columns are matched by name, not position.
    np.testing.assert_allclose(flavor.predict(loaded, X[["x3", "x1", "x2"]]), proba)


@needs_lightgbm
def test_lightgbm_trained_on_an_array_matches_columns_by_position(
    X: pd.DataFrame, y: pd.Series
) -> None:
    model = lgb.LGBMRegressor(n_estimators=5, min_child_samples=5, verbose=-1)
    model.fit(X.to_numpy(), y.to_numpy())
    report = check_flavor(get_flavor("lightgbm"), model, X)
    assert report.signature is not None and report.signature.names == ["x1", "x2", "x3"]


@needs_lightgbm
def test_lightgbm_signature_marks_categorical_features(X: pd.DataFrame, y: pd.Series) -> None:
    frame = X.assign(kind=pd.Categorical(np.where(X["x1"] > 0, "hi", "lo")))
    model = lgb.LGBMRegressor(n_estimators=3, min_child_samples=5, verbose=-1).fit(frame, y)
    flavor = get_flavor("lightgbm")
    for m in (model, flavor.load(flavor.save(model))):
        assert dict(flavor.signature(m).inputs)["kind"] == "category"
    check_flavor(flavor, model, frame)


def test_lightgbm_missing_is_reported_with_install_hint(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    flavor = get_flavor("lightgbm")
    assert not flavor.can_handle(LinearModel(0.0))  # no import needed to say no
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[lightgbm\]'"):
        flavor.load(b"tree\n")


def test_sklearn_size_for_three_features(models: dict) -> None:
    data = get_flavor("sklearn").save(models["sklearn-linreg"])
    assert len(data) < 2_000, len(data)
    assert (
        hashlib.sha256(data).hexdigest()
        == hashlib.sha256(get_flavor("sklearn").save(models["sklearn-linreg"])).hexdigest()
    )


class _Stamped(ConstantFlavor):
    """Breaks determinism the way raw skops does: the bytes carry an accident of the save."""

    count = 0

    def save(self, model):
        type(self).count += 1
        return repr(float(model)).encode() + b" " * self.count

    def load(self, data, *, trusted=(), allow_pickle=False):
        return super().load(data.strip(), trusted=trusted, allow_pickle=allow_pickle)


class _Leaky(ConstantFlavor):
    """Lets a raw library exception escape from load."""

    def load(self, data, *, trusted=(), allow_pickle=False):
        return float(data.decode())


@pytest.mark.parametrize(
    ("flavor", "message"),
    [(_Stamped(), "identical bytes"), (_Leaky(), "wrap library errors")],
    ids=["nondeterministic", "leaky-errors"],
)
def test_check_flavor_catches_broken_flavors(flavor, message, X: pd.DataFrame) -> None:
    with pytest.raises(AssertionError, match=message):
        check_flavor(flavor, 3.0, X)


def test_sklearn_save_gives_the_bytes_of_the_public_skops_path() -> None:
    """The fast save (skops state, zipped once) equals canonical(skops.io.dumps(model))."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from shoal.flavors import get_flavor
    from shoal.flavors.sklearn import canonical

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    models = [
        LinearRegression().fit(X, X[:, 1]),
        LogisticRegression().fit(X, y),
        make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)).fit(
            X, y
        ),
        OneHotEncoder().fit([["a"], ["b"]]),
        TfidfVectorizer().fit(["apple banana cherry", "banana cherry date"]),
    ]
    # Attributes of the model's own that JSON changes on the way: keys that are not text
    # (two of which become one key), a set of dicts whose keys mix numbers and text.
    odd = LinearRegression().fit(X, X[:, 1])
    odd.extra_ = {1: "a", "1": "b", 2.5: [1, 2], "t": (3, 4)}
    odd.hashed_ = {_Hashable({1: "a", "b": 2}), _Hashable({"c": 3})}
    flavor = get_flavor("sklearn")
    for model in models:
        saved = flavor.save(model)
        assert saved == canonical(sio.dumps(model)), type(model).__name__
        assert type(flavor.load(saved)) is type(model)
    # (skops itself cannot load keys of mixed types back: only the bytes are compared)
    assert flavor.save(odd) == canonical(sio.dumps(odd))


class _Hashable:
    """A set member with a dict inside (skops saves its ``__dict__``)."""

    def __init__(self, data: dict) -> None:
        self.data = data

    def __hash__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Hashable) and self.data == other.data


def test_the_fast_zip_writer_gives_zipfiles_bytes() -> None:
    """Skops archives are zipped by hand for speed; the bytes must be zipfile's own."""
    import random

    from shoal.flavors._zip import _with_zipfile, write_zip

    rng = random.Random(0)
    for _ in range(200):
        entries = []
        for i in range(rng.randint(0, 6)):
            size = rng.choice([0, 1, 100, 511, 512, 513, 3000, 70_000])
            noise = rng.random() < 0.5
            payload = rng.randbytes(size) if noise else (b"abc" * size)[:size]
            entries.append((rng.choice([f"{i}.npy", f"{i}/é.npz", "x" * 300 + str(i)]), payload))
        data = write_zip(entries)
        assert data == _with_zipfile(entries)
    # Past 65,535 entries (a boosted ensemble of thousands of trees) zipfile adds ZIP64.
    many = [(f"{i}.npy", b"") for i in range(70_000)]
    assert write_zip(many) == _with_zipfile(many)
    with zipfile.ZipFile(io.BytesIO(write_zip(many))) as zf:
        assert len(zf.namelist()) == 70_000
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert zf.testzip() is None
            assert [(n, zf.read(n)) for n in zf.namelist()] == entries
