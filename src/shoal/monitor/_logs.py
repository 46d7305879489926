"""Where a fleet's prediction and feedback logs are, as paths DuckDB can read.

The server writes ``predictions/`` and ``feedback/`` under the logs URL, partitioned by
``tenant=``, ``fleet=`` and ``day=`` (see :mod:`shoal.serve.logbook`). A prediction is filed
under the day of its event time (``event_at``, the time it is for) when it has one, else
of the time it was made (``at``); its file is named ``part-<time_ns>-...`` by when it was
written. So which files a pass reads depends on the time its windows are cut by:

- ``time="event"``: the day folders of the span, and nothing else;
- ``time="at"``: the day folders of the span, plus the files of any other day folder
  written since the span started (a file is written after the rows in it were made): a
  backfill made today for last week, or tomorrow's forecasts made today. One recursive
  listing finds both; a name that is not ``part-<time_ns>-...`` is read (the query's filter
  on ``at`` keeps only the span's rows, so reading too much costs time, never results).

Local folders are read by DuckDB directly; any other fsspec URL (``s3://``) is handed to
DuckDB as a registered fsspec filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fsspec

from shoal.errors import InvalidInput


@dataclass(frozen=True)
class LogFiles:
    """The Parquet files of one fleet that a pass reads."""

    predictions: list[str]
    feedback: list[str]
    filesystem: Any | None
    """An fsspec filesystem to register with DuckDB; None for local paths."""


TIMES = ("at", "event")
"""What windows are cut by: when predictions were made, or the time they are for."""


def find(
    url: str,
    tenant: str,
    fleet: str,
    days: list[str],
    *,
    feedback_from: str,
    time: str = "at",
    since: float | None = None,
) -> LogFiles:
    """Prediction files of ``days`` and feedback files of ``feedback_from`` onwards.

    With ``time="at"`` and ``since`` (the span's start, UNIX seconds), prediction files
    written since then under any other day are read too (module doc). Feedback arrives
    after the predictions it judges (often days later), so every feedback day from the
    first predicted day on is read.
    """
    fs, root = fsspec.core.url_to_fs(url)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    local = protocol in ("file", "local")
    base = root.rstrip("/")

    def named(paths: list[str]) -> list[str]:
        return [p if local else f"{protocol}://{p}" for p in sorted(paths)]

    def files(kind: str, keep: Any) -> list[str]:
        folder = f"{base}/{kind}/tenant={tenant}/fleet={fleet}"
        if not fs.exists(folder):
            return []
        out = []
        for entry in sorted(fs.ls(folder, detail=False)):
            day = entry.rstrip("/").rsplit("day=", 1)[-1]
            if keep(day):
                out += named(fs.glob(f"{entry.rstrip('/')}/*.parquet"))
        return out

    wanted = set(days)
    if time not in TIMES:
        raise InvalidInput(
            f"time must be 'at' (when predictions were made) or 'event' (the time they are "
            f"for), got {time!r}",
            field="time",
        )
    if time == "at" and since is not None:
        predictions = _made_since(fs, f"{base}/predictions/tenant={tenant}/fleet={fleet}",
                                  wanted, since)  # fmt: skip
        predictions = named(predictions)
    else:
        predictions = files("predictions", wanted.__contains__)
    return LogFiles(
        predictions=predictions,
        feedback=files("feedback", lambda day: day >= feedback_from),
        filesystem=None if local else fs,
    )


def _made_since(fs: Any, folder: str, days: set[str], since: float) -> list[str]:
    """Every file of ``days``, and each file of another day written at or after ``since``.

    One recursive listing of the fleet's folder (on S3, one paginated list of the prefix),
    not one per day: which days hold rows made in the span is not known in advance.
    """
    if not fs.exists(folder):
        return []
    first = int(since * 1e9)
    out = []
    for path in fs.find(folder):
        inside = path.rstrip("/")[len(folder.rstrip("/")) + 1 :].split("/")
        if len(inside) != 2 or not inside[0].startswith("day="):
            continue  # not in a day folder: not the server's layout
        day, name = inside[0].removeprefix("day="), inside[1]
        if not name.endswith(".parquet") or name.startswith("."):
            continue  # a file being written (.part-....tmp), or not a log at all
        if day in days:
            out.append(path)
            continue
        written = _written_ns(name)
        if written is None or written >= first:
            out.append(path)
    return out


def _written_ns(name: str) -> int | None:
    """When a log file was written, from its name ``part-<time_ns>-<hex>.parquet``."""
    parts = name.split("-")
    if len(parts) < 3 or parts[0] != "part" or not parts[1].isdigit():
        return None
    return int(parts[1])
