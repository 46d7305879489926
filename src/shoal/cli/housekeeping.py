"""``shoal gc``, ``shoal verify`` and ``shoal version archive|restore|delete``.

Every command that removes or hides something is a dry run unless given ``--apply``: it
prints what would change, and how many bytes, and changes nothing. ``verify`` exits 5
(an integrity error) when any blob is missing or changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from shoal import config
from shoal.cli import _output
from shoal.cli._options import WHERE_HELP, FleetArgument, JsonOption
from shoal.cli._session import client as open_client
from shoal.cli._session import fleet as open_fleet
from shoal.errors import IntegrityError
from shoal.sdk.housekeeping import GcReport, Retired

ApplyOption = Annotated[
    bool, typer.Option("--apply", help="Do it. Without --apply: a dry run that changes nothing.")
]

version_app = typer.Typer(
    name="version",
    help="Archive, restore or delete versions, by filter or id (dry run unless --apply).",
    no_args_is_help=True,
)


def gc_command(
    ctx: typer.Context,
    apply: ApplyOption = False,
    grace: Annotated[
        float | None,
        typer.Option(
            "--grace",
            metavar="SECONDS",
            help="Keep unused files younger than this. Default: "
            f"{config.GC_GRACE_SECONDS.env} (a day).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Find the artifact files no version uses (orphan packs of a killed registration,
    objects of deleted versions), older than the grace period, and with --apply remove them.

    A pack with any blob still in use is kept whole. Store-wide: run it as the operator.
    """
    with _progress() as progress:
        report = open_client(ctx).gc(apply=apply, grace_seconds=grace, progress=progress)
    if as_json:
        _output.print_json(report.to_dict())
        return
    _print_gc(report)


def _print_gc(report: GcReport) -> None:
    verb = "removed" if report.applied else "would remove"
    _output.echo(
        f"{verb} {report.packs} pack(s), {report.objects} object(s), {report.temporary} "
        f"partial write(s) and {report.rows} unused blob row(s): {size(report.bytes)}"
    )
    if report.items:
        _output.table(
            ["kind", "key", "size", "age"],
            [(i["kind"], i["key"], size(i["bytes"]), _age(i["age_seconds"]))
             for i in report.items[:20]],
        )  # fmt: skip
        if len(report.items) > 20:
            _output.note(f"... and {len(report.items) - 20} more (--json lists them all)")
    if report.kept_young:
        _output.note(
            f"kept {report.kept_young} unused file(s) ({size(report.kept_young_bytes)}) younger "
            f"than the grace period ({_age(report.grace_seconds)}): a live registration may "
            "be about to use them"
        )
    if report.kept_in_use:
        _output.note(f"kept {report.kept_in_use} file(s) a registration started using meanwhile")
    _output.note(
        f"{report.packs_in_use} pack(s) and {report.objects_in_use} object(s) in use, kept "
        f"({report.files} file(s) listed in {report.seconds:.1f} s)"
    )
    if not report.applied and (report.items or report.rows):
        _output.note("dry run: nothing removed; run again with --apply to remove them")


def verify_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Re-read every blob the store records and check it against its sha256, each pack in a
    few ranged reads; list the missing or changed ones with the versions that use them.

    Exits 5 when any blob fails. Store-wide: run it as the operator.
    """
    with _progress() as progress:
        report = open_client(ctx).verify(progress=progress)
    if as_json:
        _output.print_json(report.to_dict())
    else:
        _output.echo(
            f"checked {report.blobs} blob(s), {size(report.bytes)}, in {report.packs} pack(s) "
            f"and {report.objects} object(s) in {report.seconds:.1f} s: "
            + ("all match" if report.ok else f"{len(report.bad)} failed")
        )
        if report.bad:
            _output.table(
                ["sha256", "problem", "where", "versions"],
                [(_output.short(b["sha256"]), b["problem"], b["where"], _users(b["versions"]))
                 for b in report.bad],
            )  # fmt: skip
    if not report.ok:
        _output.error(
            f"{len(report.bad)} blob(s) are missing or do not match their sha256: restore "
            "them from a copy, or register the versions that use them again"
        )
        raise typer.Exit(IntegrityError.exit_code)


def _users(versions: list[dict[str, Any]]) -> str:
    shown = [f"{v['fleet']} {_output.key_text(v['key'])} v{v['version']}" for v in versions[:3]]
    more = len(versions) - len(shown)
    return "; ".join(shown) + (f"; +{more}" if more > 0 else "") if shown else "(no version)"


def _retire_command(action: str) -> Any:
    def command(
        ctx: typer.Context,
        fleet: FleetArgument,
        where: Annotated[
            str | None,
            typer.Option(
                "--where", "-w", help="Every version this selects (archived ones too). "
                + WHERE_HELP,
            ),
        ] = None,
        ids: Annotated[
            list[int] | None,
            typer.Option("--id", metavar="VERSION_ID", help="A version id (repeatable)."),
        ] = None,
        apply: ApplyOption = False,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        target = open_fleet(ctx, fleet)
        method = {"archive": target.archive, "restore": target.restore,
                  "delete": target.delete_versions}[action]  # fmt: skip
        with _output.working(f"{action} versions"):
            found = method(where, ids=ids or (), apply=apply)
        if as_json:
            _output.print_json(found.to_dict())
            return
        _print_retired(found)

    command.__doc__ = _DOCS[action]
    return command


_DOCS = {
    "archive": """Hide versions from search, counts, facets and serving, and keep them.

    shoal version archive grocer/demand --where "created_at < '2026-01-01'" --apply

    A model whose versions are all archived no longer shows; its latest is its newest
    version not archived. Versions an alias points at are refused: move the alias first.
    'shoal version restore' undoes it.
    """,
    "restore": """Show archived versions again.

    shoal version restore grocer/demand --where "status = 'archived' and store = 's012'" --apply
    """,
    "delete": """Delete versions: their metadata, a model with its last version, and their
    artifacts once no version of any fleet uses the same bytes (packed blobs: when 'shoal gc
    --apply' removes their pack).

    shoal version delete grocer/demand --id 812 --id 813 --apply

    Versions an alias points at are refused: move the alias first.
    """,
}

for _action in ("archive", "restore", "delete"):
    version_app.command(_action)(_retire_command(_action))


def _print_retired(found: Retired) -> None:
    done = {"archive": "archived", "restore": "restored", "delete": "deleted"}[found.action]
    applied = found.applied
    verb = done if applied else f"would {found.action}"
    _output.echo(
        f"{verb} {found.changed} version(s) of {found.models} model(s) of {found.fleet} "
        f"({found.matched - found.changed} of the {found.matched} selected left as they are)"
    )
    would = "" if applied else "would "
    if found.models_hidden:
        _output.echo(f"{found.models_hidden} model(s) {would}no longer show")
    if found.models_shown:
        _output.echo(f"{found.models_shown} model(s) {would}show again")
    if found.models_deleted:
        _output.echo(f"{found.models_deleted} model(s) {would}go with their last version")
    if found.action == "delete":
        _output.echo(
            f"artifacts: {found.artifacts_deleted} object(s) "
            f"({size(found.artifact_bytes_deleted)}) "
            f"{'deleted' if applied else 'to delete'}; {found.packed_released} packed blob(s) "
            f"({size(found.packed_bytes_released)}) for 'shoal gc --apply' to free with their pack"
        )
    rows = [(_output.key_text(p["key"]), p["version"], p["id"], p["status"]) for p in found.preview]
    if rows:
        _output.table(["key", "version", "id", "status"], rows)
        if found.changed > len(rows):
            _output.note(f"... and {found.changed - len(rows)} more")
    if found.blocked_count:
        _output.note(
            f"{found.blocked_count} selected version(s) are under an alias: --apply refuses "
            "them; move the alias first, or add \"and alias != 'NAME'\" to the filter",
            style="yellow",
        )
        blocked = [(_output.key_text(b["key"]), b["version"], b["id"], b["alias"])
                   for b in found.blocked]  # fmt: skip
        _output.table(["key", "version", "id", "alias"], blocked)
    if not applied and found.changed:
        _output.note(f"dry run: nothing changed; run again with --apply to {found.action}")


def size(n: float) -> str:
    """Bytes for a person: ``22.7 MB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s"


@contextlib.contextmanager
def _progress() -> Iterator[Any]:
    """A rich bar per stage on a terminal (stderr); nothing when piped."""
    console = _output.err()
    if not console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), console=console, transient=True,
    )  # fmt: skip
    tasks: dict[str, TaskID] = {}

    def advance(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            unit = "bytes" if stage == "verifying" else "files"
            tasks[stage] = bar.add_task(stage, total=total, unit=unit)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield advance
