"""``shoal demo``: build the retail world on the embedded store and say where to look.

The work lives in :mod:`shoal.demo` (usable from Python, tests and benchmarks); this
command only turns options into a :class:`~shoal.demo.WorldSpec`, reports progress on
stderr (as every command prints notes) and prints the summary on stdout.
"""

from __future__ import annotations

from dataclasses import replace

import typer

from shoal.cli import _output
from shoal.cli._session import Session, session


def demo_command(
    ctx: typer.Context,
    quick: bool = typer.Option(
        False, "--quick", help="A small world (6 stores x 10 SKUs) that builds in seconds."
    ),
    stores: int | None = typer.Option(
        None, "--stores", min=1, help="Number of grocery stores (default 40; 6 with --quick)."
    ),
    skus: int | None = typer.Option(
        None, "--skus", min=1, help="SKUs per store (default 75; 10 with --quick)."
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the generated world."),
    retrain: bool = typer.Option(
        False, "--retrain", help="Train new versions even if this world is already built."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Processes that train the demand fleet (default: one per CPU; 1: in this process).",
    ),
    store_url: str | None = typer.Option(
        None,
        "--store",
        metavar="URL",
        help="Metadata store URL, as 'shoal --store' (default: SQLite in $SHOAL_HOME, ./.shoal).",
    ),
    artifacts_url: str | None = typer.Option(
        None,
        "--artifacts",
        metavar="URL",
        help="Artifact store URL, as 'shoal --artifacts' (default: $SHOAL_HOME/artifacts).",
    ),
) -> None:
    """Build a realistic retail world on the embedded store and print where to look.

    Two tenants, trained with fleet.train: a grocer with one demand model per store and
    SKU (a seasonal-naive baseline in production; a promo-aware ridge candidate for a
    pilot of stores, evaluated against it on holdout weeks and promoted where it wins)
    and an apparel shop with one return classifier per category. Running it again on
    the same store finds the world already built and only prints the summary (--retrain
    trains again).
    """
    import shoal
    from shoal.demo import WorldSpec, build_demo
    from shoal.demo.progress import ConsoleReporter
    from shoal.demo.summary import collect, render

    root = session(ctx)
    where = Session(store_url or root.store_url, artifacts_url or root.artifacts_url)
    spec = WorldSpec.quick() if quick else WorldSpec()
    spec = replace(spec, stores=stores or spec.stores, skus=skus or spec.skus, seed=seed)
    client = shoal.connect(where.store_url, where.artifacts_url)
    try:
        reporter = ConsoleReporter(_output.err())
        result = build_demo(client, spec, reporter=reporter, retrain=retrain, workers=workers)
        render(collect(client, result), _output.out(), shoal=where.command())
    finally:
        client.close()
