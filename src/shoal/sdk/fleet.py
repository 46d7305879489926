"""A :class:`Fleet`: one handle for registering, searching and promoting its models."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput
from shoal.registry import (
    FleetRef,
    Moved,
    Registry,
    Where,
    check_before,
    check_limit,
    parse_filter,
)
from shoal.sdk import facets
from shoal.sdk.champion import Comparison, compare_aliases
from shoal.sdk.facets import FacetCounts
from shoal.sdk.history import MoveRecord, Run
from shoal.sdk.housekeeping import VersionLifecycle
from shoal.sdk.readouts import FleetReadouts
from shoal.sdk.results import AliasMove, EvalResult, ModelVersion, Page, Registered
from shoal.sdk.scoring import FleetScoring

if TYPE_CHECKING:
    from shoal.sdk.client import Client
    from shoal.train import Executor

Target = tuple[Any, int | None]
_ID = attrgetter("id")
"""The cursor of a listing by id (runs, alias moves)."""


class Fleet(VersionLifecycle, FleetReadouts, FleetScoring):
    """Models that do one job, told apart by key values, e.g. ``demand`` by (store, sku).

    ``archive``, ``restore`` and ``delete_versions`` come from
    :class:`~shoal.sdk.housekeeping.VersionLifecycle`; ``monitor``, ``monitoring``, ``alerts``,
    ``cards``, ``report``, ``export`` and ``iter_export`` from
    :class:`~shoal.sdk.readouts.FleetReadouts`.
    """

    def __init__(self, client: Client, ref: FleetRef) -> None:
        self._client = client
        self.ref = ref

    def __repr__(self) -> str:
        return f"Fleet({self.path!r}, keys={list(self.keys)})"

    @property
    def path(self) -> str:
        return self.ref.path

    @property
    def keys(self) -> tuple[str, ...]:
        return self.ref.keys

    @property
    def _registry(self) -> Registry:
        return self._client.registry

    # -- registering --------------------------------------------------------------------------

    def register(
        self, versions: Iterable[Any], *, request_id: str | None = None
    ) -> list[Registered]:
        """Register many versions in one call: all of them, or none if any is wrong.

        Each item is a dict or :class:`shoal.VersionSpec` with ``key`` and either
        ``model`` or ``artifact`` bytes, plus optional ``params``, ``metrics``, ``tags``,
        ``run``, ``dataset``, ``slice_fingerprint``, ``code_ref``, ``parent``, ``version``.

        ``request_id`` makes retries safe: a call repeated with the same id (after a
        timeout, say) returns the versions the first call registered, and registers
        nothing new; the same id with other versions is a Conflict.
        """
        placed = self._registry.versions.register(self.ref, versions, request_id=request_id)
        return [
            Registered(key=dict(zip(self.keys, spot.key, strict=True)), version=spot.number,
                       id=spot.version_id, model_id=spot.model_id)
            for spot in placed
        ]  # fmt: skip

    # -- reading ------------------------------------------------------------------------------

    def parse(self, where: str | None) -> Where:
        """``where`` parsed once into the tree :meth:`search`, :meth:`count` and
        :meth:`facets` also take, for a caller that asks several of one filter (a page
        that lists, counts and facets); a syntax error is a ``FilterSyntaxError`` naming
        the position. Names are checked against the fleet where the tree is used."""
        return parse_filter(where) if where and where.strip() else None

    def search(
        self,
        where: Where = None,
        *,
        sort: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        versions: str = "latest",
    ) -> Page[ModelVersion]:
        """One page of versions matching ``where`` (see the filter grammar in the docs)."""
        rows, next_cursor = self._registry.versions.search(
            self.ref, where=where, sort=sort, limit=limit, cursor=cursor, versions=versions
        )
        return Page([ModelVersion.from_row(self.path, row) for row in rows], next_cursor)

    def iter_search(
        self, where: Where = None, *, sort: str | None = None, page_size: int = 500,
        versions: str = "latest",
    ) -> Iterator[ModelVersion]:  # fmt: skip
        """Every matching version, page by page (keyset cursors, never OFFSET)."""
        cursor = None
        while True:
            page = self.search(where, sort=sort, limit=page_size, cursor=cursor,
                               versions=versions)  # fmt: skip
            yield from page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def count(self, where: Where = None, *, versions: str = "latest") -> int:
        return self._registry.versions.count(self.ref, where=where, versions=versions)

    def facets(self, dim: str, where: Where = None, **page: Any) -> FacetCounts:
        """Models per value of key dimension or tag ``dim``, largest first: a page with
        ``next_cursor`` (``limit``, ``search``, ``cursor``, ``order``, ``versions``; see
        :func:`shoal.sdk.facets.facets`)."""
        return facets.facets(self, dim, where, **page)

    def get(
        self, key: Any, *, alias: str | None = None, version: int | None = None
    ) -> ModelVersion:
        """The version a key resolves to: ``alias``, ``version`` number, or the latest."""
        row = self._registry.versions.resolve(self.ref, key, alias=alias, version=version)
        return ModelVersion.from_row(self.path, row)

    def versions(
        self, key: Any, *, limit: int | None = None, before: int | None = None
    ) -> Page[ModelVersion]:
        """Versions of one model, newest first: every one, or a page of ``limit`` numbered
        below ``before``; ``next_cursor`` is the number to pass as ``before`` for the next
        page (None after the last)."""
        wanted = None if limit is None else check_limit(limit) + 1
        rows = self._registry.versions.history(
            self.ref, key, limit=wanted, before=check_before(before)
        )
        items = [ModelVersion.from_row(self.path, r) for r in rows]
        if limit is None:
            return Page(items, None)
        return Page.read_ahead(items, limit, lambda v: v.version)

    def load_model(
        self, key: Any, *, alias: str | None = None, version: int | None = None,
        trusted: Sequence[str] = (),
    ) -> Any:  # fmt: skip
        """Load the model a key resolves to, verified against its content hash."""
        row = self._registry.versions.resolve(self.ref, key, alias=alias, version=version)
        return self._registry.versions.load(self.ref, row, trusted=trusted)

    # -- aliases ------------------------------------------------------------------------------

    def set_alias(
        self,
        alias: str,
        targets: Iterable[Target | ModelVersion] | Mapping[Any, int | None],
        *,
        expected: Mapping[Any, int | None] | None = None,
        dry_run: bool = False,
        create: bool = False,
    ) -> AliasMove:
        """Point ``alias`` at many (key, version number) pairs in one transaction.

        ``version None`` means the model's latest version. ``expected`` maps keys to the
        version number you last saw (None: no alias): if any differs, nothing moves.
        An alias no model of the fleet carries yet is refused unless ``create=True``.
        """
        moved = self._registry.aliases.set(
            self.ref, alias, _targets(targets),
            expected=None if expected is None else dict(expected.items()), dry_run=dry_run,
            create=create,
        )  # fmt: skip
        return self._move(alias, moved, dry_run=dry_run)

    def promote(
        self,
        alias: str,
        where: str | None = None,
        *,
        all: bool = False,
        source: str | None = None,
        dry_run: bool = False,
        create: bool = False,
        preview: int = 20,
    ) -> AliasMove:
        """Move ``alias`` to the ``source`` version of every model ``where`` selects.

        A filter is required; ``all=True`` moves every model of the fleet instead.
        ``source`` defaults to the one other alias the filter compares (so
        ``where="candidate.mape < production.mape"`` promotes the candidate), else each
        model's latest version. A dry run says what would move and changes nothing;
        a real move returns ``move_id`` for :meth:`undo`. A move that would start an
        alias no model carries yet (a typo?) is refused unless ``create=True``.
        """
        moved = self._registry.aliases.promote(
            self.ref, alias, where=where, everything=all, source=source, dry_run=dry_run,
            create=create,
        )  # fmt: skip
        return self._move(alias, moved, dry_run=dry_run, preview=preview)

    def _move(self, alias: str, moved: Moved, *, dry_run: bool, preview: int = 20) -> AliasMove:
        shown = self._registry.aliases.describe(self.ref, moved.changes, preview) if preview else []
        result = moved.result
        return AliasMove(self.path, alias, result.moved, result.unchanged, result.move_id,
                         dry_run=dry_run, source=moved.source, preview=shown,
                         creates=moved.creates, notes=list(moved.notes),
                         metric_change=list(moved.metric_change))  # fmt: skip

    def compare_aliases(self, a: str, b: str, metric: str, **options: Any) -> Comparison:
        """Champion ``a`` against challenger ``b``, model by model: see :func:`compare_aliases`."""
        return compare_aliases(self, a, b, metric, **options)

    def undo(self, move_id: int) -> AliasMove:
        """Put back an alias move, except where the alias has moved again since."""
        result = self._registry.aliases.undo(self.ref, move_id)
        return AliasMove(self.path, result.alias, result.moved, 0, result.move_id,
                         skipped=result.skipped, source="undo")  # fmt: skip

    def alias_moves(self, limit: int = 50, *, before: int | None = None) -> Page[MoveRecord]:
        """A page of the fleet's alias moves, newest first: ``limit`` of them with an id
        below ``before``; ``next_cursor`` is the ``before`` of the next page."""
        rows = self._registry.aliases.moves(self.ref, check_limit(limit) + 1, check_before(before))
        return Page.read_ahead([MoveRecord.from_row(self.path, r) for r in rows], limit, _ID)

    def metric_histogram(self, name: str, where: Where = None, **options: Any) -> dict[str, Any]:
        """How a metric spreads over the models ``where`` selects (``bins``, ``versions``;
        see :func:`shoal.sdk.facets.metric_histogram`)."""
        return facets.metric_histogram(self, name, where, **options)

    def coverage(self) -> dict[str, int]:
        """How many models carry each alias."""
        return self._registry.aliases.coverage(self.ref)

    # -- training -----------------------------------------------------------------------------

    def train(
        self,
        data: Any,
        fn: Callable[[Any], Any] | str,
        *,
        by: Sequence[str] | None = None,
        executor: str | Executor = "local",
        workers: int | None = None,
        max_retries: int = 1,
        timeout_per_key: float | None = None,
        resume: int | Run | None = None,
        batch_size: int = 500,
        dataset_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        progress: bool = True,
        take_over: bool = False,
    ) -> Run:
        """Train ``fn`` once per key of ``data`` and register every model, with lineage.

        ``data`` is a pandas, polars or Arrow frame, or a path to a Parquet file or folder
        (read one file at a time when each key's rows lie in one file, else shuffled by key
        into temporary buckets first: memory holds one file or one bucket).
        ``fn(frame)`` gets one key's rows as a pandas frame and returns a fitted model, or
        a dict or :class:`shoal.TrainResult` with ``model`` and optional ``metrics``,
        ``params``, ``tags``, ``flavor``. ``by`` names the columns holding the fleet's
        keys (default: columns named like the keys).

        The input is registered as dataset ``dataset_name`` (default ``FLEET-train``);
        each version records the run, the dataset, its key's slice fingerprint and the
        slice's baseline profile. Results are registered in batches of ``batch_size`` as
        they complete. A key that raises is retried ``max_retries`` times, then recorded
        with its traceback; it never stops the others. Ctrl-C marks the run interrupted
        and keeps what finished; ``resume=run`` trains only that run's missing or failed
        keys, continuing the same run. ``params`` (JSON: hyperparameters every key shares,
        say) are recorded on the run beside what it records of itself (``run.params``).

        This process holds the run by a lease while it trains (renewed as it goes; see
        ``SHOAL_RUN_LEASE_SECONDS``). A resume of a run another live process holds is
        refused with :class:`shoal.Conflict` naming the holder; ``take_over=True`` takes
        it anyway, and that process stops at its next write. A run whose process died
        shows as ``interrupted`` once its lease expires, and a resume trains each of its
        missing keys once.

        ``executor="local"`` runs ``workers`` processes (default: every CPU), ``workers=1``
        trains in this process. Worker processes take any ``fn`` (a lambda, a closure, a
        function of a notebook), pickled once by cloudpickle; a script that trains with
        workers must do so under ``if __name__ == "__main__":`` (docs/training.md).
        ``executor="ray"`` runs on Ray (see ``docs/scale-out.md``). ``fn`` may also be a
        name, ``"package.module:function"``; the run records the name of an importable
        ``fn`` and the path of Parquet input, so :meth:`resume` needs neither again.
        """
        from shoal.train import TrainOptions, get_executor, load_function, train_fleet

        if isinstance(fn, str):
            fn = load_function(fn)

        options = TrainOptions(
            by=tuple(self.keys if by is None else _columns(by)), max_retries=max_retries,
            timeout_per_key=timeout_per_key, batch_size=batch_size,
            dataset_name=dataset_name, progress=progress,
            params=None if params is None else dict(params) if isinstance(params, Mapping)
            else params,
        )  # fmt: skip
        resume_id = resume.id if isinstance(resume, Run) else resume
        run_id = train_fleet(
            self._registry, self.ref, data, fn, get_executor(executor, workers), options,
            resume=resume_id, take_over=take_over,
        )  # fmt: skip
        return self._client.run(run_id)

    def resume(
        self,
        run: int | Run,
        *,
        data: Any = None,
        fn: Callable[[Any], Any] | str | None = None,
        executor: str | Executor | None = None,
        workers: int | None = None,
        progress: bool = True,
        take_over: bool = False,
    ) -> Run:
        """Continue ``run``: train its failed and missing keys, as :meth:`train` was asked to.

        ``data`` and ``fn`` default to what the run recorded (its Parquet path, its
        function's ``module:function`` name); a run trained on a frame in memory, or with a
        lambda or closure, needs them given. ``by``, ``max_retries``, ``timeout_per_key``,
        ``batch_size`` and (unless given) ``executor`` and ``workers`` are the run's own.
        A run another live process holds (still ``running``) is refused with
        :class:`shoal.Conflict` naming the holder, unless ``take_over=True``: then that
        process is refused at its next write and stops.
        """
        record = self._client.run(run.id if isinstance(run, Run) else run)
        if record.kind != "train":
            raise InvalidInput(
                f"run {record.id} is a {record.kind!r} run; resume takes a training run "
                f"(shoal runs {self.path} lists them)",
                field="run",
            )
        if record.fleet is None:
            raise InvalidInput(f"run {record.id} belongs to no fleet", field="run")
        if record.fleet != self.path:
            raise InvalidInput(
                f"run {record.id} trained fleet '{record.fleet}', not '{self.path}'; resume "
                f"it with client.fleet('{record.fleet}').resume({record.id})",
                field="run",
            )
        params = record.params
        data = params.get("data") if data is None else data
        fn = params.get("fn") if fn is None else fn
        refused = f"run {record.id} cannot be resumed as it is"
        if data is None:
            raise InvalidInput(
                f"{refused}: it trained on a frame in memory: pass data= (--data)", field="data"
            )
        if fn is None:
            raise InvalidInput(
                f"{refused}: its function has no importable name (a lambda, a closure or "
                "__main__): pass fn= (--fn package.module:function)",
                field="fn",
            )
        saved_executor = params.get("executor", "local")
        if executor is None and saved_executor in ("in-process", "local"):
            executor, workers = "local", workers or params.get("workers") or None
        return self.train(
            data, fn, by=params.get("by") or None,
            executor=executor or saved_executor, workers=workers,
            max_retries=int(params.get("max_retries", 1)),
            timeout_per_key=params.get("timeout_per_key"),
            batch_size=int(params.get("batch_size", 500)), resume=record.id, progress=progress,
            dataset_name=params.get("dataset_name"), take_over=take_over,
        )  # fmt: skip

    def evaluate(
        self,
        data: Any,
        *,
        alias: str = "candidate",
        metrics: Sequence[str] | None = None,
        target: str = "y",
        by: Sequence[str] | None = None,
        prefix: str | None = None,
        progress: bool = True,
    ) -> EvalResult:
        """Score each key's version at ``alias`` on a holdout and record the figures on it.

        ``data`` (a frame, or a Parquet file or folder) is grouped by the fleet's keys (or
        the columns ``by`` names); each key's version at ``alias`` (all resolved in one
        query) predicts that key's rows with its flavor, from its signature's inputs, else
        every column but the keys and ``target``. ``metrics`` are regression figures
        (``mae``, ``rmse``, ``mape`` as a fraction with zero actuals left out, ``smape``)
        or classification ones (``accuracy``, macro ``f1``); by default the first four for
        a numeric target, the other two for a text or bool one (integer class labels:
        pass ``metrics=["accuracy", "f1"]``). They are recorded as metrics of that version
        named ``prefix + name`` (default ``eval_``), so
        ``promote("production", where="candidate.eval_mape < production.eval_mape")``
        compares holdout figures. These are the only metrics added to a version after
        registration; evaluating again overwrites them. Keys with no version at ``alias``
        are skipped; a key whose load or predict fails is an error, never an abort.
        """
        from shoal.train import EvalOptions, evaluate_fleet

        options = EvalOptions(
            by=tuple(self.keys if by is None else _columns(by)), alias=alias,
            metrics=None if metrics is None else
            (metrics,) if isinstance(metrics, str) else tuple(metrics), target=target,
            prefix="eval_" if prefix is None else prefix, progress=progress,
        )  # fmt: skip
        found = evaluate_fleet(self._registry, self.ref, data, options)
        return EvalResult(alias=alias, evaluated=found.evaluated, skipped=found.skipped,
                          failed=found.failed, errors=found.errors, seconds=found.seconds,
                          summary=found.summary)  # fmt: skip

    def retrain(
        self,
        data: Any = None,
        fn: Callable[[Any], Any] | str | None = None,
        *,
        where: str = "alert.open",
        rule: str | None = None,
        alias: str = "candidate",
        by: Sequence[str] | None = None,
        executor: str | Executor = "local",
        workers: int | None = None,
        max_retries: int = 1,
        timeout_per_key: float | None = None,
        params: Mapping[str, Any] | None = None,
        progress: bool = True,
    ) -> Run | None:
        """Train ``fn`` again for the models with an unresolved alert (of ``rule``, or any),
        on their rows of ``data``, and point ``alias`` at the new versions; None when no
        model has an alert. ``data``, ``fn`` and ``by`` default to what the newest
        training run recorded; the rest mean what they mean in :meth:`train`."""
        from shoal.sdk.monitoring import retraining

        found = retraining(self, data, fn, where=where, rule=rule, by=by)
        if found is None:
            return None
        run = self.train(
            found.rows, found.fn, by=found.by, dataset_name=f"{self.ref.name}-retrain",
            executor=executor, workers=workers, max_retries=max_retries,
            timeout_per_key=timeout_per_key, params=params, progress=progress,
        )  # fmt: skip
        if run.done:
            self.promote(alias, f"run = {run.id}", create=True)
        return run

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, kind: str = "train", params: dict[str, Any] | None = None) -> int:
        """Open a run to name as the lineage of the versions it registers."""
        return self._registry.runs.start(self.ref, kind, params=params)

    def runs(self, limit: int = 50, *, before: int | None = None) -> Page[Run]:
        """A page of the fleet's runs of every kind, newest first (without their per-key
        errors): ``limit`` of them with an id below ``before``; ``next_cursor`` is the
        ``before`` of the next page."""
        rows = self._registry.runs.list(self.ref, check_limit(limit) + 1, check_before(before))
        return Page.read_ahead([Run.from_row(row) for row in rows], limit, _ID)


def _columns(by: Any) -> list[str]:
    if isinstance(by, str):
        raise InvalidInput(f"by must be a list of column names, got {by!r}; use by=[{by!r}]",
                           field="by")  # fmt: skip
    return list(by)


def _targets(targets: Any) -> list[Target]:
    """(key, version number) pairs from a mapping, pairs or ModelVersion objects.

    Keys of a mapping must be hashable: a tuple of key values in the fleet's order,
    or a bare value for a one-key fleet.
    """
    if isinstance(targets, Mapping):
        return list(targets.items())
    out: list[Target] = []
    for item in targets:
        if isinstance(item, ModelVersion):
            out.append((item.key, item.version))
        else:
            key, number = item
            out.append((key, number))
    return out
