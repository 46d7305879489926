"""uvicorn in a thread of this process: the demo's server, and the tests' and benchmarks'.

Why a thread and not a child process: the caller keeps the app object (the demo flushes
the prediction server's logs, ``app.state.logs``, before it says where they are; a test
reads what the app recorded), and one process is what ``shoal serve`` runs too.

Why the socket is bound here, not by uvicorn: a taken port is then known at once,
without a race, and :func:`bind` can fall back to a free port and say so (``moved``).
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

from shoal.errors import ShoalError

LOOPBACK = "127.0.0.1"
"""Where servers bind unless told otherwise: reachable from this machine only."""


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free on ``host`` a moment ago (the OS picks it; it may be taken
    again before it is used, so bind with :func:`bind` where that matters)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def bind(port: int, host: str = LOOPBACK, *, fallback: bool = True) -> socket.socket:
    """A listening socket on ``port`` (0: a free one); with ``fallback``, on a free port
    when ``port`` is taken. Without it a taken port is a :class:`ShoalError` naming it."""
    wanted = dict.fromkeys((port, 0)) if fallback else (port,)
    for candidate in wanted:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As uvicorn binds: a port left in TIME_WAIT by the last run is free to take again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
            sock.listen(2048)
        except OSError:
            sock.close()
            continue
        return sock
    raise ShoalError(f"port {port} on {host} is taken: choose another with --port")


class ThreadedServer:
    """uvicorn serving ``app`` on ``host`` and ``port`` (0: a free one; taken: a free one
    with ``fallback``, else a :class:`ShoalError`), in a thread.

    :meth:`start` returns once the server accepts connections; :meth:`stop` is graceful
    (uvicorn finishes the requests in flight and runs the app's shutdown, which writes the
    prediction server's waiting logs) and waits for the thread. As a context manager it
    starts on entry and stops on exit::

        with ThreadedServer(create_app(client)) as server:
            httpx.get(server.url + "/healthz")
    """

    def __init__(
        self,
        app: Any,
        port: int = 0,
        host: str = LOOPBACK,
        *,
        log_level: str = "warning",
        name: str = "uvicorn",
        fallback: bool = True,
    ) -> None:
        import uvicorn

        self.asked = port
        self.host = host
        self.socket = bind(port, host, fallback=fallback)
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(app, host=host, port=self.port, log_level=log_level)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.socket]}, name=name, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def moved(self) -> bool:
        """Whether the asked port was taken and the server took another."""
        return self.asked not in (0, self.port)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> Self:
        """Start serving; returns once the server accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ShoalError(f"the server did not start on {self.url} in {timeout:g} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully and wait for the thread (at most ``timeout`` seconds)."""
        self._server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(timeout)
        self.socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
