"""``shoal.connect()`` and the :class:`Client`: the entry point users import.

The constructor stores its arguments; the database and the artifact store are
opened on the first call that needs them (so ``connect()`` never fails on its own
and costs nothing until used).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from shoal import config
from shoal.artifacts import ArtifactStore, open_artifact_store
from shoal.errors import Unauthenticated
from shoal.registry import (
    Registry,
    Scope,
    acting,
    check_before,
    check_limit,
    check_name,
    split_fleet_path,
    split_key_text,
)
from shoal.sdk import housekeeping
from shoal.sdk.access import ClientAccess
from shoal.sdk.datasets import Datasets
from shoal.sdk.fleet import Fleet
from shoal.sdk.history import Lineage, Run, TrainFailure
from shoal.sdk.housekeeping import GcReport, Progress, VerifyReport
from shoal.sdk.results import FleetInfo, ModelVersion, Page, TenantInfo


class Client(ClientAccess):
    """A connection to one metadata store and one artifact store, for one scope.

    ``tenant=None`` acts as the operator of a local installation (every tenant);
    ``tenant="grocer"`` confines every call to that tenant.
    """

    def __init__(
        self,
        store_url: str | None = None,
        artifacts_url: str | None = None,
        *,
        tenant: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.store_url = store_url or config.store_url()
        self.artifacts_url = artifacts_url or config.artifacts_url()
        self.storage_options = storage_options
        self._scope = Scope(tenant)
        self._serving = False
        self.registry = Registry.open(self.store_url, lambda: self.artifacts)
        self.datasets = Datasets(self)

    @property
    def scope(self) -> Scope:
        """The tenants this client's calls may touch now.

        Inside a server request, an operator client (a server's) acts with the request
        principal's scope (:func:`shoal.registry.acting_as`); a client :meth:`serving`
        requests refuses any call made with no principal acting.
        """
        who = acting()
        if who is not None and self._scope.is_operator:
            return who.scope
        if who is None and self._serving:
            raise Unauthenticated("no principal acts for this call: sign in first")
        return self._scope

    def serving(self) -> Client:
        """This client (the same store connections) for a server: every call is scoped to
        the principal of the request in flight, and refused outside of one."""
        served = copy.copy(self)
        served._serving = True
        served.datasets = Datasets(served)
        return served

    def __repr__(self) -> str:
        return f"Client(store_url={self.registry.url!r}, artifacts_url={self.artifacts_url!r})"

    @cached_property
    def artifacts(self) -> ArtifactStore:
        return open_artifact_store(self.artifacts_url, self.storage_options)

    # -- fleets -------------------------------------------------------------------------------

    def fleet(
        self,
        path: str,
        keys: Sequence[str] | None = None,
        *,
        allow_pickle: bool = False,
        description: str = "",
    ) -> Fleet:
        """Get fleet ``"tenant/name"``; with ``keys``, create it if it does not exist."""
        tenant, name = split_fleet_path(path)
        if keys is None:
            return Fleet(self, self.registry.fleets.get(self.scope, tenant, name))
        ref = self.registry.fleets.create(
            self.scope, tenant, name, keys, allow_pickle=allow_pickle, description=description
        )
        return Fleet(self, ref)

    def fleets(self, tenant: str | None = None) -> list[FleetInfo]:
        """Every fleet this client may see (of ``tenant``), with model and version counts."""
        return [FleetInfo.from_row(r) for r in self.registry.fleets.list(self.scope, tenant)]

    def tenants(self) -> list[TenantInfo]:
        """Every tenant this client may see, with its fleets, models and versions counted."""
        return TenantInfo.roll_up(self.fleets())

    def health(self) -> dict[str, dict[str, Any]]:
        """Per fleet path: unresolved alerts and its newest monitoring pass (or None)."""
        found = self.registry.fleets.health(self.scope)
        return {f"{tenant}/{name}": entry for (tenant, name), entry in found.items()}

    def alert_overview(
        self, state: str | Sequence[str] = ("open", "acknowledged"), *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Every fleet with alert rules or alerts in ``state``: its ``path``, ``keys``,
        ``rules`` and newest ``limit`` alerts (as ``fleet.alerts.list`` gives them), in
        three queries however many fleets there are."""
        from shoal.sdk.monitoring import readable_result

        states = (state,) if isinstance(state, str) else tuple(state)
        groups = self.registry.fleets.alert_overview(self.scope, states, limit)
        return [
            {"path": f"{g['tenant']}/{g['fleet']}", "keys": g["keys"], "rules": g["rules"],
             "alerts": [readable_result(g["keys"], row) for row in g["alerts"]]}
            for g in groups
        ]  # fmt: skip

    # -- versions -----------------------------------------------------------------------------

    def get_version(self, version_id: int) -> ModelVersion:
        fleet, row = self.registry.versions.get(self.scope, version_id)
        return ModelVersion.from_row(fleet.path, row)

    def lineage(self, version: ModelVersion | int) -> Lineage:
        """Which dataset snapshot, key slice, run, code and parent produced a version."""
        version_id = version.id if isinstance(version, ModelVersion) else version
        return Lineage.from_dict(self.registry.versions.lineage(self.scope, version_id))

    def load_model(
        self,
        fleet: str,
        key: Any,
        *,
        alias: str | None = None,
        version: int | None = None,
        trusted: Sequence[str] = (),
    ) -> Any:
        """Load the model a key resolves to (``alias`` or ``version``; latest by default)."""
        return self.fleet(fleet).load_model(key, alias=alias, version=version, trusted=trusted)

    # -- runs ---------------------------------------------------------------------------------

    def run(self, run_id: int) -> Run:
        """A run of any kind: status, counts, durations and its first 100 per-key errors."""
        row, failures = self.registry.runs.get_with_failures(self.scope, run_id, limit=100)
        dims = list(row.get("dims") or [])
        errors = [
            TrainFailure(dict(zip(dims, split_key_text(f.key_text), strict=False)), f.error,
                         f.traceback, f.attempts)
            for f in failures
        ]  # fmt: skip
        return Run.from_row(row, errors)

    def runs(
        self, tenant: str | None = None, limit: int = 50, *, before: int | None = None
    ) -> Page[Run]:
        """A page of runs across fleets, newest first (without per-key errors): of
        ``tenant`` when named, else every tenant this client may see; ``limit`` of them
        with an id below ``before``; ``next_cursor`` is the ``before`` of the next page."""
        if tenant is not None:
            check_name(tenant, "tenant")
        rows = self.registry.runs.across(
            self.scope, tenant, check_limit(limit) + 1, check_before(before)
        )
        return Page.read_ahead([Run.from_row(r) for r in rows], limit, lambda r: r.id)

    def baseline(self, version: ModelVersion | int) -> dict[str, Any] | None:
        """The baseline profile of the rows a version trained on (None if none was stored)."""
        version_id = version.id if isinstance(version, ModelVersion) else version
        return self.registry.versions.baseline(self.scope, version_id)

    def finish_run(
        self, run_id: int, status: str = "succeeded", *, counts: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:  # fmt: skip
        self.registry.runs.finish(self.scope, run_id, status, counts=counts, error=error)

    # -- housekeeping (store-wide: the operator's) ----------------------------------------------

    def gc(
        self,
        *,
        apply: bool = False,
        grace_seconds: float | None = None,
        progress: Progress | None = None,
    ) -> GcReport:
        """Find the artifact files no version uses, older than ``grace_seconds`` (default
        ``SHOAL_GC_GRACE_SECONDS``, a day), and with ``apply=True`` remove them."""
        return housekeeping.gc(self, apply=apply, grace_seconds=grace_seconds, progress=progress)

    def verify(self, *, progress: Progress | None = None) -> VerifyReport:
        """Re-read every blob the store records and check it against its sha256."""
        return housekeeping.verify(self, progress=progress)

    def upgrade(self) -> str:
        """Bring the store's schema to the code's revision; returns the revision."""
        return self.registry.upgrade()

    def close(self) -> None:
        self.registry.close()


def connect(
    store_url: str | None = None,
    artifacts_url: str | None = None,
    *,
    tenant: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Client:
    """Connect to Shoal: ``./.shoal`` (SQLite and a folder) unless told otherwise.

    >>> client = shoal.connect()                                   # doctest: +SKIP
    >>> client = shoal.connect("postgresql://shoal@db/shoal", "s3://models/shoal")  # +SKIP
    """
    return Client(store_url, artifacts_url, tenant=tenant, storage_options=storage_options)
