"""Helpers for testing code that uses Shoal, and for testing Shoal's own plugins.

- :func:`check_flavor` runs the flavor conformance suite on any flavor.
- :class:`LocalS3Server` starts an S3-compatible server on 127.0.0.1 for tests.
- :func:`free_port` and :class:`ThreadServer` (uvicorn in a thread) for servers on loopback.

Imported lazily so that ``import shoal`` never pulls in test-only dependencies.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LocalS3Server", "ThreadServer", "check_flavor", "free_port"]


def __getattr__(name: str) -> Any:
    if name == "check_flavor":
        from shoal.testing.flavors import check_flavor

        return check_flavor
    if name == "LocalS3Server":
        from shoal.testing.s3server import LocalS3Server

        return LocalS3Server
    if name in ("free_port", "ThreadServer"):
        from shoal.testing import servers

        return getattr(servers, name)
    raise AttributeError(name)
