"""``shoal lineage``: where one version came from, for an audit or a bad forecast."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shoal.cli import _output
from shoal.cli._options import JsonOption
from shoal.cli._session import client
from shoal.sdk.history import Lineage, LineageParent


def lineage_command(
    ctx: typer.Context,
    version_id: Annotated[
        int,
        typer.Argument(
            metavar="VERSION_ID", help="A version id (the 'id' column of 'shoal models')."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """The dataset snapshot, the key's slice of it, the run, the code and the parent of a version.

    Fingerprints are content hashes: the same fingerprint means the same rows, so two
    versions with equal dataset and slice fingerprints were trained on identical data.
    """
    found = client(ctx).lineage(version_id)
    if as_json:
        _output.print_json(found.to_dict())
        return
    _output.fields(_rows(found), title=f"version {found.version_id}")


def _rows(data: Lineage) -> list[tuple[str, Any]]:
    dataset, run = data.dataset, data.run
    return [
        ("fleet", data.fleet),
        ("key", _output.key_text(data.key)),
        ("version", data.version),
        ("flavor", data.flavor),
        ("artifact", data.artifact_sha256),
        (
            "dataset",
            f"{dataset.name} (id {dataset.id}, {dataset.row_count} rows)" if dataset else "-",
        ),
        ("dataset fingerprint", dataset.fingerprint if dataset else None),
        ("slice fingerprint", data.slice_fingerprint or "-"),
        ("run", f"{run.id} ({run.kind}, {run.status})" if run else "-"),
        ("code", data.code_ref or "-"),
        ("parent", _parent_text(data.parent)),
        ("metrics", _output.pairs(data.metrics)),
        ("created", f"{_output.when(data.created_at)} by {data.created_by}"),
    ]


def _parent_text(parent: LineageParent | None) -> str:
    if parent is None:
        return "-"
    if parent.missing:
        return f"version id {parent.version_id} (no longer visible)"
    return f"version {parent.version} (id {parent.version_id})"
