"""Path and query parameters both servers share, with the bounds the server enforces.

Declaring them here, once, puts the real rules in the OpenAPI schema (a client or a
fuzzer learns that a tenant is ``^[a-z0-9][a-z0-9_-]{0,99}$`` and an id fits 64 bits)
and refuses a bad one with a 422 naming it before any handler runs.

The bounds also keep a request under the server's 64 KiB limit on a request line and its
headers (uvicorn answers a longer one with a bare-text 400 before Shoal sees it): a filter
of 4,000 characters takes at most 48 KiB URL-encoded.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from shoal.registry import MAX_FILTER_CHARS, MAX_ID, NAME_PATTERN

Tenant = Annotated[str, Path(pattern=NAME_PATTERN, description="The tenant's name.")]
FleetName = Annotated[str, Path(pattern=NAME_PATTERN, description="The fleet's name.")]
AliasName = Annotated[str, Path(pattern=NAME_PATTERN, description="An alias name (not 'latest').")]
RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="A record's id (64-bit).")]
ModelPath = Annotated[
    str,
    Path(min_length=2, max_length=2000, pattern=r"^[^=,]+=",
         description="The model's key, e.g. store=s012,sku=A77",
         examples=["store=s012,sku=A77"]),
]  # fmt: skip
Where = Annotated[
    str | None, Query(max_length=MAX_FILTER_CHARS, description="Filter in the SDK's grammar.")
]
Sort = Annotated[str | None, Query(max_length=200, description="e.g. -mape, or store,sku.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
IdCursor = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
]
"""The cursor of a newest-first listing by id (runs, alias moves): ids below it come next."""
