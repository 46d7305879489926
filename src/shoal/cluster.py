"""Joining the Ray cluster a capability runs on (training's and monitoring's executors).

If Ray is already initialised (``ray.init(address=...)`` by the caller, the way to reach a
real cluster, see ``docs/scale-out.md``), that cluster is used and left running.
Otherwise ``RAY_ADDRESS`` names a cluster to join, or a local one is started with ``cpus``
CPUs (default: this machine's); the caller then shuts it down when its work ends.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from shoal.errors import InvalidInput


def import_ray() -> Any:
    """Ray, or an error that says how to install it (it is an optional extra)."""
    try:
        import ray
    except ImportError:
        raise InvalidInput(
            "executor 'ray' needs Ray: pip install 'shoal[ray]' (or use executor='local')",
            field="executor",
        ) from None
    return ray


def join_ray(cpus: int | None) -> bool:
    """Initialise Ray unless it is; returns whether this call started it (then stop it)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if not os.environ.get("RAY_ADDRESS"):
        options["num_cpus"] = cpus or os.cpu_count() or 1
    ray.init(**options)
    return True
