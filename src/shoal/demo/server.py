"""The demo's prediction server: ``shoal serve``'s app on uvicorn, in a thread of this process.

Why a thread and not a child process: the demo replays its week of traffic and then
flushes the server's logs (``app.state.logs``) before it prints where they are, which
needs the app object; and one process is what ``shoal serve`` runs too.

Why the demo binds the socket itself: ``--port 8000`` may be taken (a ``shoal serve``
already running, another program). Binding first tells at once, without a race, and
the demo falls back to a free port and says which; uvicorn then serves on that socket.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

import uvicorn

from shoal.errors import ShoalError

HOST = "127.0.0.1"
"""Loopback only, as ``shoal serve``: the API has no access tokens yet."""


def bind(port: int, host: str = HOST) -> socket.socket:
    """A listening socket on ``port``, or on a free port when that one is taken (or 0)."""
    for wanted in dict.fromkeys((port, 0)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As uvicorn binds: a port left in TIME_WAIT by the last run is free to take again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, wanted))
            sock.listen(2048)
        except OSError:
            sock.close()
            continue
        return sock
    raise ShoalError(f"no free port on {host}")  # binding port 0 does not fail in practice


class DemoServer:
    """uvicorn serving ``app`` on ``port`` (or a free one) until :meth:`stop`.

    Stopping is graceful: uvicorn finishes the requests in flight and runs the app's
    shutdown, which writes the prediction and feedback logs still waiting.
    """

    def __init__(self, app: Any, port: int = 8000, host: str = HOST) -> None:
        self.asked = port
        self.host = host
        self.socket = bind(port, host)
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.socket]},
            name="shoal-demo-server", daemon=True,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def moved(self) -> bool:
        """Whether the asked port was taken and the server took another."""
        return self.asked not in (0, self.port)

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; returns once the server accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ShoalError(f"the prediction server did not start on {self.url}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop gracefully (the app's shutdown writes its waiting logs) and wait for it."""
        self._server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(30)
        self.socket.close()

    def wait(self) -> None:
        """Serve until Ctrl-C (or SIGTERM), then stop gracefully."""
        restore = _interrupt_on_sigterm()
        try:
            # Sleep, not join: on Python 3.11 a Ctrl-C that interrupts Thread.join can mark
            # the thread stopped while it runs, and stop() would then not wait for the
            # shutdown that writes the logs.
            while self._thread.is_alive():
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            restore()
            self.stop()

    def __enter__(self) -> DemoServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
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
