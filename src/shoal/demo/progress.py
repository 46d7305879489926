"""How the demo reports progress: a rich bar on a terminal, plain lines anywhere else.

The builder only calls :meth:`Reporter.task` and :meth:`Reporter.note`, so the same code
runs silently in tests (:class:`Silent`), with a live bar in a terminal, and with one
line per quarter in a CI log or a pipe, where a redrawn bar would be noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Advance = Callable[[int], None]


class Reporter(Protocol):
    """What the demo builder reports to: counted tasks and one-line notes."""

    def task(self, description: str, total: int) -> AbstractContextManager[Advance]:
        """A task of ``total`` steps; the context yields ``advance(n)``."""
        ...

    def note(self, message: str) -> None:
        """One line about what just happened."""
        ...


class Silent:
    """Reports nothing: for tests, benchmarks and library callers."""

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        yield lambda n: None

    def note(self, message: str) -> None:
        return None


class ConsoleReporter:
    """A live bar when ``console`` is a terminal, else a line at each quarter and at the end."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def task(self, description: str, total: int) -> AbstractContextManager[Advance]:
        if self.console.is_terminal:
            return self._bar(description, total)
        return self._lines(description, total)

    def note(self, message: str) -> None:
        self.console.print(message, highlight=False)

    @contextmanager
    def _bar(self, description: str, total: int) -> Iterator[Advance]:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n: progress.advance(task, n)

    @contextmanager
    def _lines(self, description: str, total: int) -> Iterator[Advance]:
        done = 0
        marks = [total * q // 4 for q in (1, 2, 3)]
        started = time.perf_counter()

        def advance(n: int) -> None:
            nonlocal done
            before, done = done, done + n
            if done < total and any(before < mark <= done for mark in marks):
                self.console.print(f"{description}: {done}/{total}", highlight=False)

        yield advance
        elapsed = time.perf_counter() - started
        self.console.print(
            f"{description}: {done}/{total} done in {elapsed:.1f} s", highlight=False
        )
