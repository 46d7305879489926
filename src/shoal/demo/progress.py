"""How the demo reports: one-line notes from the builder, progress from the SDK.

Training and evaluation show their own progress (``fleet.train(progress=...)``: a bar
with an ETA on a terminal, a line at each tenth of the keys in a CI log or a pipe), so
the builder only says what each step did. The same code runs silently in tests and
benchmarks (:class:`Silent`) and speaks on stderr from the CLI (:class:`ConsoleReporter`).
"""

from __future__ import annotations

from typing import Protocol

from rich.console import Console


class Reporter(Protocol):
    """What the demo builder reports to."""

    progress: bool
    """Whether training and evaluation show their progress (passed to the SDK)."""

    def note(self, message: str) -> None:
        """One line about what just happened."""
        ...


class Silent:
    """Reports nothing: for tests, benchmarks and library callers."""

    progress = False

    def note(self, message: str) -> None:
        return None


class ConsoleReporter:
    """Notes on ``console``; the SDK's progress on stderr (a bar on a terminal, else lines)."""

    progress = True

    def __init__(self, console: Console) -> None:
        self.console = console

    def note(self, message: str) -> None:
        self.console.print(message, highlight=False)
