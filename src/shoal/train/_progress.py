"""Training progress: a rich bar with an ETA on a terminal, plain lines anywhere else.

A redrawn bar in a CI log or a pipe is noise, so off a terminal the same calls print one
line at every tenth of the keys and one at the end.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Reporter:
    """Silent: the base class, and what ``progress=False`` gets."""

    def start(self, description: str, total: int, unit: str = "keys") -> None:
        return None

    def advance(self, done: int, failed: int) -> None:
        """``done`` more keys finished, ``failed`` of them with an error."""
        return None

    def stop(self) -> None:
        return None


class Bar(Reporter):
    """A live bar with keys done of total, failures, elapsed time and ETA."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), console=console,
        )  # fmt: skip
        self.task: TaskID | None = None
        self.failed = 0

    def start(self, description: str, total: int, unit: str = "keys") -> None:
        self.progress.start()
        self.task = self.progress.add_task(description, total=total, failed=0)

    def advance(self, done: int, failed: int) -> None:
        self.failed += failed
        if self.task is not None:
            self.progress.update(self.task, advance=done, failed=self.failed)

    def stop(self) -> None:
        self.progress.stop()


class Lines(Reporter):
    """A line at each tenth of the keys, and one at the end with the time taken."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.description = ""
        self.total = self.done = self.failed = 0
        self.unit = "keys"
        self.started = time.perf_counter()

    def start(self, description: str, total: int, unit: str = "keys") -> None:
        self.description, self.total, self.unit = description, total, unit
        self.started = time.perf_counter()

    def advance(self, done: int, failed: int) -> None:
        before = self.done
        self.done += done
        self.failed += failed
        marks = [self.total * q // 10 for q in range(1, 10)]
        if self.done < self.total and any(before < m <= self.done for m in marks):
            elapsed = time.perf_counter() - self.started
            eta = elapsed / self.done * (self.total - self.done)
            self._say(
                f"{self.done}/{self.total} {self.unit}, {self.failed} failed, eta {eta:.0f} s"
            )

    def stop(self) -> None:
        elapsed = time.perf_counter() - self.started
        self._say(f"{self.done}/{self.total} {self.unit}, {self.failed} failed, {elapsed:.1f} s")

    def _say(self, text: str) -> None:
        self.console.print(f"{self.description}: {text}", highlight=False)


def reporter(enabled: bool) -> Reporter:
    """A bar on a terminal (stderr), lines elsewhere, nothing when disabled."""
    if not enabled:
        return Reporter()
    console = Console(stderr=True)
    return Bar(console) if console.is_terminal else Lines(console)
