"""Runs: one unit of work over a fleet (train, evaluate, monitor), its counts and failures.

A process that trains (or monitors) a fleet holds its run by a lease (:class:`Lease`):
taken when the run starts or is reopened for a resume, renewed by every progress write
and by a :class:`LeaseKeeper` thread in between, cleared when the run finishes. Every
write the holder makes for the run (a batch of versions, progress, the final status)
checks in its own transaction that it still holds it, so once another process takes the
run over, the first one's next write is refused with :class:`~shoal.errors.Conflict`
and nothing it trained after that is registered. A resume of a run whose holder is alive
is refused, naming the holder; one whose holder died (its lease expired; reads show the
run ``interrupted``) takes the lease and trains the keys with no version from the run.
"""

from __future__ import annotations

import builtins
import os
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from shoal import config
from shoal.errors import Conflict, InvalidInput, StoreUnavailable
from shoal.registry._guards import check_id
from shoal.registry._part import Part, actor_of
from shoal.registry.lineage import code_ref
from shoal.store import run_failures
from shoal.store import runs as store_runs
from shoal.store.engine import Store
from shoal.store.run_failures import Failure
from shoal.store.tenancy import FleetRef, Scope


@dataclass(frozen=True)
class Lease:
    """A process's hold on a run: the run and the holder's name (unique per take)."""

    run_id: int
    holder: str


@dataclass(frozen=True)
class Reopened:
    """A train run taken up again: the keys it already trained, the counts to carry on,
    and the lease this process now holds it by."""

    run_id: int
    trained: set[str]
    counts: dict[str, Any]
    lease: Lease


def new_holder() -> str:
    """A holder name for a lease: ``host:pid:token``, the token unique to this take."""
    return f"{socket.gethostname()[:150]}:{os.getpid()}:{secrets.token_hex(6)}"


def _at(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def renew_in(conn: Connection, lease: Lease) -> float:
    """Renew ``lease`` inside the caller's write transaction; returns the new expiry.

    Raises :class:`Conflict` when another process has taken the run over (or it was
    finished): the transaction then rolls back, so nothing it wrote is kept.
    """
    expires = time.time() + config.run_lease_seconds()
    if store_runs.renew_lease(conn, lease.run_id, lease.holder, expires):
        return expires
    now_holder = store_runs.lease_holder(conn, lease.run_id)
    raise Conflict(
        f"run {lease.run_id} is no longer held by this process ({lease.holder}): "
        + (f"{now_holder} took it over" if now_holder else "it was finished or taken over")
        + "; this process stops and registers nothing more for it (what it registered "
        "before stays with the run)",
        field="run",
    )


class Runs(Part):
    """Runs of the fleets a scope may see."""

    def start(
        self,
        fleet: FleetRef,
        kind: str,
        *,
        params: dict[str, Any] | None = None,
        counts: dict[str, Any] | None = None,
        actor: str | None = None,
        with_code_ref: bool = True,
        holder: str | None = None,
    ) -> int:
        """Open a ``running`` run of ``fleet``; returns its id. With ``holder`` (from
        :func:`new_holder`), the run is held by that lease from the start."""
        expires = None if holder is None else time.time() + config.run_lease_seconds()
        with self._store.write() as conn:
            run_id = store_runs.create(
                conn, fleet, kind, actor=actor_of(actor), params=params,
                code_ref=code_ref() if with_code_ref else None,
                lease_holder=holder, lease_expires_at=expires,
            )  # fmt: skip
            if counts is not None:
                store_runs.update_counts(conn, run_id, counts)
        return run_id

    def reopen_training(
        self,
        fleet: FleetRef,
        run_id: int,
        counts: dict[str, Any],
        *,
        holder: str | None = None,
        take_over: bool = False,
    ) -> Reopened:
        """Take train run ``run_id`` of ``fleet`` up again: what it trained, its new counts.

        One write transaction takes the run's lease for ``holder`` (default: a new one)
        and reads what it trained, so two resumes cannot both take it. Refused with
        :class:`Conflict` while another process holds a live lease, unless ``take_over``:
        then that process is refused at its next write.
        """
        holder = holder or new_holder()
        with self._store.write() as conn:
            scope = Scope(fleet.tenant)
            run = store_runs.get(conn, scope, run_id)
            if run["fleet_id"] != fleet.id or run["kind"] != "train":
                raise InvalidInput(
                    f"run {run_id} is a {run['kind']!r} run of fleet "
                    f"'{run['tenant']}/{run['fleet']}'; resume takes a train run of "
                    f"'{fleet.path}'",
                    field="resume",
                )
            now = time.time()
            expires = now + config.run_lease_seconds()
            if not store_runs.take_lease(conn, run_id, holder, expires, now=now,
                                         take_over=take_over):  # fmt: skip
                raise _held(store_runs.get(conn, scope, run_id), now)
            run = store_runs.get(conn, scope, run_id)  # as of the lease: counts, keys
            trained = run_failures.trained_keys(conn, run_id)
            before = run["counts"] or {}
            counts = {
                **counts, "done": len(trained), "failed": run_failures.count(conn, run_id),
                "resumes": int(before.get("resumes", 0)) + 1,
                "seconds_before": float(before.get("seconds", 0.0)),
            }  # fmt: skip
            store_runs.reopen(conn, run_id, counts)
        return Reopened(run_id, trained, counts, Lease(run_id, holder))

    def renew(self, lease: Lease) -> float:
        """Extend ``lease``; returns its new expiry. :class:`Conflict` once it is lost."""
        with self._store.write() as conn:
            return renew_in(conn, lease)

    def keep(self, lease: Lease) -> LeaseKeeper:
        """A started thread that renews ``lease`` every third of the lease time."""
        keeper = LeaseKeeper(self._store, lease)
        keeper.start()
        return keeper

    def record_progress(
        self,
        run_id: int,
        counts: dict[str, Any],
        *,
        failures: Sequence[Failure] = (),
        trained_again: Sequence[str] = (),
        lease: Lease | None = None,
    ) -> int:
        """Record new failures, forget failures of keys that trained now, store ``counts``
        with the run's failure count; one transaction. Returns the failure count.

        With ``lease``, renews it in the same transaction, and writes nothing (raising
        :class:`Conflict`) when another process has taken the run over."""
        with self._store.write() as conn:
            if lease is not None:
                renew_in(conn, lease)
            if trained_again:
                run_failures.forget(conn, run_id, list(trained_again))
            if failures:
                run_failures.record(conn, run_id, failures)
            counts["failed"] = run_failures.count(conn, run_id)
            store_runs.update_counts(conn, run_id, counts)
        return int(counts["failed"])

    def finish(
        self,
        scope: Scope,
        run_id: int,
        status: str = "succeeded",
        *,
        counts: dict[str, Any] | None = None,
        error: str | None = None,
        lease: Lease | None = None,
    ) -> None:
        """Close the run and clear its lease. With ``lease``, only while it still holds
        the run: :class:`Conflict` (and nothing changed) when it was taken over."""
        with self._store.write() as conn:
            closed = store_runs.finish(
                conn, scope, run_id, status, counts=counts, error=error,
                lease_holder=None if lease is None else lease.holder,
            )  # fmt: skip
            if not closed and lease is not None:
                renew_in(conn, lease)  # raises Conflict, naming who holds it now

    def get(self, scope: Scope, run_id: int) -> dict[str, Any]:
        with self._store.read() as conn:
            return store_runs.get(conn, scope, run_id)

    def get_with_failures(
        self, scope: Scope, run_id: int, limit: int = 100
    ) -> tuple[dict[str, Any], list[Failure]]:
        """A run and its first ``limit`` per-key failures, read together."""
        check_id(run_id, "run_id")
        with self._store.read() as conn:
            row = store_runs.get(conn, scope, run_id)
            return row, run_failures.listing(conn, run_id, limit=limit)

    def list(
        self, fleet: FleetRef, limit: int = 50, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The fleet's runs, newest first (``limit`` of them with an id below ``before``)."""
        with self._store.read() as conn:
            return store_runs.list_runs(conn, fleet, limit, before)

    def across(
        self, scope: Scope, tenant: str | None, limit: int = 50, before: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Runs of every fleet the scope may see (of ``tenant``), newest first: ``limit``
        of them with an id below ``before``, in one query."""
        with self._store.read() as conn:
            return store_runs.list_tenant_runs(conn, scope, tenant, limit, before)


def _held(run: dict[str, Any], now: float) -> Conflict:
    """The refusal of a resume while another process holds the run."""
    run_id, holder, expires = run["id"], run["lease_holder"], run["lease_expires_at"]
    left = "" if expires is None else f", {max(0, round(expires - now))} s from now"
    return Conflict(
        f"run {run_id} is running, held by {holder} until {_at(expires)}{left} (renewed "
        "while that process trains). Wait for it to finish, or, if that process is gone, "
        "for the lease to expire (the run then shows as interrupted) and resume it then; "
        f"or take it over now with 'shoal run resume {run_id} --take-over' "
        f"(fleet.resume({run_id}, take_over=True)): the holder is then refused at its next "
        "write and stops",
        field="run",
    )


class LeaseKeeper:
    """Renews a lease from a daemon thread, so one long key does not let it expire.

    A renewal that finds the run taken over stops the thread and keeps the
    :class:`Conflict` in :attr:`lost` (the owner checks it, and its own next write is
    refused anyway). A failing store is retried at the next tick.
    """

    def __init__(self, store: Store, lease: Lease) -> None:
        self.lease = lease
        self.lost: Conflict | None = None
        self._store = store
        self._stop = threading.Event()
        self._every = config.run_lease_seconds() / 3
        self._thread = threading.Thread(
            target=self._run, name=f"shoal-lease-{lease.run_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (idempotent); returns once the thread has ended."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def check(self) -> None:
        """Raise the :class:`Conflict` a renewal met, if one did."""
        if self.lost is not None:
            raise self.lost

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                with self._store.write() as conn:
                    renew_in(conn, self.lease)
            except Conflict as exc:
                if not self._stop.is_set():
                    self.lost = exc
                return
            except StoreUnavailable:  # a busy or unreachable store: try again at the next tick
                continue
