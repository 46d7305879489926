"""The monitoring pass: one DuckDB query over a fleet's Parquet logs, grouped by version and window.

Two aggregations over the same scan, joined at the end:

- quality: predictions joined with their latest feedback (by request id and row, or by
  key and time: the newest prediction for that key whose event time, ``event_at`` or else
  ``at``, is at or before the actual's time, an ASOF join), summed per (version, window)
  into the parts MAE, RMSE, MAPE and sMAPE (or accuracy, F1 and log loss) are made of;
- drift: every logged value counted into its version's baseline bins (see
  ``_reference``): per feature, one ``count_if`` per bin code.

Every figure is a count or a sum, so partial results of any split of the logs (by file,
by day, by Ray task) add up to the whole exactly.

Windows are cut by ``at`` (when a prediction was made) or, with ``time="event"``, by its
event time (:func:`moment`): a week backfilled today then lands in its own seven days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from shoal.monitor._logs import LogFiles
from shoal.monitor._reference import Reference
from shoal.monitor._window import Span


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def is_number(duckdb_type: str) -> bool:
    """Whether a DuckDB column type (as ``DESCRIBE`` writes it) holds numbers."""
    return any(t in duckdb_type for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL"))


def _listed(paths: Sequence[str]) -> str:
    return ", ".join("'" + p.replace("'", "''") + "'" for p in paths)


def _files(paths: Sequence[str]) -> str:
    return f"read_parquet([{_listed(paths)}], union_by_name = true)"


@dataclass(frozen=True)
class Columns:
    """What the logs hold, read from the Parquet footers before the pass."""

    predictions: dict[str, str]
    feedback: dict[str, str]

    @property
    def classification(self) -> bool:
        kind = self.predictions.get("prediction", "")
        return not is_number(kind)

    @property
    def probabilities(self) -> list[str]:
        return [c for c in self.predictions if c.startswith("proba.")]


def event_seconds(columns: Columns, table: str = "") -> str:
    """SQL for the time a prediction is for, in UNIX seconds: its ``event_at`` where it has
    one, else its ``at`` (older files, and served rows without ``as_of``, have none).

    ``event_at`` is a UTC timestamp as Shoal writes it; text (a file that mixed kinds) is
    read as a time, naive as UTC, so no session time zone enters.
    """
    at = f'epoch({table}"at")'
    kind = columns.predictions.get("event_at")
    if kind is None:
        return at
    event = f'{table}"event_at"'
    if "TIMESTAMP" in kind or kind == "DATE":
        value = f"epoch({event})"
    else:
        value = f"epoch(TRY_CAST({event} AS TIMESTAMP))"
    return f"coalesce({value}, {at})"


def moment(columns: Columns, time: str) -> str:
    """SQL for a prediction's time on a pass's basis, in UNIX seconds: ``at`` (when it was
    made), or with ``time="event"`` the time it is for (:func:`event_seconds`)."""
    return event_seconds(columns) if time == "event" else 'epoch("at")'


def describe(con: duckdb.DuckDBPyConnection, files: LogFiles) -> Columns:
    def schema(paths: list[str]) -> dict[str, str]:
        if not paths:
            return {}
        rows = con.sql(f"DESCRIBE SELECT * FROM {_files(paths)}").fetchall()
        return {row[0]: row[1] for row in rows}

    return Columns(schema(files.predictions), schema(files.feedback))


def build_sql(
    files: LogFiles,
    columns: Columns,
    reference: Reference,
    span: Span,
    dims: Sequence[str],
    part: tuple[int, int] = (0, 1),
    *,
    time: str = "at",
) -> str:
    """Part ``i`` of ``n`` of the pass as one statement (the baselines registered as ``edges``).

    Parts split the models by a hash of their key, so every prediction, actual and
    (version, window) group of a model falls in one part: the parts' rows are disjoint
    and together are the whole pass. ``time`` is what windows are cut by (:func:`moment`).
    """
    seconds = span.seconds
    features = [f.column for f in reference.numeric if f.column != "prediction"]
    features += [f.column for f in reference.categorical]
    keys = [f"key.{d}" for d in dims if f"key.{d}" in columns.predictions]
    wanted = ["version_id", "request_id", "row", "at", "event_at", "prediction", *keys]
    wanted += [*features, *columns.probabilities]
    select = ", ".join(quote(c) for c in dict.fromkeys(wanted) if c in columns.predictions)
    index, parts = part
    t = moment(columns, time)
    where = f"{t} >= {span.start!r} AND {t} < {span.end!r}"
    if parts > 1:
        hashed = ", ".join(f"{quote(k)}::VARCHAR" for k in keys) or "version_id"
        where += f" AND hash({hashed}) % {parts} = {index}"
    ctes = [
        f"p AS (SELECT {select}, floor({t} / {seconds}) * {seconds} AS w "
        f"FROM {_files(files.predictions)} WHERE {where})"
    ]
    ctes += _feedback(files, columns, keys, span, semi_join=parts > 1, time=time)
    labelled = bool(files.feedback) and "actual" in columns.feedback
    ctes.append(_quality(columns, labelled))
    drift = _drift(reference, columns.predictions)
    if drift:
        ctes.append(drift)
        tail = "SELECT * FROM q LEFT JOIN d USING (version_id, w)"
    else:
        tail = "SELECT * FROM q"
    if columns.classification and labelled:
        ctes.append(_f1())
        tail = tail.replace("FROM q", "FROM q LEFT JOIN f1 USING (version_id, w)")
    return "WITH " + ",\n".join(ctes) + "\n" + tail


def _feedback(
    files: LogFiles, columns: Columns, keys: list[str], span: Span, *, semi_join: bool,
    time: str,
) -> list[str]:  # fmt: skip
    fb = columns.feedback
    if not files.feedback or "actual" not in fb:
        return []
    parts = []
    source = _files(files.feedback)
    # A NaN actual of a regression would turn every sum of its (version, window) into NaN;
    # one that is not a number at all (text the server logged as text) is left out too.
    finite = "" if columns.classification else " AND isfinite(TRY_CAST(actual AS DOUBLE))"
    if "request_id" in fb:
        # In a part, only the actuals of this part's requests: the join's hash stays small.
        mine = " AND request_id IN (SELECT request_id FROM p)" if semi_join else ""
        parts.append(
            f'SELECT request_id, "row", actual, "at", 1 AS prio FROM {source} '
            f"WHERE request_id IS NOT NULL{mine}{finite}"
        )
    by_key = [k for k in keys if k in fb]
    if by_key and len(by_key) == len(keys) and "for_time" in fb:
        on = " AND ".join(f"f.{quote(k)}::VARCHAR = p.{quote(k)}::VARCHAR" for k in by_key)
        # An actual refers to the time the event happened: it judges the newest prediction
        # for that time (its event_at, else its at), on either basis.
        event = event_seconds(columns, "p.")
        # Only actuals meant for this span: one for a later time belongs to a prediction
        # after the span, which p does not hold, so the ASOF join would pick the wrong one.
        end = repr(span.end)
        if time == "at" and "event_at" in columns.predictions:
            # p holds what was made in the span, for times that may lie past it (tomorrow's
            # forecast): up to the end of the window of its latest event time.
            latest = event_seconds(columns, "latest.")
            s = span.seconds
            end = f"(SELECT greatest({end}, max(floor({latest} / {s}) * {s} + {s})) FROM p latest)"
        guard = f"WHERE epoch(f.for_time) < {end}{finite.replace('actual', 'f.actual')}"
        if "request_id" in fb:
            guard += " AND f.request_id IS NULL"
        parts.append(
            f'SELECT p.request_id, p."row", f.actual, f."at", 0 AS prio FROM {source} f '
            f"ASOF JOIN p ON {on} AND epoch(f.for_time) >= {event} {guard}"
        )
    if not parts:
        return []
    union = " UNION ALL ".join(parts)
    # The newest actual wins; one given by request id beats one matched by key and time.
    return [
        'fb AS (SELECT request_id, "row", arg_max(actual, (prio, "at")) AS actual '
        f'FROM ({union}) GROUP BY request_id, "row")'
    ]


def _quality(columns: Columns, labelled: bool) -> str:
    head = "SELECT p.version_id, p.w, count(*) AS predictions"
    if not labelled:
        return f"q AS ({head}, 0 AS labelled FROM p GROUP BY ALL)"
    join = 'FROM p LEFT JOIN fb USING (request_id, "row") GROUP BY ALL'
    if columns.classification:
        figures = [
            "count(fb.actual) AS labelled",
            "count_if(p.prediction::VARCHAR = fb.actual::VARCHAR) AS correct",
        ]
        probas = columns.probabilities
        if probas:
            cases = " ".join(
                "WHEN '" + c[len("proba.") :].replace("'", "''") + f"' THEN p.{quote(c)}"
                for c in probas
            )
            figures.append(
                "sum(-ln(greatest(CASE fb.actual::VARCHAR "
                f"{cases} ELSE 0 END, 1e-15))) FILTER (WHERE fb.actual IS NOT NULL) AS sum_log_loss"
            )
        return f"q AS ({head}, {', '.join(figures)} {join})"
    e = "(p.prediction::DOUBLE - TRY_CAST(fb.actual AS DOUBLE))"
    a = "TRY_CAST(fb.actual AS DOUBLE)"
    s = f"(abs({a}) + abs(p.prediction::DOUBLE))"
    ok = "fb.actual IS NOT NULL AND isfinite(p.prediction::DOUBLE)"  # a NaN prediction: left out
    figures = [
        f"count(*) FILTER (WHERE {ok}) AS labelled",
        f"sum(abs({e})) FILTER (WHERE {ok}) AS sum_abs",
        f"sum({e} * {e}) FILTER (WHERE {ok}) AS sum_sq",
        f"sum(abs({e}) / abs({a})) FILTER (WHERE {ok} AND {a} <> 0) AS sum_ape",
        f"count(*) FILTER (WHERE {ok} AND {a} <> 0) AS n_ape",
        f"sum(CASE WHEN {s} > 0 THEN 2 * abs({e}) / {s} ELSE 0 END) FILTER (WHERE {ok}) "
        "AS sum_sape",
    ]
    return f"q AS ({head}, {', '.join(figures)} {join})"


def _f1() -> str:
    """Macro F1 per (version, window): per class, 2·tp / (predicted + actual)."""
    labelled = 'FROM p JOIN fb USING (request_id, "row")'
    return (
        "f1 AS (SELECT version_id, w, avg(2.0 * tp / (np + na)) AS f1 FROM ("
        "SELECT version_id, w, c, sum(tp) AS tp, sum(np) AS np, sum(na) AS na FROM ("
        "SELECT p.version_id, p.w, p.prediction::VARCHAR AS c, "
        f"(p.prediction::VARCHAR = fb.actual::VARCHAR)::INT AS tp, 1 AS np, 0 AS na {labelled} "
        "UNION ALL SELECT p.version_id, p.w, fb.actual::VARCHAR, 0, 0, 1 "
        f"{labelled}) GROUP BY ALL) GROUP BY ALL)"
    )


def _category(column: str, logged: str, top: str) -> str:
    """A logged value as the baseline's categories are written.

    Requests often carry a flag as a number (``"promo": 1.0``) where the training data held
    a bool, and a code as a float where it held an int: compared as text, every value would
    land in "other" and look like total drift. A numeric value is matched as ``true`` or
    ``false`` when the baseline's categories are those, and a whole number without ``.0``.
    """
    if not is_number(logged):
        return f"{column}::VARCHAR"
    return (
        f"CASE WHEN {column} IS NULL THEN NULL "
        f"WHEN {column} = 0 AND list_contains({top}, 'false') THEN 'false' "
        f"WHEN {column} = 1 AND list_contains({top}, 'true') THEN 'true' "
        f"WHEN isfinite({column}::DOUBLE) AND {column} = trunc({column}) "
        f"THEN CAST(CAST({column} AS BIGINT) AS VARCHAR) ELSE {column}::VARCHAR END"
    )


def _drift(reference: Reference, types: dict[str, str]) -> str:
    codes: list[str] = []
    counts: list[str] = []
    for i, f in enumerate(reference.numeric):
        x = f"TRY_CAST(p.{quote(f.column)} AS DOUBLE)"
        small = "UTINYINT" if f.width < 255 else "INTEGER"  # the sum must not overflow
        above = " + ".join(f"({x} > e.n{i}_e{j})::{small}" for j in range(1, f.width + 1))
        codes.append(
            f"CASE WHEN e.n{i}_e0 IS NULL THEN NULL "
            f"WHEN {x} IS NULL OR isnan({x}) THEN {f.width + 2} "
            f"WHEN {x} < e.n{i}_e0 THEN {f.width + 1} ELSE {above} END AS n{i}"
        )
        counts += [f"count_if(n{i} = {k})::BIGINT AS n{i}_{k}" for k in range(f.slots)]
    for i, cat in enumerate(reference.categorical):
        x = _category(f"p.{quote(cat.column)}", types.get(cat.column, ""), f"e.c{i}_top")
        codes.append(
            f"CASE WHEN e.c{i}_top IS NULL THEN NULL WHEN {x} IS NULL THEN {cat.width + 1} "
            f"ELSE coalesce(list_position(e.c{i}_top, {x}), 0) END AS c{i}"
        )
        counts += [f"count_if(c{i} = {k})::BIGINT AS c{i}_{k}" for k in range(cat.slots)]
    if not codes:
        return ""
    return (
        f"coded AS (SELECT p.version_id, p.w, {', '.join(codes)} "
        "FROM p JOIN edges e USING (version_id)),\n"
        f"d AS (SELECT version_id, w, {', '.join(counts)} FROM coded GROUP BY ALL)"
    )


def run(
    files: LogFiles,
    columns: Columns,
    reference: Reference,
    span: Span,
    dims: Sequence[str],
    *,
    con: duckdb.DuckDBPyConnection,
    parts: int = 1,
    time: str = "at",
    report: Callable[[str], None] | None = None,
) -> pa.Table:
    """Run the pass in ``parts`` parts; one row per (version, window) that logged predictions.

    Parts bound the memory a pass needs (the aggregation state and the feedback join's
    hash table are a part's, not the fleet's); their rows are disjoint, so they are
    concatenated, not merged.
    """
    con.register("edges", reference.table())
    try:
        tables = []
        for index in range(parts):
            if report is not None and parts > 1:
                report(f"part {index + 1} of {parts}")
            sql = build_sql(files, columns, reference, span, dims, (index, parts), time=time)
            tables.append(con.sql(sql).to_arrow_table())
    finally:
        con.unregister("edges")
    return pa.concat_tables(tables, promote_options="permissive")


def predicted_rows(con: duckdb.DuckDBPyConnection, files: LogFiles) -> int:
    """Rows in the prediction files, from their Parquet footers (no data read)."""
    found = con.sql(
        f"SELECT sum(num_rows) FROM parquet_file_metadata([{_listed(files.predictions)}])"
    ).fetchall()
    return int(found[0][0] or 0)


def connect(
    *, threads: int | None, memory_limit: str | None, filesystem: object = None,
    spill: str | None = None,
) -> duckdb.DuckDBPyConnection:  # fmt: skip
    """A private in-memory DuckDB with the pass's limits (and the logs' fsspec filesystem).

    Past ``memory_limit`` DuckDB spills to ``spill`` (a folder the caller owns and removes;
    by default DuckDB would pick ``.tmp`` in the working directory).
    """
    con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
    if spill:
        con.execute("SET temp_directory = ?", [spill])
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    if filesystem is not None:
        con.register_filesystem(filesystem)
    return con
