"""What a fleet reads out: a monitoring pass and its results, alerts, model cards, the fleet
report, exports.

:class:`~shoal.Fleet` has these methods; they live here, beside the modules they delegate
to, so ``fleet.py`` keeps to registering, searching, moving aliases and training. Each is
a thin entry: the work is in :mod:`shoal.sdk.monitoring`, :mod:`shoal.sdk.cards`,
:mod:`shoal.report` and :mod:`shoal.sdk.export`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from shoal import config
from shoal.registry import FleetRef, Registry, Where, check_alias
from shoal.sdk import export as _export

if TYPE_CHECKING:
    from shoal.report.fleet_report import FleetReport
    from shoal.sdk.alerts import FleetAlerts
    from shoal.sdk.cards import FleetCards
    from shoal.sdk.fleet import Fleet
    from shoal.sdk.monitoring import FleetMonitoring


class FleetReadouts:
    """Monitoring, alerts, cards, the report and exports of one fleet."""

    ref: FleetRef

    @property
    def _registry(self) -> Registry:
        raise NotImplementedError

    @property
    def _fleet(self) -> Fleet:
        return cast("Fleet", self)

    def monitor(
        self,
        window: str | int = "1d",
        *,
        since: Any = None,
        until: Any = None,
        logs: str | None = None,
        alpha: float = 0.05,
        min_psi: float = 0.1,
        target: str | None = None,
        alerts: bool = True,
        quality_alerts: bool = True,
        threads: int | None = None,
        memory_limit: str | None = "2GB",
        rows_per_part: int = 5_000_000,
        executor: str = "local",
        workers: int | None = None,
        progress: Callable[[str], None] | None = None,
        time: str = "at",
    ) -> Any:
        """One monitoring pass over the prediction and feedback logs, stored per window.

        Every window of length ``window`` (``1d``, ``6h``, ...) from ``since`` to ``until``
        (default: the previous window and the current one) gets, per serving version:
        predictions, quality once actuals arrived, and drift of every logged feature and
        of the predictions against the version's training baseline; drift flags are
        controlled for false discoveries across the fleet (Benjamini-Hochberg at
        ``alpha``, with PSI at least ``min_psi``). Then the fleet's alert rules are
        checked (and the built-in quality rule, unless ``quality_alerts`` is False).
        ``logs`` defaults to ``SHOAL_LOGS_URL``. DuckDB runs on ``threads`` (default:
        every CPU) within ``memory_limit``; more than ``rows_per_part`` logged rows are
        split into parts by key, which bounds the memory a pass needs; ``executor="ray"``
        runs the parts as Ray tasks (at most ``workers`` at once). Returns a
        :class:`shoal.monitor.MonitorOutcome`; read results from :attr:`monitoring`.

        ``time`` is what windows are cut by: ``"at"``, when each prediction was made (the
        server's clock), or ``"event"``, the time it is for (its ``event_at``: a predict
        request's ``as_of``, a batch's date; ``at`` where it has none), so a week backfilled
        or replayed today lands in its own seven days. Results are stored per window start,
        whichever the basis: monitoring a fleet both ways over the same windows keeps the
        last pass's; pick one basis per fleet and window length.
        """
        from shoal.monitor import MonitorOptions, as_timestamp, monitor_fleet, parse_window

        options = MonitorOptions(
            window=parse_window(window), logs_url=logs or config.logs_url(),
            since=as_timestamp(since, "since"), until=as_timestamp(until, "until"),
            alpha=alpha, min_psi=min_psi, target=target, threads=threads,
            memory_limit=memory_limit, rows_per_part=rows_per_part, alerts=alerts,
            quality_alerts=quality_alerts,
            executor=executor, workers=workers, actor=config.actor(), time=time,
        )  # fmt: skip
        return monitor_fleet(self._registry, self.ref, options, progress)

    @property
    def monitoring(self) -> FleetMonitoring:
        """Stored monitoring results: ``worst``, ``rollup``, ``trend``, ``features``."""
        from shoal.sdk.monitoring import FleetMonitoring

        return FleetMonitoring(self._fleet)

    @property
    def alerts(self) -> FleetAlerts:
        """Alert rules and alerts: ``add_rule``, ``list``, ``acknowledge``, ``resolve``."""
        from shoal.sdk.alerts import FleetAlerts

        return FleetAlerts(self._fleet)

    @property
    def cards(self) -> FleetCards:
        """Model cards: ``get``, ``update``, ``approve``, ``archive``, ``draft``, ``write``."""
        from shoal.sdk.cards import FleetCards

        return FleetCards(self._fleet)

    def report(
        self, *, since: str | int = "7d", by: str | None = None, across: str | None = None,
        metric: str | None = None, alias: str = "production", window: str | int | None = None,
        stale_after: str | int = "30d", out: str | Path | None = None,
        format: str | None = None, tables: str | None = None, record: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> FleetReport:  # fmt: skip
        """The fleet report: summary, quality, drift, alerts, coverage gaps and what changed
        since the previous recorded report, as figures and one self-contained HTML page.

        ``since``: the period (runs, alerts, moves); ``by``: cohorts by a key or
        ``"tag.NAME"`` (the first key by default); ``across``: the drift heat map's second
        key; ``metric``: what cohorts and worst models rank by; ``alias``: whose versions
        are judged; ``window``: the monitoring window length to read; ``stale_after``: an
        alias version older than this is a gap. With ``out`` (``.html``, or ``.pdf``
        printed by Chromium; or ``format``) the page is written, and with ``tables``
        (``"csv"``/``"parquet"``) every table whole beside it. ``record=False`` leaves no
        record for the next report to diff against; ``progress`` hears each stage (reading,
        computing, rendering) as it starts. See docs/reports.md.
        """
        from shoal.report import fleet_report as reports

        chosen = reports.options(
            since=since, alias=check_alias(alias), by=by, across=across, metric=metric,
            window=window, stale_after=stale_after, record=record,
        )  # fmt: skip
        report = reports.build(self._registry, self.ref, chosen, progress=progress)
        if out is not None:
            target = Path(out)
            fmt = format or ("pdf" if target.suffix.lower() == ".pdf" else "html")
            reports.write(report, target, fmt=fmt, tables=tables)
        return report

    def export(
        self, out: Any, *, where: Where = None, format: str | None = None,
        progress: bool | _export.ExportProgress = False, chunk: int = _export.CHUNK,
    ) -> _export.ExportResult:  # fmt: skip
        """Write one row per model ``where`` selects to ``out`` (a path, or a binary file
        given ``format``) as CSV or Parquet (``format``, else the suffix), ``chunk`` models
        at a time, renamed into place when done; the columns: :mod:`shoal.sdk.export`."""
        return _export.write(self._fleet, out, where=where, format=format, progress=progress,
                             chunk=chunk)  # fmt: skip

    def iter_export(self, *, where: Where = None, chunk: int = _export.CHUNK) -> Iterator[Any]:
        """The table :meth:`export` writes, as ``pyarrow.RecordBatch`` es of ``chunk`` models."""
        return _export.batches(self._fleet, where=where, chunk=chunk)
