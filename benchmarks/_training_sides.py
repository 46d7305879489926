"""The timed sides of the training benchmark: bare loops, ``fleet.train``, Ray, MLflow.

Every function here times one thing and returns a :class:`Step`. What is inside each
timer:

- the bare joblib loop: splitting the frame by key (pandas ``groupby``), then
  ``joblib.Parallel(n_jobs=W)`` over the keys, each fitting and ``joblib.dump``-ing its
  model to a folder; no tracking;
- the bare stress loops: the fits alone over frames split beforehand (the split is its
  own step), then the same with ``skops.io.dump`` of each model;
- Shoal: the ``fleet.train`` call and nothing else (the fleet and its store are created
  first), with its default progress display. Inside it: grouping and fingerprinting,
  registering the dataset, the fits, safe serialisation, signature, baseline profile and
  registration in batches.

Warm-ups, outside the timers: LightGBM is imported in this process, joblib's loky workers
are started and have trained a few keys, and so has Shoal's pool (which starts its fork
server, preloaded with the training function's module, once a process); the stress side
of Shoal trains a few keys into a throwaway store first, as the MLflow side logs one
model first. Each measurement gets a fresh store or folder
under the work folder, removed afterwards (Shoal's stores are kept with ``--keep``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import _harness as h
from _fleet import open_store
from _harness import bar, console, fresh
from _workloads import KEYS, fit_and_dump, split


@dataclass
class Step:
    """One measurement, by a fixed id (``bare_lgbm``, ``shoal_tiny``, ``ray_2``...) so the
    report finds the pairs it divides; one that could not run says why in ``skipped``."""

    id: str
    part: str  # "realistic", "stress" or "ray"
    label: str
    models: int
    workers: int
    seconds: float | None = None
    skipped: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ran(self) -> bool:
        return self.seconds is not None and not self.skipped

    @property
    def per_model_ms(self) -> float:
        return 1000 * self.seconds / self.models if self.ran and self.models else float("nan")


class StepFailed(Exception):
    """A side did not do what it was asked (a key failed, a file is missing)."""


def guarded(
    run: h.Run, step: Step, measure: Callable[..., None], *args: Any, **kwargs: Any
) -> Step:
    """``measure(step, *args, **kwargs)``, which fills ``step``; a failure is recorded in
    the row and in ``run.errors``, not raised. Returns ``step``, with the CPUs other
    processes used meanwhile."""
    try:
        with h.CpuWatch() as watch:
            measure(step, *args, **kwargs)
        step.detail["others_cpus"] = watch.others_cpus
    except Exception as exc:
        step.seconds = None
        step.skipped = "failed: " + run.error(step.label, exc)[:300]
    return step


# -- bare loops ----------------------------------------------------------------------------


def bare_parallel(
    step: Step, frame: pd.DataFrame, fn: Callable[[Any], Any], workers: int, out: Path
) -> None:
    """Split by key, then ``joblib.Parallel`` fits and ``joblib.dump``s every key's model."""
    from joblib import Parallel, delayed

    fresh(out)
    with bar(f"{step.label}: {step.models:,} keys", step.models) as advance:
        t0 = time.perf_counter()
        parts = split(frame)
        jobs = (delayed(fit_and_dump)(fn, part, str(out / f"{i}.joblib"))
                for i, (_, part) in enumerate(parts))  # fmt: skip
        done = 0
        for _ in Parallel(n_jobs=workers, return_as="generator_unordered")(jobs):
            done += 1
            advance(1)
        step.seconds = time.perf_counter() - t0
    files = sum(1 for _ in out.iterdir())
    if done != step.models or files != step.models:
        raise StepFailed(f"{done} fits, {files} files for {step.models} keys")
    step.detail["saved_bytes"] = sum(p.stat().st_size for p in out.iterdir())
    shutil.rmtree(out, ignore_errors=True)  # the bare side's models are only counted


def warm_loky(frame: pd.DataFrame, fn: Callable[[Any], Any], workers: int, out: Path) -> None:
    """Start joblib's loky workers and train a few keys in each, outside any timer."""
    from joblib import Parallel, delayed

    fresh(out)
    parts = split(frame)[: 2 * workers]
    Parallel(n_jobs=workers)(delayed(fit_and_dump)(fn, part, str(out / f"{i}.joblib"))
                             for i, (_, part) in enumerate(parts))  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)


def bare_split(step: Step, frame: pd.DataFrame) -> list[tuple[Any, pd.DataFrame]]:
    t0 = time.perf_counter()
    parts = split(frame)
    step.seconds = time.perf_counter() - t0
    if len(parts) != step.models:
        raise StepFailed(f"{len(parts)} keys after the split, expected {step.models}")
    return parts


def bare_loop(
    step: Step, parts: list[tuple[Any, pd.DataFrame]], fn: Callable[[Any], Any],
    out: Path | None = None,
) -> None:  # fmt: skip
    """Fit every key in this process; with ``out``, ``skops.io.dump`` each model there."""
    import skops.io as sio

    if out is not None:
        fresh(out)
    every = max(1, len(parts) // 100)
    with bar(f"{step.label}: {step.models:,} keys", step.models) as advance:
        t0 = time.perf_counter()
        for i, (_, part) in enumerate(parts):
            result = fn(part)
            if out is not None:
                sio.dump(result["model"], out / f"{i}.skops")
            if i % every == every - 1:
                advance(every)
        step.seconds = time.perf_counter() - t0
    if out is not None:
        files = sum(1 for _ in out.iterdir())
        if files != step.models:
            raise StepFailed(f"{files} files for {step.models} keys")
        step.detail["saved_bytes"] = sum(p.stat().st_size for p in out.iterdir())
        shutil.rmtree(out, ignore_errors=True)


# -- Shoal ---------------------------------------------------------------------------------


def shoal_train(
    step: Step, frame: pd.DataFrame, fn: Callable[[Any], Any], root: Path,
    executor: str = "local", keep: bool = False,
) -> None:  # fmt: skip
    """Time ``fleet.train(frame, fn, executor=..., workers=...)`` on a fresh SQLite store."""
    client = open_store(fresh(root))
    try:
        fleet = client.fleet("bench/train", keys=list(KEYS))
        console.print(f"[bold]{step.label}[/]: {step.models:,} keys", highlight=False)
        t0 = time.perf_counter()
        run = fleet.train(frame, fn, executor=executor, workers=step.workers)
        step.seconds = time.perf_counter() - t0
        if run.status != "succeeded" or run.done != step.models:
            first = run.errors[0].error if run.errors else run.error
            raise StepFailed(f"run {run.id} {run.status}: {run.done} of {step.models} done, "
                             f"{run.failed} failed; first error: {first}")  # fmt: skip
        step.detail.update(
            run_seconds=run.seconds, key_seconds_p50=run.key_seconds_p50,
            db_bytes=sum(p.stat().st_size for p in root.glob("shoal.db*")),
            artifact_bytes=sum(p.stat().st_size for p in root.rglob("*")
                               if p.is_file() and "artifacts" in p.parts),
        )  # fmt: skip
    finally:
        client.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def warm_shoal(
    frame: pd.DataFrame, fn: Callable[[Any], Any], keys: int, root: Path, workers: int = 1
) -> None:
    """Train a few keys into a throwaway store (imports, first queries); with ``workers``
    > 1 this also starts the fork server Shoal's workers start from, once a process, as
    joblib's workers are started before the bare side is timed."""
    client = open_store(fresh(root))
    try:
        subset = frame[frame["store"] == frame["store"].iloc[0]]
        subset = subset[subset["sku"].isin(subset["sku"].unique()[:keys])]
        client.fleet("bench/warmup", keys=list(KEYS)).train(subset, fn, workers=workers,
                                                             progress=False)  # fmt: skip
    finally:
        client.close()
        shutil.rmtree(root, ignore_errors=True)


# -- Ray -----------------------------------------------------------------------------------


def ray_unavailable(workers: int) -> str | None:
    """Why Shoal's Ray executor cannot run here, or None when it can."""
    try:
        import ray  # noqa: F401
    except Exception as exc:
        return f"ray does not import: {type(exc).__name__}: {exc}"
    from shoal.errors import ShoalError
    from shoal.train import get_executor

    try:
        executor = get_executor("ray", workers)
    except ShoalError as exc:
        return str(exc).split(": it arrives")[0]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    executor.close()
    return None


@contextlib.contextmanager
def ray_cluster(cpus: int) -> Iterator[float]:
    """A local Ray with ``cpus`` CPUs, no dashboard, no usage stats; yields its start time.

    Ray's workers find ``_workloads`` (this folder) through PYTHONPATH, set for the Ray
    processes only.
    """
    import logging

    import ray

    if ray.is_initialized():
        yield 0.0
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(h.HERE), before) if p)
    try:
        t0 = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, configure_logging=True)  # fmt: skip
        started = time.perf_counter() - t0
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
    try:
        yield started
    finally:
        ray.shutdown()


def profile_train(
    frame: pd.DataFrame, fn: Callable[[Any], Any], root: Path, models: int, out: Path
) -> list[dict[str, Any]]:
    """``fleet.train(workers=1)`` under cProfile (not timed): where Shoal's time goes.

    Saves the stats to ``out`` (for ``python -m pstats``) and returns the functions that
    cost the most per model (:func:`_harness.top_functions`).
    """
    import cProfile
    import pstats

    client = open_store(fresh(root))
    try:
        fleet = client.fleet("bench/profile", keys=list(KEYS))
        profiler = cProfile.Profile()
        with console.status(f"profiling fleet.train on {models:,} keys"):
            profiler.enable()
            fleet.train(frame, fn, workers=1, progress=False)
            profiler.disable()
    finally:
        client.close()
        shutil.rmtree(root, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(out)
    return h.top_functions(
        pstats.Stats(profiler),
        models,
        ours=lambda file, name: "/shoal/" in file or name == fn.__name__,
    )
