"""``shoal db``: the metadata store's schema."""

from __future__ import annotations

import typer

from shoal.cli import _output
from shoal.cli._session import client
from shoal.registry import mask_url

db_app = typer.Typer(name="db", help="The metadata store's schema.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Bring the store's schema to the revision this Shoal needs (Alembic migrations).

    Shoal does this on first use unless SHOAL_AUTO_MIGRATE=0; a team that shares a
    PostgreSQL store turns that off and runs this once per release instead.
    """
    target = client(ctx)
    with _output.working(f"upgrading {mask_url(target.store_url)}"):
        revision = target.upgrade()
    _output.echo(f"{mask_url(target.store_url)}: schema at revision {revision} (head)")
