"""Training functions by name: ``"package.module:function"`` in, the function out, and back.

Why names: a run records which function trained it, so that ``shoal run resume RUN`` (a
new process, maybe days later) can call it again without the user retyping it, and so
that ``shoal train FLEET DATA package.module:fit`` works from a shell. Only functions that
can be imported again have a name: a lambda, a closure, a ``functools.partial`` or
anything defined in ``__main__`` has none, and a resume must then be given ``fn``.

Functions also travel to other processes (:func:`ship`), the way joblib and Ray send
them: pickled once by cloudpickle in the driver, by reference when they can be imported
by name, by value otherwise (a lambda, a closure, a function of a notebook or a script's
``__main__``), and loaded once per worker process.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cloudpickle

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
    function: Callable[[Any], Any] = found
    return function


def _resolve(module: str, qualname: str) -> Any:
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


@dataclass(frozen=True)
class Shipped:
    """A callable pickled once by cloudpickle, sent as bytes, loaded once per process.

    Pickled (with every task sent to a worker) it is its bytes: copying them costs
    nothing next to a task, while loading them may (a closure over a large object, or the
    modules a function imports). A worker loads each callable once and keeps it by digest,
    so a run of 10,000 tasks unpickles its function once in every worker process.
    """

    payload: bytes
    digest: str

    def __call__(self, arg: Any) -> Any:
        return self.load()(arg)

    def load(self) -> Callable[[Any], Any]:
        """The callable, unpickled on this process's first call and kept by digest."""
        found: Callable[[Any], Any] | None = _LOADED.get(self.digest)
        if found is not None:
            _LOADED.move_to_end(self.digest)
            return found
        try:
            found = cloudpickle.loads(self.payload)
        except Exception as exc:
            raise InvalidInput(
                f"fn could not be loaded in a worker process ({type(exc).__name__}: {exc}): "
                "a function sent by name (one of an importable module) must be importable "
                "there too; install its package, or train in this process "
                "(executor='local', workers=1)",
                field="fn",
            ) from exc
        _LOADED[self.digest] = found
        while len(_LOADED) > _KEEP:
            _LOADED.popitem(last=False)
        return found


class Shipper:
    """:func:`ship`, keeping the last result: an executor's ``check`` ships the work to
    refuse what cannot go, and its ``map_unordered`` sends the same bytes."""

    def __init__(self) -> None:
        self._last: tuple[Callable[[Any], Any], Shipped] | None = None

    def __call__(self, work: Callable[[Any], Any]) -> Shipped:
        if self._last is None or self._last[0] is not work:
            self._last = (work, ship(work))
        return self._last[1]

    @property
    def work(self) -> Callable[[Any], Any] | None:
        return self._last[0] if self._last else None

    def clear(self) -> None:
        self._last = None


def check_not_bootstrapping() -> None:
    """InvalidInput when this process is a worker (or the fork server) importing the main
    script: the script trains at its top level, not under ``if __name__ == "__main__":``."""
    import multiprocessing

    # Set by multiprocessing while a child (or the fork server's preload) imports __main__.
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise InvalidInput(
            "fn: training with workers > 1 started while a worker process was importing "
            "the main script: put the training under 'if __name__ == \"__main__\":' (worker "
            "processes import the script), or train in this process (workers=1)",
            field="fn",
        )


_LOADED: OrderedDict[str, Callable[[Any], Any]] = OrderedDict()
"""The callables this process has loaded, by digest, most recent last."""
_KEEP = 8
"""How many to keep: a long-lived worker (Ray's) may serve many runs."""


def ship(work: Callable[[Any], Any]) -> Shipped:
    """``work`` pickled for other processes, or :class:`InvalidInput` naming ``fn``.

    ``work`` is a :class:`~shoal.train._work.Work` (or any callable); what cannot be
    pickled is nearly always its ``fn``, so the error names that and says what to change.
    Refused too, before any run is opened: training with workers from a script's top
    level while that script is being imported by a worker (``spawn``) or by the fork
    server (``forkserver``), which would otherwise open a run of its own there.
    """
    check_not_bootstrapping()
    try:
        payload = cloudpickle.dumps(work)
    except Exception as exc:
        fn = getattr(work, "fn", work)
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
        raise InvalidInput(
            f"fn {name!r} cannot be sent to worker processes ({type(exc).__name__}: {exc}): "
            "it holds something that cannot be pickled (a lock, an open file, a connection, "
            "a client...). Create that inside fn, or in a module fn imports, rather than "
            "closing over it; or train in this process (executor='local', workers=1)",
            field="fn",
        ) from None
    return Shipped(payload, hashlib.sha256(payload).hexdigest())
