"""Flavors by name, imported on first use.

Built-ins register through :func:`register_flavor` exactly as a third-party package would,
so the registry has no special path for them and a plugin can be tested the same way.
Registration stores only a dotted path: naming ``"lightgbm"`` costs nothing until a
LightGBM model is saved or loaded.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from shoal.errors import InvalidInput, MissingDependency, NotFound
from shoal.flavors._base import Flavor

BUILTIN_FLAVORS: tuple[tuple[str, str], ...] = (
    ("linear", "shoal.flavors.linear:LinearFlavor"),
    ("lightgbm", "shoal.flavors.lightgbm:LightGBMFlavor"),
    ("sklearn", "shoal.flavors.sklearn:SklearnFlavor"),
    ("pickle", "shoal.flavors.pickle:PickleFlavor"),
)
"""Order matters for :func:`infer_flavor`: LightGBM's wrappers are also sklearn estimators."""

_paths: dict[str, str] = {}
_loaded: dict[str, Flavor] = {}
_lock = threading.Lock()


def register_flavor(name: str, target: str, *, replace: bool = False) -> None:
    """Register ``target`` (``"package.module:Class"``) as flavor ``name``, imported lazily.

    Registering the same path again is a no-op; a different path for a taken name needs
    ``replace=True`` so a plugin cannot silently shadow a built-in.
    """
    if not name or not isinstance(name, str):
        raise InvalidInput("flavor name must be a non-empty string", field="name")
    module, sep, attr = target.partition(":")
    if not (module and sep and attr):
        raise InvalidInput(
            f"flavor target must look like 'package.module:ClassName', got {target!r}",
            field="target",
        )
    with _lock:
        current = _paths.get(name)
        if current is not None and current != target and not replace:
            raise InvalidInput(
                f"flavor {name!r} is already registered as {current!r}; "
                "pass replace=True to override it",
                field="name",
            )
        _paths[name] = target
        _loaded.pop(name, None)


def flavor_names() -> list[str]:
    """Registered flavor names, in registration order (built-ins first)."""
    return list(_paths)


def get_flavor(name: str) -> Flavor:
    """The flavor registered as ``name``; NotFound lists the known names."""
    flavor = _loaded.get(name)
    if flavor is not None:
        return flavor
    target = _paths.get(name)
    if target is None:
        raise NotFound(f"unknown flavor {name!r}; known flavors: {', '.join(flavor_names())}")
    flavor = _instantiate(name, _import(name, target))
    with _lock:
        return _loaded.setdefault(name, flavor)


def infer_flavor(model: Any) -> Flavor:
    """The first safe registered flavor whose ``can_handle`` accepts ``model``.

    Unsafe flavors (pickle) are never inferred: choosing one must be a visible decision.
    """
    for name in flavor_names():
        try:
            flavor = get_flavor(name)
        except MissingDependency:
            continue
        if flavor.capabilities.safe_format and flavor.can_handle(model):
            return flavor
    safe = [n for n in flavor_names() if n in _loaded and _loaded[n].capabilities.safe_format]
    raise InvalidInput(
        f"no safe flavor can save a {type(model).__module__}.{type(model).__qualname__} "
        f"(safe flavors: {', '.join(safe)}); convert it to one of those, or pass "
        "flavor='pickle' on a fleet created with allow_pickle=True",
        field="model",
    )


def _import(name: str, target: str) -> object:
    """The object ``target`` names, not yet checked to be a Flavor class."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise MissingDependency(
            f"flavor {name!r} needs module {exc.name!r}, which is not installed "
            f"(registered as {target!r}); install the package that provides it"
        ) from exc
    try:
        cls: object = getattr(module, attr)
    except AttributeError as exc:
        raise NotFound(f"flavor {name!r}: {module_name!r} has no attribute {attr!r}") from exc
    return cls


def _instantiate(name: str, cls: object) -> Flavor:
    if not (isinstance(cls, type) and issubclass(cls, Flavor)):
        raise InvalidInput(f"flavor {name!r} must be a Flavor subclass, got {cls!r}", field=name)
    flavor = cls()
    if flavor.name != name:
        raise InvalidInput(
            f"flavor registered as {name!r} calls itself {flavor.name!r}; "
            "register it under its own name",
            field="name",
        )
    return flavor


for _name, _target in BUILTIN_FLAVORS:
    register_flavor(_name, _target)
