"""Scoring one part: group its rows by key, check them, predict each key in one call, write.

Per part, the work is columnar where it can be and per key only where it must be:

1. read the part (one Parquet file, a slice of a large file or of a frame), number its
   rows (``row``: where each row stood, so answers go back in input order and feedback
   can name a row), and group it by key in one stable sort;
2. convert it to pandas once; per distinct signature, select its columns once and find
   rows with a missing or infinite feature once (a mask), so per key what remains is a
   slice, a model lookup and one ``predict`` call;
3. assemble the answers as Arrow columns, put them back in input order, and write the
   part's output file (under a temporary name, then renamed) and its prediction-log
   rows (one file per event day, see :mod:`shoal.logs`).

What fails is a key's problem, never the part's: a key without a version, rows its
signature refuses, rows with a non-finite feature, a model that raises. The rest is
scored. A part returns counts and problems, and its scored rows only when the caller
keeps them in memory (``Job.keep``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shoal import faults
from shoal import logs as log_files
from shoal.artifacts import ArtifactStore, BlobRef
from shoal.data import fingerprint, key_groups
from shoal.errors import InvalidInput
from shoal.flavors import Signature, get_flavor
from shoal.score._input import Part, filesystem, read_part
from shoal.score._log_rows import ROW, log_rows
from shoal.score._result import FAILED, NO_VERSION, NON_FINITE, SIGNATURE, KeyProblem
from shoal.score._staging import log_tag
from shoal.train._book import key_strings

ADDED = ("prediction", "version", "request_id", ROW)
"""Columns scoring adds to every scored row (plus ``proba.<class>`` for classifiers)."""
_ORDER = "__shoal_row__"


@dataclass(frozen=True)
class Job:
    """What every part of one run shares (pickled once per worker for Ray)."""

    run_id: int
    tenant: str
    fleet: str
    dims: tuple[str, ...]
    by: tuple[str, ...]
    allow_pickle: bool
    url: str | None
    schema: pa.Schema
    made_at: dt.datetime
    as_of: dt.datetime | None = None
    time_column: str | None = None
    staging: str | None = None
    """Where output files go (the staging folder's data tree); None: kept in memory."""
    origin: int = 0
    """The run that began this scoring (this one, or the one a resume continues): names
    request ids and log files, so every attempt at a part writes the same ones."""
    logs: str | None = None
    keep: bool = False


@dataclass
class PartResult:
    """One part's figures (and its scored rows when the run keeps them)."""

    index: int
    rows_in: int = 0
    rows_scored: int = 0
    keys_scored: int = 0
    problems: list[KeyProblem] = field(default_factory=list)
    problem_rows: Counter[str] = field(default_factory=Counter)
    problem_keys: Counter[str] = field(default_factory=Counter)
    version_ids: set[int] = field(default_factory=set)
    table: pa.Table | None = None
    file: str | None = None
    log_files: int = 0
    fingerprint: str = ""
    seconds: float = 0.0

    KEPT = 100
    """Problems a part's record keeps in full (all are counted)."""

    def add(self, problem: KeyProblem) -> None:
        self.problems.append(problem)
        self.problem_rows[problem.reason] += problem.rows
        self.problem_keys[problem.reason] += 1

    def summary(self) -> dict[str, Any]:
        """The part's figures as JSON: what a resume adds back for a part it skips."""
        return {
            "rows_in": self.rows_in, "rows_scored": self.rows_scored,
            "keys_scored": self.keys_scored, "problem_rows": dict(self.problem_rows),
            "problem_keys": dict(self.problem_keys), "version_ids": sorted(self.version_ids),
            "problems": [vars(p) for p in self.problems[: self.KEPT]], "file": self.file,
            "log_files": self.log_files, "fingerprint": self.fingerprint,
        }  # fmt: skip

    @classmethod
    def from_summary(cls, index: int, data: dict[str, Any]) -> PartResult:
        return cls(
            index, rows_in=int(data["rows_in"]), rows_scored=int(data["rows_scored"]),
            keys_scored=int(data["keys_scored"]),
            problems=[KeyProblem(**p) for p in data.get("problems", [])],
            problem_rows=Counter(data.get("problem_rows", {})),
            problem_keys=Counter(data.get("problem_keys", {})),
            version_ids=set(data.get("version_ids", [])), file=data.get("file"),
            log_files=int(data.get("log_files", 0)), fingerprint=str(data["fingerprint"]),
        )  # fmt: skip


class Models:
    """Loaded models by version id, least recently used out past ``size``: one per process.

    A fleet's version usually appears in one part (a folder partitioned by store, keys of
    store and product), so this rarely hits; it exists so a key whose rows span parts is
    loaded once, not once per part. Small (256), so memory follows the parts in flight, not
    the fleet: a part's own models are held by the part while it runs.
    """

    def __init__(self, artifacts: ArtifactStore, allow_pickle: bool, size: int = 256) -> None:
        self.artifacts = artifacts
        self.allow_pickle = allow_pickle
        self.size = size
        self._models: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def load(self, rows: list[Mapping[str, Any]]) -> dict[int, Any | Exception]:
        """The models of ``rows`` by version id: cached ones, the rest read in one
        ``get_many`` (nearby blobs of a pack share a read). A model that fails to load is
        its key's problem: its exception is returned in its place."""
        out: dict[int, Any | Exception] = {}
        wanted: list[Mapping[str, Any]] = []
        with self._lock:
            for row in rows:
                vid = int(row["version_id"])
                model = self._models.get(vid)
                if model is not None:
                    self._models.move_to_end(vid)
                    out[vid] = model
                elif vid not in out:
                    out[vid] = None
                    wanted.append(row)
        if not wanted:
            return out
        refs = [self._ref(row) for row in wanted]
        try:
            blobs: list[bytes | Exception] = list(self.artifacts.get_many(refs))
        except Exception:  # one bad blob: read each alone, so the others still load
            blobs = [self._one(ref) for ref in refs]
        loaded = []
        for row, data in zip(wanted, blobs, strict=True):
            vid = int(row["version_id"])
            try:
                if isinstance(data, Exception):
                    raise data
                out[vid] = get_flavor(row["flavor"]).load(data, allow_pickle=self.allow_pickle)
                loaded.append(vid)
            except Exception as exc:
                out[vid] = exc
        with self._lock:
            self.loads += len(loaded)
            for vid in loaded:
                self._models[vid] = out[vid]
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return out

    def _ref(self, row: Mapping[str, Any]) -> BlobRef:
        if row["pack"] is None and row["offset"] is None:
            return self.artifacts.locate(row["artifact_sha256"])
        return BlobRef(row["artifact_sha256"], row["artifact_size"], row["pack"],
                       row["offset"] or 0)  # fmt: skip

    def _one(self, ref: BlobRef) -> bytes | Exception:
        try:
            return self.artifacts.get(ref)
        except Exception as exc:
            return exc


_SIGNATURES: dict[Any, Signature | None] = {}


def signature_of(raw: Any) -> Signature | None:
    """A stored signature, parsed once per distinct one (a fleet's versions share a few):
    keyed by its names and dtypes as a tuple, which is cheaper to build than a parse."""
    if not raw:
        return None
    try:
        key: Any = (tuple((i["name"], i["dtype"]) for i in raw["inputs"]), raw.get("output"))
    except (KeyError, TypeError, AttributeError):
        return Signature.from_dict(raw)  # its error names what is wrong
    found = _SIGNATURES.get(key)
    if found is None:
        found = _SIGNATURES[key] = Signature(key[0], key[1])
    return found


def score_part(
    job: Job, part: Part, versions: Mapping[tuple[str, ...], Mapping[str, Any]], models: Models
) -> PartResult:
    """Score one part (module doc); never raises for a key's fault."""
    began = time.perf_counter()
    result = PartResult(part.index)
    try:
        table = read_part(job.url, job.schema, part)
    except (pa.ArrowException, OSError) as exc:  # a truncated file, a lost connection
        where = part.path or f"part {part.index}"
        raise InvalidInput(f"cannot read {where}: {type(exc).__name__}: {exc}; the parts "
                           "done so far are kept: fix it and run the same scoring again",
                           field="data") from exc  # fmt: skip
    result.rows_in = table.num_rows
    result.fingerprint = fingerprint(table)
    table = table.append_column(_ORDER, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    groups = key_groups(table, list(job.by), fingerprints=False)
    ordered = groups.table
    frame = ordered.to_pandas(split_blocks=True, self_destruct=False)
    picked: dict[Signature | None, tuple[pd.DataFrame | None, np.ndarray | None, str]] = {}
    taken: list[np.ndarray] = []
    answers: list[np.ndarray] = []
    numbers: list[np.ndarray] = []
    vids: list[np.ndarray] = []
    probas: list[tuple[list[str], np.ndarray] | None] = []
    logged: set[str] = set()
    texts: list[tuple[str, ...]] = []
    found = [versions.get(key_strings(key)) for key in groups.keys]
    loaded = models.load([row for row in found if row is not None])
    for key, row, start, stop in zip(groups.keys, found, groups.starts, groups.stops,
                                     strict=True):  # fmt: skip
        text = key_strings(key)
        shown = dict(zip(job.dims, text, strict=True))
        if row is None:
            result.add(KeyProblem(shown, NO_VERSION, stop - start,
                                              "no version at the alias for this key"))  # fmt: skip
            continue
        signature = signature_of(row["signature"])
        if signature not in picked:
            picked[signature] = _features(frame, signature, job)
        X_all, bad, why = picked[signature]
        if X_all is None or bad is None:
            result.add(KeyProblem(shown, SIGNATURE, stop - start, why))
            continue
        rows = np.arange(start, stop)
        dropped = int(bad[start:stop].sum())
        if dropped:
            why = "rows with a missing, NaN or infinite feature"
            result.add(KeyProblem(shown, NON_FINITE, dropped, why))
            rows = rows[~bad[start:stop]]
            if not len(rows):
                continue
        X = X_all.iloc[start:stop] if not dropped else X_all.iloc[rows]
        try:
            model = loaded[int(row["version_id"])]
            if isinstance(model, Exception):
                raise model
            flavor = get_flavor(row["flavor"])
            predicted = np.asarray(flavor.predict(model, X))
            if len(predicted) != len(rows):
                raise InvalidInput(f"the model returned {len(predicted)} predictions for "
                                   f"{len(rows)} rows")  # fmt: skip
        except Exception as exc:  # the key's fault (or its model's), not the run's
            result.add(KeyProblem(shown, FAILED, len(rows), f"{type(exc).__name__}: {exc}"[:500]))
            continue
        try:
            proba = _proba(flavor, model, X)
        except Exception:  # probabilities are extra: the predictions stand without them
            proba = None
        taken.append(rows)
        answers.append(predicted)
        numbers.append(np.full(len(rows), row["number"], np.int64))
        vids.append(np.full(len(rows), row["version_id"], np.int64))
        probas.append(proba)
        texts.append(text)
        result.version_ids.add(int(row["version_id"]))
        result.keys_scored += 1
        logged.update(signature.names if signature is not None else _default_features(job))
    if taken:
        _assemble(job, part, result, ordered, taken, answers, numbers, vids, probas, logged,
                  texts)  # fmt: skip
    result.seconds = time.perf_counter() - began
    return result


def _default_features(job: Job) -> list[str]:
    skip = {*job.by, _ORDER}
    if job.time_column:
        skip.add(job.time_column)
    return [n for n in job.schema.names if n not in skip]


def _features(
    frame: pd.DataFrame, signature: Signature | None, job: Job
) -> tuple[pd.DataFrame | None, np.ndarray | None, str]:
    """A signature's columns of the whole part (selected once), and which rows are unfit."""
    names = signature.names if signature is not None else _default_features(job)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        return None, None, (
            f"the data has no column(s) {missing} that this version takes ({names})"
        )  # fmt: skip
    X = frame[names]
    if signature is not None:
        try:
            signature.validate(X)
        except InvalidInput as exc:
            return None, None, str(exc)
    if len(names) > 1 and all(pd.api.types.is_float_dtype(X[n].dtype) for n in names):
        # One float block: a key's slice is then a view of it, not a copy per key.
        X = pd.DataFrame(X.to_numpy(dtype=np.float64), columns=names, index=X.index)
    bad = np.zeros(len(X), dtype=bool)
    for name in names:
        column = X[name]
        if pd.api.types.is_float_dtype(column.dtype):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            bad |= ~np.isfinite(values)
        else:
            bad |= column.isna().to_numpy()
    return X, bad, ""


def _proba(flavor: Any, model: Any, X: pd.DataFrame) -> tuple[list[str], np.ndarray] | None:
    method: Callable[[Any, pd.DataFrame], Any] | None = getattr(flavor, "predict_proba", None)
    if method is None:
        return None
    found = method(model, X)
    if found is None:
        return None
    classes, matrix = found
    return [str(c) for c in classes], np.asarray(matrix, dtype=float)


def _column(parts: list[np.ndarray]) -> pa.Array[Any]:
    """Predictions of every key as one Arrow column (numbers, or labels as their text)."""
    try:
        joined = np.concatenate(parts)
    except (TypeError, ValueError):
        joined = np.concatenate([p.astype(object) for p in parts])
    column: pa.Array[Any]
    if joined.dtype != object:
        column = pa.array(joined)
        return column
    try:
        column = pa.array(joined.tolist())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        column = pa.array([None if v is None else str(v) for v in joined.tolist()], pa.string())
    return column


def _assemble(
    job: Job, part: Part, result: PartResult, ordered: pa.Table, taken: list[np.ndarray],
    answers: list[np.ndarray], numbers: list[np.ndarray], vids: list[np.ndarray],
    probas: list[tuple[list[str], np.ndarray] | None], logged: set[str],
    texts: list[tuple[str, ...]],
) -> None:  # fmt: skip
    """The scored rows, in input order, with their answers; written where the run says."""
    index = np.concatenate(taken)
    scored = ordered.take(pa.array(index))
    original = scored.column(_ORDER).to_numpy()
    order = np.argsort(original, kind="stable")
    request_id = f"batch-{job.origin or job.run_id}-{part.index}"
    added: dict[str, pa.Array[Any]] = {
        "prediction": _column(answers),
        "version": pa.array(np.concatenate(numbers)),
    }
    classes = sorted({c for p in probas if p is not None for c in p[0]})
    for name in classes:
        values = np.full(len(index), np.nan)
        at = 0
        for p, rows in zip(probas, taken, strict=True):
            if p is not None and name in p[0]:
                values[at : at + len(rows)] = p[1][:, p[0].index(name)]
            at += len(rows)
        added[f"proba.{name}"] = pa.array(values, from_pandas=True)
    version_ids = pa.array(np.concatenate(vids))
    take: pa.Array[Any] = pa.array(order, pa.int64())
    body = scored.drop_columns([_ORDER]).take(take)
    tail = {name: column.take(take) for name, column in added.items()}
    rows = pa.array(original[order])
    out = body
    for name in ("prediction", "version"):
        out = _put(out, name, tail[name])
    out = _put(out, "request_id", pa.array([request_id] * len(index), pa.string()))
    out = _put(out, ROW, rows)
    for name in classes:
        out = _put(out, f"proba.{name}", tail[f"proba.{name}"])
    result.rows_scored = out.num_rows
    if job.logs is not None:
        counts = [len(rows) for rows in taken]
        keys = {dim: pa.array(np.repeat(np.array([t[i] for t in texts], dtype=object), counts),
                              pa.string()).take(take)
                for i, dim in enumerate(job.dims)}  # fmt: skip
        table = log_rows(job, body, out, version_ids.take(take), logged, classes, keys)
        tag = log_tag(job.origin or job.run_id, part.index)
        result.log_files = len(log_files.write_predictions(job.logs, job.tenant, job.fleet,
                                                           table, tag))  # fmt: skip
        faults.point("score.part_logged")
    if job.staging is not None:
        written = out.drop_columns([n for n in part.hive if n in out.column_names])
        fs, root = filesystem(job.staging)
        folder, _, name = f"{root.rstrip('/')}/{part.relative}".rpartition("/")
        log_files.write_named(fs, folder, name, log_files.parquet_bytes(written))
        result.file = part.relative
    if job.keep:
        result.table = out


def _put(table: pa.Table, name: str, column: pa.Array[Any]) -> pa.Table:
    """Add ``name`` (replacing an input column of that name: the answer wins)."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, column)
    return table.append_column(name, column)
