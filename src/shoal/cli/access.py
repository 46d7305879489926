"""``shoal token create|list|revoke`` and ``shoal audit``: who may use a server, and who did what.

A token's secret is printed once, by ``create``, on stdout alone (so ``$(shoal token create
...)`` captures it); everything else goes to stderr. Only its sha256 is stored.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._options import JsonOption
from shoal.cli._session import client as open_client

token_app = typer.Typer(
    name="token",
    help="API tokens for shoal ui and shoal serve: create (shown once), list, revoke.",
    no_args_is_help=True,
)

ROLE_HELP = ("viewer (reads), editor (also registers, trains, moves aliases, acknowledges "
             "alerts), admin (also tokens and alert rules), predict (predict and feedback "
             "only), operator (every tenant; no --tenant)")  # fmt: skip


@token_app.command("create")
def create_command(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help=ROLE_HELP)],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="The tenant it acts for (not for operator).")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="What the audit log calls it. Default: TENANT-ROLE-xxxxxx."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", metavar="SPAN", help="e.g. 90d, 12h. Default: never.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print its secret once: store it in your secret manager now."""
    info, secret = open_client(ctx).create_token(tenant, role, name=name, expires=expires)
    if as_json:
        _output.print_json({**info.to_dict(), "token": secret})
        return
    _output.note(f"token {info.name!r} ({info.role} of {info.tenant or 'every tenant'}), "
                 f"expires {info.expires_at or 'never'}. It is shown only now:",
                 style="bold")  # fmt: skip
    _output.echo(secret)


@token_app.command("list")
def list_command(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked tokens.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Tokens (never their secrets): name, tenant, role, state, expiry, last use."""
    found = open_client(ctx).tokens(tenant, revoked=revoked)
    if as_json:
        _output.print_json({"items": [t.to_dict() for t in found]})
        return
    if not found:
        _output.note("no tokens: create one with 'shoal token create --tenant T --role viewer'")
        return
    _output.table(
        ["id", "name", "tenant", "role", "state", "expires", "last used", "created by"],
        [(t.id, t.name, t.tenant or "*", t.role, t.state, _output.when(t.expires_at) or "never",
          _output.when(t.last_used_at), t.created_by) for t in found],
    )  # fmt: skip


@token_app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The id 'shoal token list' shows.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: servers refuse it within seconds; sessions signed in with it end."""
    info = open_client(ctx).revoke_token(token_id)
    if as_json:
        _output.print_json(info.to_dict())
        return
    _output.note(f"revoked token {info.id} {info.name!r} ({info.role} of "
                 f"{info.tenant or 'every tenant'})", style="")  # fmt: skip


def audit_command(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who: token:NAME, sso:SUBJECT or a user name.")
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option("--action", help="e.g. alias.move, or a family ending in '.' (alias.)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="SPAN", help="e.g. 7d, 12h.")
    ] = None,
    before: Annotated[
        int | None, typer.Option("--before", metavar="ID", help="Page back: older than this id.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Who changed what, newest first: principal, role, client address, request id."""
    found = open_client(ctx).audit(tenant=tenant, actor=actor, action=action or (),
                                   since=since, before=before, limit=limit)  # fmt: skip
    if as_json:
        _output.print_json(
            {
                "items": [e.to_dict() for e in found],
                "next_before": found[-1].id if len(found) == limit else None,
            }
        )
        return  # fmt: skip
    if not found:
        _output.note("no audited writes match")
        return
    _output.table(
        ["id", "when", "tenant", "who", "role", "from", "action", "target", "request"],
        [(e.id, _output.when(e.at), e.tenant or "*", e.actor, e.role or "local",
          e.address or "", e.action, e.target, e.request_id or "") for e in found],
    )  # fmt: skip
    if len(found) == limit:
        _output.note(f"older: --before {found[-1].id}")
