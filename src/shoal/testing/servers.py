"""Servers on the loopback interface for tests and benchmarks: a free port, uvicorn in a thread.

``free_port()`` asks the OS for a port that is free on 127.0.0.1 (it may be taken again
before it is used: good enough for tests). ``ThreadServer`` serves an ASGI app with
uvicorn in a daemon thread of this process, on a free port unless told one::

    with ThreadServer(create_app(client, auth=Auth.off())) as server:
        httpx.get(server.url + "/healthz")

Both stand on :mod:`shoal.http.server`, which the demo's server runs on too; a port a
test names and finds taken is an error here, never silently another port.
"""

from __future__ import annotations

from typing import Any

from shoal.http.server import LOOPBACK, ThreadedServer, free_port

__all__ = ["LOOPBACK", "ThreadServer", "free_port"]


class ThreadServer(ThreadedServer):
    """uvicorn serving ``app`` on ``host`` and ``port`` (a free one by default), in a thread."""

    def __init__(
        self, app: Any, host: str = LOOPBACK, port: int = 0, log_level: str = "warning"
    ) -> None:
        super().__init__(app, port, host, log_level=log_level, fallback=False)
