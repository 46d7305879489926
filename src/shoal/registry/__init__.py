"""The registry: the one owner of store transactions, cut by noun.

Everything above it (the SDK, the capabilities train and monitor, the entry points)
asks a noun of the :class:`Registry` with explicit arguments and gets records back;
nothing above it imports :mod:`shoal.store` (an import-linter contract holds that).
What those callers need of the store's vocabulary (``FleetRef``, ``Scope``, key text)
is re-exported here.

    registry.fleets      get, create, list, health, alert_overview
    registry.versions    register, search, count, facets, resolve, history, load, ...
    registry.lifecycle   archive, restore, delete versions (by filter or ids)
    registry.housekeeping  gc and verify the artifact store (store-wide, operator)
    registry.aliases     set, promote, undo, moves, coverage, describe
    registry.runs        start, reopen_training, renew, keep, record_progress, finish, get,
                         list (a training run is held by a Lease; see registry.runs)
    registry.datasets    register, get, find, list, trained_on
    registry.monitoring  windows and results a pass stored, and their reads
    registry.alerts      rules, alerts, transitions
    registry.cards       model cards: the bulk read, written fields, status
    registry.exports     a fleet's per-model table in keyset chunks (files, downloads)
    registry.reports     one snapshot for every read of a fleet report; reports recorded
    registry.access      API tokens (create, list, revoke, authenticate) and the audit log
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from shoal.artifacts import ArtifactStore
from shoal.registry._guards import MAX_ID, MAX_LIMIT, check_before, check_id, check_limit
from shoal.registry.access import Access
from shoal.registry.alerts import Alerts
from shoal.registry.aliases import Aliases, Moved, check_alias
from shoal.registry.cards import Cards
from shoal.registry.datasets import Datasets
from shoal.registry.exports import Exports
from shoal.registry.fleets import Fleets
from shoal.registry.housekeeping import GcReport, Housekeeping, VerifyReport
from shoal.registry.lifecycle import Lifecycle, Retired
from shoal.registry.monitoring import FIGURES, Monitoring
from shoal.registry.records import VersionSpec
from shoal.registry.reports import Reports
from shoal.registry.runs import Lease, LeaseKeeper, Runs, new_holder
from shoal.registry.versions import Versions
from shoal.store.engine import Store, head_revision, mask_url, upgrade
from shoal.store.filters import MAX_CHARS as MAX_FILTER_CHARS
from shoal.store.filters import Node as FilterNode
from shoal.store.filters import Token, tokenize
from shoal.store.filters import parse as parse_filter
from shoal.store.query import Where
from shoal.store.reads import key_value_problem, normalize_key
from shoal.store.run_failures import Failure
from shoal.store.tenancy import (
    NAME,
    ROLES,
    FleetRef,
    Principal,
    Scope,
    acting,
    acting_as,
    check_name,
    split_fleet_path,
)
from shoal.store.writes import Inserted, key_text, split_key_text

__all__ = [
    "FIGURES",
    "MAX_FILTER_CHARS",
    "MAX_ID",
    "MAX_LIMIT",
    "NAME_PATTERN",
    "ROLES",
    "Failure",
    "FilterNode",
    "FleetRef",
    "GcReport",
    "Inserted",
    "Lease",
    "LeaseKeeper",
    "Moved",
    "Principal",
    "Registry",
    "Retired",
    "Scope",
    "Token",
    "VerifyReport",
    "VersionSpec",
    "Where",
    "acting",
    "acting_as",
    "check_alias",
    "check_before",
    "check_id",
    "check_limit",
    "check_name",
    "key_text",
    "key_value_problem",
    "mask_url",
    "new_holder",
    "normalize_key",
    "parse_filter",
    "split_fleet_path",
    "split_key_text",
    "tokenize",
]

NAME_PATTERN = NAME.pattern
"""What a tenant, fleet or alias name must match (for schemas and forms)."""


class Registry:
    """Every noun of one metadata store and one artifact store.

    ``artifacts`` is an artifact store or a function that opens one: it is opened on the
    first call that reads or writes a blob, so a registry costs nothing until used.
    """

    def __init__(self, store: Store, artifacts: ArtifactStore | Callable[[], ArtifactStore]):
        self._store = store
        opener = artifacts if callable(artifacts) else (lambda: artifacts)
        self.fleets = Fleets(store)
        self.versions = Versions(store, opener)
        self.lifecycle = Lifecycle(store, opener)
        self.housekeeping = Housekeeping(store, opener)
        self.aliases = Aliases(store)
        self.runs = Runs(store)
        self.datasets = Datasets(store)
        self.monitoring = Monitoring(store)
        self.alerts = Alerts(store)
        self.cards = Cards(store)
        self.exports = Exports(store)
        self.reports = Reports(store)
        self.access = Access(store)

    @classmethod
    def open(cls, store_url: str, artifacts: Callable[[], ArtifactStore]) -> Registry:
        """A registry over the store at ``store_url`` (connected on first use)."""
        return cls(Store(store_url), artifacts)

    @property
    def url(self) -> str:
        """The store's URL (as normalised: the driver Shoal uses)."""
        return self._store.url

    def ping(self) -> None:
        """Raise unless the store answers a trivial query (readiness)."""
        with self._store.read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def upgrade(self) -> str:
        """Bring the store's schema to the code's revision; returns the revision."""
        upgrade(self._store)
        return head_revision()

    def close(self) -> None:
        self._store.dispose()
