"""Named points where the fault suite kills this process, to prove what a crash leaves.

``SHOAL_FAULT=register.before_commit`` makes the process SIGKILL itself the first time it
reaches that point; ``SHOAL_FAULT=train.batch_registered@3`` the third time. Nothing is
flushed, no ``finally`` runs, no lock is released politely: exactly a ``kill -9`` at that
line. Unset (always, outside the fault suite), a point costs one dictionary lookup, and
points sit at most once per batch or transaction, never per row.

The points, in the order a write passes them:

    register.artifacts_written   packs and objects are stored, the metadata is not
    register.before_commit       the versions are inserted, the transaction not committed
    train.batch_registered       a training batch is committed, the run's progress is not
    promote.before_commit        an alias move is written, not committed
    evaluate.before_commit       evaluation results are written, not committed
    monitor.before_commit        a monitoring window's results are written, not committed
    monitor.results_stored       a window is committed, the monitoring run not finished
    score.part_logged            a scored part's logs are written, its output and record not
    score.part_written           a scored part's output, logs and record are written

``docs/reliability.md`` lists what the suite checks after each.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

FAULT_ENV = "SHOAL_FAULT"

POINTS = (
    "register.artifacts_written",
    "register.before_commit",
    "train.batch_registered",
    "promote.before_commit",
    "evaluate.before_commit",
    "monitor.before_commit",
    "monitor.results_stored",
    "score.part_logged",
    "score.part_written",
)

_reached: Counter[str] = Counter()


def point(name: str) -> None:
    """SIGKILL this process here if ``SHOAL_FAULT`` names this point (and this pass)."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    target, _, nth = wanted.partition("@")
    if target != name:
        return
    _reached[name] += 1
    if _reached[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
