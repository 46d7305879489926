"""Training functions by name: ``"package.module:function"`` in, the function out, and back.

Why names: a run records which function trained it, so that ``shoal run resume RUN`` (a
new process, maybe days later) can call it again without the user retyping it, and so
that ``shoal train FLEET DATA package.module:fit`` works from a shell. Only functions that
can be imported again have a name: a lambda, a closure, a ``functools.partial`` or
anything defined in ``__main__`` has none, and a resume must then be given ``fn``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from shoal.errors import InvalidInput


def function_ref(fn: Any) -> str | None:
    """``"module:qualname"`` when ``fn`` can be imported back by that name, else None."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if module == "__main__" or "<" in qualname:  # <lambda>, <locals>
        return None
    try:
        found = _resolve(module, qualname)
    except Exception:
        return None
    return f"{module}:{qualname}" if found is fn else None


def load_function(ref: str) -> Callable[[Any], Any]:
    """Import ``"package.module:function"`` (the current directory is importable too)."""
    module, sep, qualname = ref.partition(":")
    if not sep or not module or not qualname:
        raise InvalidInput(
            f"fn {ref!r} is not of the form 'package.module:function'; name the module "
            "and the function, e.g. 'forecasting.models:fit_one'",
            field="fn",
        )
    if os.getcwd() not in sys.path:  # what `python -m` would see
        sys.path.insert(0, os.getcwd())
    try:
        found = _resolve(module, qualname)
    except ImportError as exc:
        raise InvalidInput(
            f"fn {ref!r}: cannot import module {module!r} ({exc}); install the package or "
            "run from the folder that holds it",
            field="fn",
        ) from None
    except AttributeError:
        raise InvalidInput(
            f"fn {ref!r}: module {module!r} has no {qualname!r}", field="fn"
        ) from None
    if not callable(found):
        raise InvalidInput(f"fn {ref!r} is a {type(found).__name__}, not a function", field="fn")
    return found


def _resolve(module: str, qualname: str) -> Any:
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found
