"""What the registry benchmark measures, as plain dataclasses, and the targets it checks.

Kept apart from the code that measures and the code that prints, so that both sides
share one shape: ``Results`` is what ``results.json`` holds (via ``dataclasses.asdict``)
and what the report and the Markdown tables are made from. A run stopped by Ctrl-C still
has a ``Results`` to print, filled as far as it got.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from _timing import percentile

# The figures the report sets beside the measurements.
TARGET_REGISTER_1M_S = 120.0
TARGET_QUERY_P95_MS = 50.0


@dataclass
class RegisterResult:
    n: int
    batch_size: int
    stores: int
    skus: int
    seconds: float
    generate_seconds: float
    artifact_bytes_mean: float
    db_bytes: int
    artifact_store_bytes: int

    @property
    def per_second(self) -> float:
        return self.n / self.seconds

    @property
    def per_version_s(self) -> float:
        return self.seconds / self.n


@dataclass
class QueryResult:
    name: str
    call: str
    times_ms: list[float]
    extra: bool = False
    timeouts: int = 0
    skipped: str = ""
    plan: list[dict[str, Any]] = field(default_factory=list)

    def pct(self, q: float) -> float:
        return percentile(self.times_ms + [math.inf] * self.timeouts, q)

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p95(self) -> float:
        return self.pct(95)

    @property
    def max(self) -> float:
        return self.pct(100)

    @property
    def reps(self) -> int:
        return len(self.times_ms) + self.timeouts


@dataclass
class WalkResult:
    n: int
    page_size: int
    pages: int
    seen: int
    seconds: float
    page_ms: list[float]
    stopped: str = ""
    plan: list[dict[str, Any]] = field(default_factory=list)

    @property
    def estimated_seconds(self) -> float:
        """The whole walk's time; an extrapolation when the walk stopped at its budget."""
        return self.seconds if self.seen >= self.n else self.seconds * self.n / max(self.seen, 1)


@dataclass
class Results:
    started: str
    args: dict[str, Any]
    machine: dict[str, Any]
    register: list[RegisterResult] = field(default_factory=list)
    promote: dict[str, Any] | None = None
    query_n: int | None = None
    queries: list[QueryResult] = field(default_factory=list)
    walk: WalkResult | None = None
    mlflow: dict[str, Any] | None = None
    mlflow_error: str | None = None
    wall_seconds: float = 0.0
    interrupted: bool = False
