"""``shoal demo``: build the retail world, replay a week of traffic, say where to look.

The work lives in :mod:`shoal.demo` (usable from Python, tests and benchmarks); this
command only turns options into a :class:`~shoal.demo.WorldSpec`, reports progress on
stderr (as every command prints notes) and prints the summary on stdout.

Why it serves only on a terminal: a person who ran ``shoal demo`` can try the server
right away and stop it with Ctrl-C; a CI job or ``make demo | tee`` must get its
command back, so without a terminal on stdout (or with ``--no-serve``) the server stops
after the replay.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import typer

from shoal import config
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
    serve: bool = typer.Option(
        True,
        "--serve/--no-serve",
        help="Keep serving after the replay until Ctrl-C (only when stdout is a terminal).",
    ),
    port: int = typer.Option(
        8000,
        "--port",
        min=0,
        max=65535,
        help="Port of the prediction server on 127.0.0.1 (a free one if taken; 0: any).",
    ),
) -> None:
    """Build a realistic retail world on the embedded store and print where to look.

    Two tenants, trained with fleet.train: a grocer with one demand model per store and
    SKU (a seasonal-naive baseline in production; a promo-aware ridge candidate for a
    pilot of stores, evaluated against it on holdout weeks and promoted where it wins)
    and an apparel shop with one return classifier per category.

    Then it starts the prediction server on 127.0.0.1 (--port) and replays a week of
    traffic through it over HTTP: every key's daily forecast, drift injected into a few
    stores, and the actual sales as feedback, all logged to Parquet. On a terminal it
    keeps serving until Ctrl-C (--no-serve stops after the replay). Running it again on
    the same store finds the world already built and replays the week again (--retrain
    trains again).
    """
    import shoal
    from shoal.demo import WorldSpec, build_demo
    from shoal.demo.progress import ConsoleReporter
    from shoal.demo.summary import collect, render, render_traffic

    root = session(ctx)
    where = Session(store_url or root.store_url, artifacts_url or root.artifacts_url)
    spec = WorldSpec.quick() if quick else WorldSpec()
    spec = replace(spec, stores=stores or spec.stores, skus=skus or spec.skus, seed=seed)
    client = shoal.connect(where.store_url, where.artifacts_url)
    try:
        reporter = ConsoleReporter(_output.err())
        result = build_demo(client, spec, reporter=reporter, retrain=retrain, workers=workers)
        # Imported after the build: its worker processes need none of the server.
        from shoal.demo.server import DemoServer
        from shoal.demo.traffic import replay_week
        from shoal.http.auth import Auth
        from shoal.serve import create_app

        # The demo's server is on loopback and driven by the demo itself: no auth, and
        # say so, as `shoal serve --no-auth` does.
        reporter.note("the demo serves with auth off (loopback only); `shoal serve` and "
                      "`shoal ui` ask for tokens ('shoal token create')")  # fmt: skip
        app = create_app(client, auth=Auth.off())
        keep = serve and _interactive()
        with DemoServer(app, port) as server:
            if server.moved:
                reporter.note(f"port {port} is taken: the server listens on {server.port}")
            traffic = replay_week(client, result.world, server.url, logs=app.state.logs)
            reporter.note(
                f"replayed {traffic.rows:,} rows in {traffic.requests:,} requests and "
                f"{traffic.actuals:,} actuals through {server.url} in {traffic.seconds:.1f} s"
            )
            from shoal.demo.monitoring import monitor_replay, render_monitoring

            watched = monitor_replay(client, days=traffic.days)
            from shoal.demo.batch import render_batch, score_next_day

            batch = score_next_day(client, result.world, config.home())
            out = _output.out()
            render(collect(client, result), out, shoal=where.command())
            render_traffic(traffic, out, shoal=where.command(), serving=keep)
            render_monitoring(watched, traffic.drifted, out, shoal=where.command())
            render_batch(batch, out, shoal=where.command())
            from shoal.demo.report import render_report, write_report

            render_report(write_report(client, config.home() / "reports"), out,
                          shoal=where.command())  # fmt: skip
            if keep:
                _output.note(f"serving on {server.url} — Ctrl-C to stop", style="bold")
                server.wait()
                _output.note("stopped; the logs hold every prediction and actual it received")
    finally:
        client.close()


def _interactive() -> bool:
    """Whether a person is watching stdout (a terminal), so the server may keep running."""
    return sys.stdout.isatty()
