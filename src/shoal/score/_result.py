"""What a batch-scoring run is asked to do, and what it gives back."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shoal.errors import InvalidInput

MAX_PROBLEMS = 1000
"""Per-key problems kept in full on a result (all are counted)."""

NO_VERSION = "no version"
SIGNATURE = "signature"
NON_FINITE = "non-finite"
FAILED = "failed"
REASONS = (NO_VERSION, SIGNATURE, NON_FINITE, FAILED)
"""Why rows were not scored: a key without a version at the alias, rows that do not fit the
version's signature, rows with a missing or infinite feature, a model that failed on them."""


@dataclass(frozen=True)
class ScoreOptions:
    """How to score: which version, which key columns, what event time, where results go."""

    by: tuple[str, ...]
    alias: str | None = "production"
    version: int | None = None
    as_of: dt.datetime | None = None
    time_column: str | None = None
    out: str | None = None
    overwrite: bool = False
    logs: str | None = None
    """The logs URL to append the predictions to; None: not logged."""
    executor: str = "local"
    workers: int | None = None
    batch_rows: int = 1_000_000
    progress: bool = True
    actor: str | None = None

    def check(self, dims: tuple[str, ...], path: str) -> None:
        if self.executor not in ("local", "ray"):
            raise InvalidInput(
                f"executor must be 'local' or 'ray', got {self.executor!r}", field="executor"
            )
        workers = self.workers
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise InvalidInput(f"workers must be an int >= 1, got {workers!r}", field="workers")
        if (
            isinstance(self.batch_rows, bool)
            or not isinstance(self.batch_rows, int)
            or (self.batch_rows < 1)
        ):
            raise InvalidInput(
                f"batch_rows must be an int >= 1, got {self.batch_rows!r}", field="batch_rows"
            )
        if len(self.by) != len(dims):
            raise InvalidInput(
                f"by={list(self.by)} names {len(self.by)} column(s) but fleet '{path}' is keyed "
                f"by {list(dims)}: name one column per key, in that order",
                field="by",
            )
        if (self.alias is None) == (self.version is None):
            raise InvalidInput(
                "give either alias= (e.g. 'production') or version= (a version number), not "
                "both", field="alias",
            )  # fmt: skip
        if self.as_of is not None and self.time_column is not None:
            raise InvalidInput(
                "give either as_of= (one event time for every row) or time_column= (a column "
                "of event times), not both", field="as_of",
            )  # fmt: skip


@dataclass(frozen=True)
class KeyProblem:
    """Rows of one key that were not scored, and why (one of :data:`REASONS`)."""

    key: dict[str, str]
    reason: str
    rows: int
    detail: str = ""


@dataclass
class BatchScores:
    """What a scoring run did. ``frame`` holds the scored rows unless they went to ``out``."""

    run_id: int
    frame: Any = None
    """Input columns plus ``prediction``, ``version``, ``request_id``, ``row`` (and
    ``proba.<class>`` for classifiers): a pandas, polars or Arrow frame like the input
    (pandas for Parquet input); None when written to ``out``."""
    rows_in: int = 0
    rows_scored: int = 0
    keys_scored: int = 0
    versions_loaded: int = 0
    problems: list[KeyProblem] = field(default_factory=list)
    """Up to :data:`MAX_PROBLEMS` per-key problems; :attr:`problem_rows` counts them all."""
    problem_rows: Counter[str] = field(default_factory=Counter)
    """Rows not scored, by reason."""
    problem_keys: Counter[str] = field(default_factory=Counter)
    """Keys with rows not scored, by reason."""
    files: list[str] = field(default_factory=list)
    log_files: int = 0
    data_fingerprint: str = ""
    seconds: float = 0.0
    resumed_parts: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows_scored / self.seconds if self.seconds else 0.0

    def __repr__(self) -> str:
        skipped = sum(self.problem_rows.values())
        return (
            f"<BatchScores run {self.run_id}: {self.rows_scored:,} of {self.rows_in:,} rows "
            f"scored over {self.keys_scored:,} keys with {self.versions_loaded:,} versions; "
            f"{skipped:,} rows not scored; {self.seconds:.1f} s>"
        )

    def counts(self) -> dict[str, Any]:
        """The run record's counts (JSON)."""
        return {
            "rows": self.rows_in, "scored": self.rows_scored, "keys": self.keys_scored,
            "versions": self.versions_loaded,
            "not_scored": dict(self.problem_rows), "keys_not_scored": dict(self.problem_keys),
            "problems": [
                {"key": p.key, "reason": p.reason, "rows": p.rows, "detail": p.detail[:300]}
                for p in self.problems[:100]
            ],
            "files": len(self.files), "log_files": self.log_files,
            "data_fingerprint": self.data_fingerprint, "resumed_parts": self.resumed_parts,
            "seconds": round(self.seconds, 3),
        }  # fmt: skip
