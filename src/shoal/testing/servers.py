"""Servers on the loopback interface for tests and benchmarks: a free port, uvicorn in a thread.

``free_port()`` asks the OS for a port that is free on 127.0.0.1 (it may be taken again
before it is used: good enough for tests, which is all this is for). ``ThreadServer``
serves an ASGI app with uvicorn in a daemon thread of this process::

    with ThreadServer(create_app(client)) as server:
        httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ThreadServer:
    """uvicorn serving ``app`` on ``host`` and ``port`` (a free one by default), in a thread.

    :meth:`start` returns once the server accepts connections; :meth:`stop` asks uvicorn
    to exit (it finishes the requests in flight and runs the app's shutdown) and waits
    for the thread. As a context manager it starts on entry and stops on exit.
    """

    def __init__(
        self, app: Any, host: str = LOOPBACK, port: int = 0, log_level: str = "warning"
    ) -> None:
        import uvicorn

        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level=log_level)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start on {self.url} in {timeout:g} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def __enter__(self) -> ThreadServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
