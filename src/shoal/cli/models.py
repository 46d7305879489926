"""``shoal models``: one page of a fleet's versions, or their count, or facet counts.

Every form is one query over the fleet (keyset pages, aggregate counts), so the same
command answers for ten models and for a million.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._options import WHERE_HELP, FleetArgument, JsonOption
from shoal.cli._session import fleet as open_fleet
from shoal.errors import InvalidInput
from shoal.sdk.fleet import Fleet
from shoal.sdk.results import ModelVersion, Page

LIST_LIMIT = 50
FACET_LIMIT = 100


def models_command(
    ctx: typer.Context,
    fleet: FleetArgument,
    where: Annotated[str | None, typer.Option("--where", "-w", help=WHERE_HELP)] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            "-s",
            metavar="FIELD|-FIELD",
            help="Sort by a key, metric, version or "
            "created_at; a leading '-' sorts descending. Default: model order.",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            help=f"Page size (default {LIST_LIMIT}, at most 1000), or how "
            f"many facet values to show (default {FACET_LIMIT}).",
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option("--cursor", help="Continue after the page that printed this cursor."),
    ] = None,
    all_versions: Annotated[
        bool,
        typer.Option("--all-versions", help="Every version, not only each model's latest."),
    ] = False,
    count: Annotated[
        bool, typer.Option("--count", help="Print only how many versions match.")
    ] = False,
    facet: Annotated[
        str | None,
        typer.Option(
            "--facet", metavar="DIM", help="Print how many match per value of key dimension DIM."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List a fleet's models: keys, version, metrics, aliases and when each was made.

    A filter with "alias = 'production'" reads the version that alias points at, so
    "mape > 0.3 and alias = 'production'" finds production models that are off.
    Pages follow a cursor instead of counting past rows: pass --cursor with the value
    the previous page printed (to stderr, or as next_cursor with --json).
    """
    if count and facet:
        raise InvalidInput("--count and --facet: pick one", field="count")
    scope = "all" if all_versions else "latest"
    target = open_fleet(ctx, fleet)
    if count:
        _print_count(target.count(where, versions=scope), as_json)
    elif facet:
        counts = target.facets(
            facet, where, limit=FACET_LIMIT if limit is None else limit, versions=scope
        )
        _print_facets(facet, counts, as_json)
    else:
        page = target.search(
            where,
            sort=sort,
            limit=LIST_LIMIT if limit is None else limit,
            cursor=cursor,
            versions=scope,
        )
        _print_page(target, page, as_json)


def _print_count(n: int, as_json: bool) -> None:
    if as_json:
        _output.print_json({"count": n})
    else:
        _output.echo(str(n))


def _print_facets(dim: str, counts: dict[str, int], as_json: bool) -> None:
    if as_json:
        _output.print_json({"facet": dim, "counts": counts})
    else:
        _output.table([dim, "models"], counts.items())


def _print_page(fleet: Fleet, page: Page[ModelVersion], as_json: bool) -> None:
    if as_json:
        _output.print_json({"items": [v.to_dict() for v in page], "next_cursor": page.next_cursor})
        return
    if not page.items:
        _output.note("no versions match")
    else:
        _output.table(
            [*fleet.keys, "version", "id", "metrics", "aliases", "created"],
            [
                (
                    *[v.key[dim] for dim in fleet.keys],
                    v.version,
                    v.id,
                    _output.pairs(v.metrics),
                    ", ".join(v.aliases),
                    _output.when(v.created_at),
                )
                for v in page
            ],
        )
    _output.next_page(page.next_cursor)
