"""Fleet training: one function, trained for every key of a fleet, with lineage and a run.

Users call :meth:`shoal.Fleet.train`; this package is what it runs on:

- :class:`TrainResult`: what a training function may return besides a bare model.
- :class:`Executor`: the seam for where work runs, :class:`InProcessExecutor` (the test
  double, ``workers=1``), ``"local"`` process pools, ``"ray"``; :func:`register_executor` adds a
  backend by name, :func:`get_executor` looks one up.
- :func:`train_fleet` and :class:`TrainOptions`: the orchestration (sources, batches,
  failures, resume, progress), below the SDK and above the registry.
- :func:`function_ref` and :func:`load_function`: training functions by name
  (``"package.module:function"``), recorded on runs so a resume can call them again.
- :func:`evaluate_fleet` and :class:`EvalOptions`: score each key's version at an alias
  on a holdout and record the figures as its ``eval_*`` metrics.
"""

from shoal.train._evaluate import EvalOptions, EvalOutcome, evaluate_fleet
from shoal.train._executors import (
    Executor,
    InProcessExecutor,
    ProcessExecutor,
    get_executor,
    register_executor,
)
from shoal.train._functions import function_ref, load_function
from shoal.train._result import TrainResult
from shoal.train._runner import TrainOptions, train_fleet

__all__ = [
    "EvalOptions",
    "EvalOutcome",
    "Executor",
    "InProcessExecutor",
    "ProcessExecutor",
    "TrainOptions",
    "TrainResult",
    "evaluate_fleet",
    "function_ref",
    "get_executor",
    "load_function",
    "register_executor",
    "train_fleet",
]
