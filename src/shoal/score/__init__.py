"""Batch scoring: every row of a dataset scored by its key's version, logged for monitoring.

Users call :meth:`shoal.Fleet.predict` or ``shoal predict``; this package is what they run
on. It sits between the SDK and the training, monitoring and reporting packages: it reuses
training's key grouping and progress bars, and writes the prediction logs monitoring reads.

- :func:`score_fleet` and :class:`ScoreOptions`: the orchestration (``_runner``);
- :class:`BatchScores` and :class:`KeyProblem`: what a run gives back (``_result``);
- ``_input``: frames and Parquet (local or any fsspec URL) cut into parts;
- ``_part``: one part scored, written and logged; ``_ray``: parts as Ray tasks.
"""

from shoal.score._result import REASONS, BatchScores, KeyProblem, ScoreOptions
from shoal.score._runner import score_fleet

__all__ = ["REASONS", "BatchScores", "KeyProblem", "ScoreOptions", "score_fleet"]
