"""Guards every entry point shares, written once: limits, and what a bad one says."""

from __future__ import annotations

from typing import Any

from shoal.errors import InvalidInput

MAX_LIMIT = 1000
"""The most rows one read returns: a page, a facet list, a listing. Page on with cursors."""


def check_limit(limit: Any, field: str = "limit", most: int = MAX_LIMIT) -> int:
    """``limit`` if it is an int from 1 to ``most``, else InvalidInput naming the field."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise InvalidInput(
            f"{field} must be an int from 1 to {most}, got {limit!r}; page on with the "
            "cursor (or before=) for more",
            field=field,
        )
    return limit


MAX_ID = 2**63 - 1
"""The largest id a store holds (a signed 64-bit column on SQLite and PostgreSQL)."""


def check_before(before: Any, field: str = "before") -> int | None:
    """A keyset cursor of a newest-first listing (ids or numbers below it come next):
    None, or an int from 1 to :data:`MAX_ID`, else InvalidInput naming the field."""
    if before is None:
        return None
    if isinstance(before, bool) or not isinstance(before, int) or not 1 <= before <= MAX_ID:
        raise InvalidInput(
            f"{field} must be the next_cursor of the previous page (an int from 1), got {before!r}",
            field=field,
        )
    return before


def check_id(value: Any, field: str) -> int:
    """``value`` if it is an id a store can hold (an int from 1 to :data:`MAX_ID`)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidInput(
            f"{field} must be an id: an int from 1 to {MAX_ID}, got {value!r}", field=field
        )
    return value
