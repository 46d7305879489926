"""Times as Shoal prints them, in one place.

The store keeps times as UNIX seconds (a float sorts, subtracts and indexes the same on
SQLite and PostgreSQL). Everything a person or a program reads gets one of three shapes:

- :func:`iso`, ISO 8601 in UTC to the second, for JSON (``--json``, REST, ``to_dict()``):
  ``2026-11-24T21:30:05+00:00``;
- :func:`readable`, for a table cell or a page: ``2026-11-24 21:30 UTC`` (``utc=False``
  drops the zone where a column header already says it);
- :func:`window_label`, the start of a monitoring window: ``2026-11-24T21:30Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def _moment(ts: float | str) -> datetime:
    if isinstance(ts, str):
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(ts, UTC)


def iso(ts: float | None) -> str | None:
    """UNIX seconds as ISO 8601 UTC to the second; None stays None."""
    return None if ts is None else _moment(ts).isoformat(timespec="seconds")


def readable(ts: float | str | None, *, utc: bool = True) -> str:
    """UNIX seconds (or an ISO 8601 text) as a person reads it; nothing as ``""``, and a
    text that is no time as it is (a page must not fail on a value it only shows)."""
    if ts is None or ts == "" or isinstance(ts, bool):
        return ""
    try:
        moment = _moment(ts)
    except (ValueError, OverflowError, OSError):
        return str(ts)
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return f"{text} UTC" if utc else text


def window_label(start: float) -> str:
    """The start of a monitoring window, compact enough for a chart's axis."""
    return _moment(start).strftime("%Y-%m-%dT%H:%MZ")
