"""Servers on the loopback interface for tests and benchmarks: a free port, uvicorn in a thread.

``free_port()`` asks the OS for a port that is free on 127.0.0.1 (it may be taken again
before it is used: good enough for tests). ``ThreadServer`` serves an ASGI app with
uvicorn in a daemon thread of this process, on a free port unless told one::

    with ThreadServer(create_app(client)) as server:
        httpx.get(server.url + "/healthz")

Both are :mod:`shoal.http.server`'s, which the demo's server runs on too.
"""

from __future__ import annotations

from shoal.http.server import LOOPBACK, ThreadedServer, free_port

ThreadServer = ThreadedServer

__all__ = ["LOOPBACK", "ThreadServer", "free_port"]
