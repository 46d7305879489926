"""The demo's prediction server: ``shoal serve``'s app on uvicorn, in a thread of this process.

It is :class:`shoal.http.server.ThreadedServer` (why a thread, why the socket is bound
first: see there) with port 8000 asked for, a free one taken when that is busy, and a
:meth:`~DemoServer.wait` that serves until Ctrl-C or SIGTERM and then stops gracefully,
so the logs still waiting are written.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from shoal.http.server import LOOPBACK, ThreadedServer

HOST = LOOPBACK
"""Loopback only: the demo serves with auth off, as ``shoal serve --no-auth`` may only there."""


class DemoServer(ThreadedServer):
    """uvicorn serving ``app`` on ``port`` (or a free one when it is taken) until :meth:`stop`."""

    def __init__(self, app: Any, port: int = 8000, host: str = HOST) -> None:
        super().__init__(app, port, host, name="shoal-demo-server")

    def wait(self) -> None:
        """Serve until Ctrl-C (or SIGTERM), then stop gracefully."""
        restore = _interrupt_on_sigterm()
        try:
            # Sleep, not join: on Python 3.11 a Ctrl-C that interrupts Thread.join can mark
            # the thread stopped while it runs, and stop() would then not wait for the
            # shutdown that writes the logs.
            while self.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            restore()
            self.stop()


def _interrupt_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM stop the server as Ctrl-C does (so its logs are written); returns the undo.

    Only the main thread may set signal handlers; elsewhere SIGTERM keeps its meaning.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)

    return restore
