"""Monitoring windows: fixed, UTC-aligned intervals such as ``1d`` or ``6h``.

Windows start at whole multiples of their length since the UNIX epoch, so two passes
over overlapping time agree on every window's start, and a window's results can be
replaced by a later pass (when late feedback arrived) without ever being split.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import overload

from shoal.errors import InvalidInput

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_WINDOW = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def parse_window(text: str | int) -> int:
    """``"1d"``, ``"6h"``, ``"30m"``, ``"1w"`` (or a number of seconds) as seconds."""
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = text
    else:
        match = _WINDOW.match(str(text))
        if match is None:
            raise InvalidInput(
                f"window {text!r} is not a length; write e.g. 1d, 6h, 30m or 1w",
                field="window",
            )
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 60 or seconds > 86400 * 366:
        raise InvalidInput(
            f"window must be between 1 minute and a year, got {seconds} s", field="window"
        )
    return seconds


@overload
def as_timestamp(value: float | dt.datetime | str, field: str) -> float: ...
@overload
def as_timestamp(value: None, field: str) -> None: ...
@overload
def as_timestamp(value: float | dt.datetime | str | None, field: str) -> float | None: ...
def as_timestamp(value: float | dt.datetime | str | None, field: str) -> float | None:
    """UNIX seconds from a datetime, an ISO 8601 string (UTC when naive) or a number."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{field} {value!r} is not a time; write it as 2026-11-24 or 2026-11-24T06:00Z",
                field=field,
            ) from None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    raise InvalidInput(f"{field} must be a time, got {type(value).__name__}", field=field)


@dataclass(frozen=True)
class Span:
    """The windows a pass covers: ``[start, end)``, both on window boundaries."""

    seconds: int
    start: float
    end: float

    @property
    def starts(self) -> list[float]:
        return [float(s) for s in range(int(self.start), int(self.end), self.seconds)]

    @property
    def days(self) -> list[str]:
        """The log partitions (``day=YYYY-MM-DD``) that hold this span's predictions."""
        first = dt.datetime.fromtimestamp(self.start, dt.UTC).date()
        last = dt.datetime.fromtimestamp(self.end - 1e-3, dt.UTC).date()
        return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def span(seconds: int, since: float | None, until: float | None, now: float) -> Span:
    """Windows from ``since`` to ``until`` (default: the previous window and the current one)."""
    until = now if until is None else until
    since = until - seconds if since is None else since
    if since >= until:
        raise InvalidInput("since must be before until", field="since")
    start = math.floor(since / seconds) * seconds
    end = math.ceil(until / seconds) * seconds
    if end == start:
        end += seconds
    if (end - start) / seconds > 1000:
        raise InvalidInput(
            "that is more than 1,000 windows in one pass; shorten since..until or widen the window",
            field="since",
        )
    return Span(seconds, float(start), float(end))
