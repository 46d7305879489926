"""What the training benchmark measures, as plain dataclasses, and the targets it checks.

Every measurement is a :class:`Step`, named by a fixed id (``bare_lgbm``, ``shoal_tiny``,
``ray_2``...), so the report can find the pairs it divides; a step that could not run
keeps its place with the reason in ``skipped``; a step measured more than once
(``--repeat``) keeps its fastest run. ``TrainingResults`` is what
``results.json`` holds (via ``dataclasses.asdict``); a run stopped by Ctrl-C still has
one, filled as far as it got.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The figures the report sets beside the measurements (from the issue).
TARGET_REALISTIC_RATIO = 1.10  # Shoal's time over the bare joblib loop's, at most
TARGET_ADDED_MS = 1.0  # Shoal's added time per tiny model over the bare fit, under
TARGET_MLFLOW_RATIO = 20.0  # MLflow's time per tiny model over Shoal's, at least


@dataclass
class Step:
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


@dataclass
class TrainingResults:
    started: str
    args: dict[str, Any]
    machine: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    mlflow: dict[str, Any] | None = None
    profile: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    interrupted: bool = False

    def record(self, trial: Step) -> None:
        """Add one measurement. With ``--repeat``, a step keeps its fastest run; every run's
        seconds (None for a failed one) and the CPUs other processes used meanwhile stay
        in ``detail["runs"]`` as ``[seconds, others_cpus]``, in the order measured."""
        runs = [[trial.seconds if trial.ran else None, trial.detail.get("others_cpus")]]
        for i, known in enumerate(self.steps):
            if known.id == trial.id:
                runs = known.detail.get("runs", []) + runs
                if not known.ran or (trial.ran and trial.seconds < known.seconds):
                    self.steps[i] = trial
                self.steps[i].detail["runs"] = runs
                return
        trial.detail["runs"] = runs
        self.steps.append(trial)

    def get(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id and s.ran), None)
