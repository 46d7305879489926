"""``shoal model`` and ``shoal versions``: one model of a fleet, named by its key.

``model`` shows the version a key resolves to (an alias, a number, or the latest) and,
with ``--verify``, loads its artifact the way a server would: bytes checked against
their content hash, then opened by the flavor. ``versions`` lists its whole history.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._keys import KeyOption, parse_key
from shoal.cli._options import FleetArgument, JsonOption
from shoal.cli._session import fleet as open_fleet
from shoal.errors import InvalidInput
from shoal.sdk.results import ModelVersion


def versions_command(
    ctx: typer.Context, fleet: FleetArgument, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every version of one model, newest first.

    Name the model with one --key DIM=VALUE per key dimension of the fleet, e.g.
    shoal versions grocer/demand --key store=s012 --key sku=A77
    """
    target = open_fleet(ctx, fleet)
    found = target.versions(parse_key(target, key))
    if as_json:
        _output.print_json([v.to_dict() for v in found])
        return
    _output.table(
        ["version", "id", "status", "flavor", "metrics", "aliases", "run", "dataset", "created"],
        [
            (
                v.version,
                v.id,
                v.status,
                v.flavor,
                _output.pairs(v.metrics),
                ", ".join(v.aliases),
                v.run_id,
                v.dataset_id,
                _output.when(v.created_at),
            )
            for v in found
        ],
        title=f"{target.path} {_output.key_text(found[0].key)}" if found else None,
    )


def model_command(
    ctx: typer.Context,
    fleet: FleetArgument,
    key: KeyOption = None,
    alias: Annotated[
        str | None, typer.Option("--alias", "-a", help="The version this alias points at.")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="This version number.")
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Load the artifact: check its bytes against the content hash, "
            "then open it with its flavor. Exits 5 if the stored bytes were changed.",
        ),
    ] = False,
    trust: Annotated[
        list[str] | None,
        typer.Option(
            "--trust", metavar="TYPE", help="A type a skops artifact may load (repeatable)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the version one model resolves to: the latest, or --alias, or --version.

    e.g. shoal model grocer/demand --key store=s012 --key sku=A77 --alias production --verify
    """
    if alias is not None and version is not None:
        raise InvalidInput("--alias and --version: give one, or neither for the latest",
                           field="alias")  # fmt: skip
    target = open_fleet(ctx, fleet)
    model_key = parse_key(target, key)
    found = target.get(model_key, alias=alias, version=version)
    loaded = None
    if verify:
        with _output.working("loading and verifying the artifact"):
            model = target.load_model(model_key, version=found.version, trusted=trust or ())
        loaded = f"{type(model).__module__}.{type(model).__qualname__}"
    if as_json:
        _output.print_json({**found.to_dict(), "verified": verify, "loaded_as": loaded})
        return
    _show(found)
    if loaded:
        _output.note(f"verified: sha256 {found.artifact_sha256} matches; loads as {loaded}",
                     style="green")  # fmt: skip


def _show(v: ModelVersion) -> None:
    _output.fields(
        [
            ("fleet", v.fleet),
            ("key", _output.key_text(v.key)),
            ("version", f"{v.version} (id {v.id})"),
            ("status", v.status),
            ("flavor", v.flavor),
            ("artifact", f"sha256 {v.artifact_sha256}, {v.artifact_size} bytes"),
            ("metrics", _output.pairs(v.metrics)),
            ("params", _output.pairs(v.params)),
            ("tags", _output.pairs(v.tags)),
            ("aliases", ", ".join(v.aliases)),
            ("run", v.run_id),
            ("dataset", v.dataset_id),
            ("code", v.code_ref),
            ("created", f"{_output.when(v.created_at)} by {v.created_by}"),
        ]
    )
