"""``GET /api/v1/fleets/{tenant}/{fleet}/export``: the per-model table as a file download.

The same table as ``fleet.export`` and ``shoal export``, streamed: the registry reads it in
keyset chunks and each chunk goes out as it is encoded (some CSV lines, or one Parquet
row group), so a million models never sit in the server's memory or in a page. A bad
filter is a 422 in the usual error shape, answered before the first byte.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from shoal.http.errors import ERROR_RESPONSES
from shoal.http.params import FleetName, Tenant, Where
from shoal.sdk import export
from shoal.sdk.client import Client

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}

Format = Annotated[
    Literal["csv", "parquet"], Query(description="csv, or parquet (zstd, a row group a chunk).")
]


def export_router(client: Client) -> APIRouter:
    """The export route over ``client``'s store."""
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    download: dict[int | str, dict[str, Any]] = {
        200: {"description": "The file, streamed chunk by chunk",
              "content": {kind.split(";")[0]: {} for kind in MEDIA_TYPES.values()}},
    }  # fmt: skip

    @api.get(
        "/fleets/{tenant}/{fleet}/export", response_class=StreamingResponse, responses=download
    )
    def export_models(
        tenant: Tenant, fleet: FleetName, format: Format = "parquet", where: Where = None
    ) -> StreamingResponse:
        """One row per model ``where`` selects: keys, version, status, flavor, created_at,
        run and dataset ids, ``alias.NAME`` and ``metric.NAME`` columns."""
        target = client.fleet(f"{tenant}/{fleet}")
        body = export.stream(target, where=where, format=format)  # a bad filter raises here
        name = f"{tenant}-{fleet}-models.{format}"
        return StreamingResponse(
            body, media_type=MEDIA_TYPES[format],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )  # fmt: skip

    return api
