"""``shoal runs`` and ``shoal run show``: units of work over a fleet, and one run in detail."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shoal.cli import _output
from shoal.cli._options import FleetArgument, IdCursorOption, JsonOption
from shoal.cli._session import client, fleet
from shoal.sdk.history import Run
from shoal.sdk.times import iso

run_app = typer.Typer(name="run", help="One run: its status, counts, durations and errors.")


def runs_command(
    ctx: typer.Context,
    path: FleetArgument,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 50,
    cursor: IdCursorOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a fleet's runs, newest first: kind, status, keys done and failed, time taken."""
    rows = fleet(ctx, path).runs(limit, before=cursor)
    if as_json:
        _output.print_json(rows.to_dict())
        return
    if not rows:
        _output.note(f"no runs of {path} yet: train it with fleet.train(data, fn)")
        return
    _output.table(
        ["id", "kind", "status", "keys", "done", "failed", "skipped", "seconds", "started"],
        [
            (r.id, r.kind, r.status, *(_output.number(n) for n in (r.keys, r.done, r.failed,
                                                                    r.skipped)),
             _output.number(r.seconds), _output.when(r.started_at))
            for r in rows
        ],
    )  # fmt: skip
    _output.next_page(rows.next_cursor)


@run_app.command("show")
def show_command(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(metavar="RUN_ID", help="From 'shoal runs'.")],
    errors: Annotated[int, typer.Option("--errors", help="How many key errors to show.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """One run: status, counts, durations, and its first per-key errors with tracebacks."""
    run = client(ctx).run(run_id)
    if as_json:
        _output.print_json(run.to_dict())
        return
    show_run(run, errors)


def show_run(run: Run, errors: int) -> None:
    """A run's fields, then its first ``errors`` key errors and the first one's traceback."""
    _show(run)
    if not run.errors:
        return
    _output.table(
        ["key", "attempts", "error"],
        [(_output.key_text(e.key), e.attempts, e.error) for e in run.errors[:errors]],
        title=f"errors ({run.failed})",
    )
    last = run.errors[0].traceback.strip().splitlines()
    if last:
        _output.note(f"traceback of {_output.key_text(run.errors[0].key)}:")
        _output.note("\n".join(last[-8:]))


def _show(run: Run) -> None:
    head = [("fleet", run.fleet or "-"), ("kind", run.kind), ("status", run.status)]
    if run.kind == "train":
        figures = [
            ("keys", f"{run.keys} ({run.done} done, {run.failed} failed, {run.skipped} skipped)"),
            ("seconds", _output.number(run.seconds)),
            ("per key", f"p50 {_output.number(run.key_seconds_p50)} s, "
                        f"max {_output.number(run.key_seconds_max)} s"),
            ("dataset", run.dataset_id),
            ("resumes", run.resumes),
        ]  # fmt: skip
    elif run.kind == "score":
        figures = _score_figures(run)
    else:  # a kind that records figures of its own (a monitoring pass: windows, tests, ...)
        figures = [
            (name, _output.pairs(value) if isinstance(value, dict) else _output.number(value))
            for name, value in run.counts.items()
        ]
    tail = [
        ("code", run.code_ref or "-"),
        ("started", _output.when(run.started_at)),
        ("finished", _output.when(run.finished_at) or "-"),
        *_lease(run),
        ("error", run.error or "-"),
    ]
    _output.fields([*head, *figures, *tail], title=f"run {run.id}")


def _score_figures(run: Run) -> list[tuple[str, Any]]:
    """A batch-scoring run: what it scored with what, where it went, what it left out."""
    p, c = run.params, run.counts
    used = c.get("versions_used") or []
    when = p.get("as_of") or (f"column {p['time_column']}" if p.get("time_column") else "-")
    return [
        ("data", f"{p.get('data')} ({_output.number(p.get('rows'))} rows, "
                 f"{p.get('parts')} part(s))"),
        ("with", f"alias {p['alias']}" if p.get("alias") else f"version {p.get('version')}"),
        ("event time", when),
        ("out", p.get("out") or "-"),
        ("logs", p.get("logs") or "not logged"),
        ("scored", f"{_output.number(c.get('scored'))} of {_output.number(c.get('rows'))} rows, "
                   f"{_output.number(c.get('keys'))} keys, {_output.number(c.get('versions'))} "
                   f"versions"),
        ("not scored", _output.pairs(c.get("not_scored") or {}) or "none"),
        *((f"  {_output.key_text(q['key'])}", f"{q['reason']}, {q['rows']} row(s): {q['detail']}")
          for q in (c.get("problems") or [])[:10]),
        ("versions used", ", ".join(map(str, used[:20])) + (" ..." if len(used) > 20 else "")),
        ("data fingerprint", c.get("data_fingerprint") or "-"),
        ("resumed parts", c.get("resumed_parts", 0)),
        ("seconds", _output.number(c.get("seconds"))),
    ]  # fmt: skip


def _lease(run: Run) -> list[tuple[str, str]]:
    """Who holds a running run, or when the lease of a run whose process died ran out."""
    if run.lease_holder is None or run.finished_at is not None:
        return []
    until = iso(run.lease_expires_at)
    if run.status == "running":
        return [("held by", f"{run.lease_holder} until {until}")]
    return [("lease", f"{run.lease_holder} stopped renewing it; expired {until}")]
