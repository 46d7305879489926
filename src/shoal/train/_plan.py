"""How keys are batched into tasks: big enough to amortise shipping, small enough to balance.

Why batch at all: shipping one key to a worker costs a pickle, an IPC round trip and an
Arrow-to-pandas conversion, about as much as fitting a tiny model. A task of many keys pays
that once. Why not batch much: a task is the unit of balance, so a worker handed the last
large task while the others sit idle stretches the run; LightGBM on two years of daily rows
takes ~50 ms a key, and 200 of those in one task would idle a worker for 10 s.

So the size adapts to what a key costs. Tasks aim at ``target_seconds`` of work each, from
the running mean of finished keys (until the first results arrive, a task is one key), are
capped by rows (memory per task) and keys, and shrink near the end of a partition so the
last keys spread across the workers instead of queueing behind one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from shoal.data import KeyGroups
from shoal.train._work import KeyRows, Task


@dataclass
class ChunkPlan:
    """Sizes the next task from the mean seconds per key seen so far."""

    parallelism: int
    target_seconds: float = 0.25
    max_keys: int = 512
    max_rows: int = 250_000
    _seconds: float = field(default=0.0, repr=False)
    _keys: int = field(default=0, repr=False)

    def observe(self, seconds: float) -> None:
        """Record how long one finished key took."""
        self._seconds += seconds
        self._keys += 1

    def keys_per_task(self, remaining: int) -> int:
        """How many keys the next task takes, with ``remaining`` keys left in the partition."""
        if self._keys == 0:
            return 1
        mean = max(self._seconds / self._keys, 1e-6)
        wanted = round(self.target_seconds / mean)
        balanced = math.ceil(remaining / (2 * self.parallelism))
        return max(1, min(wanted, balanced, self.max_keys))

    def tasks(self, groups: KeyGroups, train: list[bool]) -> Iterator[Task]:
        """The tasks for one partition: runs of consecutive keys where ``train`` is true.

        A key not to train (skipped by a resume, or refused) ends the run before it, so a
        task never ships rows nobody trains on.
        """
        digests = groups.fingerprints
        i, n = 0, len(groups)
        left = sum(train)
        while i < n:
            if not train[i]:
                i += 1
                continue
            size = self.keys_per_task(left)
            first = groups.starts[i]
            keys: list[KeyRows] = []
            while i < n and train[i] and len(keys) < size:
                if keys and groups.stops[i] - first > self.max_rows:
                    break
                keys.append(
                    KeyRows(
                        groups.keys[i], groups.starts[i] - first, groups.stops[i] - first,
                        None if digests is None else digests[i],
                    )
                )  # fmt: skip
                i += 1
            left -= len(keys)
            yield Task(groups.table, first, keys[-1].stop, tuple(keys))
