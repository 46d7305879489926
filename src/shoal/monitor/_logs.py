"""Where a fleet's prediction and feedback logs are, as paths DuckDB can read.

The server writes ``predictions/`` and ``feedback/`` under the logs URL, partitioned by
``tenant=``, ``fleet=`` and ``day=`` (see :mod:`shoal.serve.logbook`). A pass lists only the
day folders its windows need, so a year of logs costs nothing when monitoring yesterday.
Local folders are read by DuckDB directly; any other fsspec URL (``s3://``) is handed to
DuckDB as a registered fsspec filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fsspec


@dataclass(frozen=True)
class LogFiles:
    """The Parquet files of one fleet that a pass reads."""

    predictions: list[str]
    feedback: list[str]
    filesystem: Any | None
    """An fsspec filesystem to register with DuckDB; None for local paths."""


def find(url: str, tenant: str, fleet: str, days: list[str], *, feedback_from: str) -> LogFiles:
    """Prediction files of ``days`` and feedback files of ``feedback_from`` onwards.

    Feedback arrives after the predictions it judges (often days later), so every
    feedback day from the first predicted day on is read.
    """
    fs, root = fsspec.core.url_to_fs(url)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    local = protocol in ("file", "local")
    base = root.rstrip("/")

    def files(kind: str, keep: Any) -> list[str]:
        folder = f"{base}/{kind}/tenant={tenant}/fleet={fleet}"
        if not fs.exists(folder):
            return []
        out = []
        for entry in sorted(fs.ls(folder, detail=False)):
            day = entry.rstrip("/").rsplit("day=", 1)[-1]
            if keep(day):
                found = fs.glob(f"{entry.rstrip('/')}/*.parquet")
                out += [p if local else f"{protocol}://{p}" for p in sorted(found)]
        return out

    wanted = set(days)
    return LogFiles(
        predictions=files("predictions", wanted.__contains__),
        feedback=files("feedback", lambda day: day >= feedback_from),
        filesystem=None if local else fs,
    )
