"""The one metadata store behind one URL: engine set-up, transactions, schema upgrades.

SQLite is the zero set-up default. It runs in WAL mode (readers never block the
writer) with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE``: the writer takes SQLite's write lock before it reads what it is
about to change, so two processes promoting at once queue instead of one failing
half-way with "database is locked" on lock upgrade. PostgreSQL is reached through
psycopg 3; write paths that read-then-write lock the fleet row (``FOR UPDATE``).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry

from shoal import config
from shoal.errors import InvalidInput, StoreUnavailable

_MIGRATIONS = Path(__file__).with_name("migrations")
WRITE_BEHIND_WAIT_MS = 200
"""How long a read's write-behind waits for a busy store before giving up (for now)."""
ALIAS_ANALYZE_MOVES = 10_000
"""A bulk alias move at least this large may re-analyse ``aliases`` (SQLite)."""


def normalize_url(url: str) -> str:
    """Accept the URLs people type and pick the driver Shoal ships with."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite:", "postgresql+psycopg:")):
        return url
    raise InvalidInput(
        f"store_url {mask_url(url)!r} is not supported: use sqlite:///path/to/shoal.db "
        "or postgresql://user@host:port/dbname",
        field="store_url",
    )


def mask_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


class Store:
    """A handle on the metadata database; connects on first use, not in the constructor."""

    def __init__(self, url: str | None = None) -> None:
        self.url = normalize_url(url or config.store_url())
        self._engine: Engine | None = None

    @property
    def dialect(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
            ensure_schema(self)
        return self._engine

    def _create_engine(self) -> Engine:
        if self.dialect == "sqlite":
            return _sqlite_engine(self.url)
        engine = sa.create_engine(self.url, pool_pre_ping=True, future=True)
        try:
            with engine.connect():
                pass
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot reach the PostgreSQL store at {mask_url(self.url)}: "
                f"{_first_line(exc)}. Check the URL and that the server runs."
            ) from None
        return engine

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: a consistent snapshot, never blocks the writer."""
        with self.translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction whose every statement sees the same committed state.

        SQLite's read transaction already is one (WAL: the snapshot starts at the first
        read); PostgreSQL reads at READ COMMITTED by default, where each statement sees
        what committed before it, so this asks for REPEATABLE READ, READ ONLY there. For
        several reads that must agree (a report's model table and its coverage).
        """
        with self.translated(), self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: all of it commits, or none of it does."""
        with self.translated(), self.engine.connect() as conn:
            conn = conn.execution_options(shoal_write=True)
            with conn.begin():
                yield conn

    def write_behind(self, write: Callable[[Connection], None] | None) -> bool:
        """Keep what a read had to compute (a window's roll-ups from before migration
        0011, say), so the cost is paid once, not on every page view: ``write`` runs in a
        short write transaction of its own, waiting at most ``WRITE_BEHIND_WAIT_MS`` for
        the store. Best effort: a busy store (or an in-memory SQLite, which a second
        connection cannot see) skips it and a later read tries again; the reader never
        waits behind a long writer. Returns whether it was kept."""
        if write is None:
            return False
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(shoal_write=True)
                sqlite = conn.dialect.name == "sqlite"
                driver: Any = conn.connection.driver_connection
                if sqlite:
                    driver.execute(f"PRAGMA busy_timeout = {WRITE_BEHIND_WAIT_MS}")
                try:
                    with conn.begin():
                        if not sqlite:
                            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {WRITE_BEHIND_WAIT_MS}")
                        write(conn)
                finally:
                    if sqlite:
                        driver.execute(f"PRAGMA busy_timeout = {config.sqlite_busy_timeout_ms()}")
            return True
        except sa.exc.OperationalError:
            return False

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """Driver errors as Shoal's: a busy or unreachable store is :class:`StoreUnavailable`
        (HTTP 503, exit 6), a number no column can hold is :class:`InvalidInput`.

        Guards above the store refuse bad ids and numbers by name first; this is the floor
        under them, so no driver exception ever reaches a caller raw.
        """
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(self._unavailable(exc)) from exc
        except sa.exc.DataError as exc:  # PostgreSQL: a value out of a column's range
            raise InvalidInput(f"a value is out of range for the store: {_first_line(exc)}; "
                               "check the numbers and ids given") from exc  # fmt: skip
        except (OverflowError, sa.exc.StatementError) as exc:
            overflow = isinstance(exc, OverflowError) or isinstance(exc.orig, OverflowError)
            if not overflow:
                raise
            raise InvalidInput(  # SQLite: an int past 64 bits
                "a number is outside the 64-bit range the store holds "
                f"(-{2**63} to {2**63 - 1}): check the ids and numbers given"
            ) from exc

    def _unavailable(self, exc: sa.exc.OperationalError) -> str:
        reason = _first_line(exc)
        if self.dialect == "sqlite" and ("locked" in reason or "busy" in reason):
            waited = config.sqlite_busy_timeout_ms() / 1000
            return (
                f"the SQLite store {mask_url(self.url)} is busy: another writer held it for "
                f"over {waited:g} s (a long register or training run?). Retry shortly, raise "
                "SHOAL_SQLITE_BUSY_TIMEOUT_MS, or use PostgreSQL for many concurrent writers"
            )
        return f"the store {mask_url(self.url)} cannot be used right now: {reason}; retry shortly"

    def refresh_statistics(self, *, force: bool = False) -> bool:
        """Re-analyse the tables once they have doubled since the last analysis.

        Fleet queries choose between a key index, the metrics index, the alias index
        and the models' id order; without statistics SQLite guesses that
        ``fleet_id = ?`` is selective and scans a whole fleet (5 s at 200,000 models).
        A full ANALYZE costs about 2.5 s per million versions on SQLite, so it runs on a
        doubling schedule: the total cost stays about twice the last one. SQLite's
        sampled ANALYZE (``analysis_limit``) is not used: it misjudges a leading column
        with one value, such as ``fleet_id`` of a single fleet. Returns whether it ran.
        """
        try:
            return self._refresh_statistics(force)
        except sa.exc.OperationalError:
            # Statistics are an optimisation: a busy store must not fail a write that
            # has already committed. The next large write tries again.
            return False

    def refresh_alias_statistics(self, moved: int) -> bool:
        """Re-analyse ``aliases`` after a bulk move, once it has doubled since its last
        analysis (SQLite; PostgreSQL's autovacuum analyses as tables change).

        Versions are analysed when they double, but a promote of a million models adds a
        million alias rows without registering anything. Without statistics on
        ``aliases`` SQLite guesses that ``fleet_id = ? AND name = ?`` is selective and
        drives a comparison filtered to one store (1,000 models) from the alias index of
        the whole fleet: 850 ms instead of 45 at a million models. ``ANALYZE aliases``
        costs about 0.4 s per million rows, so it runs only after a move of at least
        ``ALIAS_ANALYZE_MOVES`` models, on the same doubling schedule. Returns whether it
        ran."""
        if self.dialect != "sqlite" or moved < ALIAS_ANALYZE_MOVES:
            return False
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(shoal_write=True)
                rows = int(conn.exec_driver_sql("SELECT count(*) FROM aliases").scalar() or 0)
                if rows < max(2 * _analysed_rows(conn, "aliases"), ALIAS_ANALYZE_MOVES):
                    return False
                conn.exec_driver_sql("PRAGMA analysis_limit = 0")
                conn.exec_driver_sql("ANALYZE aliases")
                conn.commit()
            return True
        except sa.exc.OperationalError:
            return False  # an optimisation: a busy store must not fail a committed move

    def _refresh_statistics(self, force: bool) -> bool:
        with self.engine.connect() as conn:
            conn = conn.execution_options(shoal_write=True)  # BEGIN IMMEDIATE on SQLite
            total = conn.exec_driver_sql("SELECT coalesce(sum(version_count), 0) FROM fleets")
            versions_now = int(total.scalar() or 0)
            analysed = _analysed_rows(conn)
            if not force and versions_now < max(2 * analysed, 1000):
                return False
            if self.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA analysis_limit = 0")
                conn.exec_driver_sql("ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE models, versions, metrics, aliases, version_tags")
            conn.commit()
        return True

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _sqlite_engine(url: str) -> Engine:
    path = url.split("sqlite:///", 1)[1] if url.startswith("sqlite:///") else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, future=True, connect_args={"check_same_thread": False, "timeout": 60}
    )
    busy_ms = config.sqlite_busy_timeout_ms()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # Shoal issues BEGIN itself, below.
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA cache_size = -262144")
        cur.execute("PRAGMA temp_store = MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("shoal_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _first_line(exc: sa.exc.DBAPIError) -> str:
    """The driver's own message, first line, without SQLAlchemy's statement dump."""
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__


def _analysed_rows(conn: Connection, table: str = "versions") -> int:
    """How many rows of ``table`` the planner's statistics describe (0: never analysed)."""
    if conn.dialect.name == "sqlite":
        has_stats = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
        ).first()
        if not has_stats:
            return 0
        stat = conn.exec_driver_sql(
            "SELECT stat FROM sqlite_stat1 WHERE tbl = ? ORDER BY idx LIMIT 1", (table,)
        ).scalar()
        return int(str(stat).split()[0]) if stat else 0
    tuples = conn.exec_driver_sql(
        "SELECT reltuples FROM pg_class WHERE relname = %(table)s", {"table": table}
    ).scalar()
    return max(int(tuples or 0), 0)


def lock_fleet(conn: Connection, fleet_id: int) -> None:
    """Serialise read-then-write changes to one fleet across processes.

    SQLite's BEGIN IMMEDIATE already holds the database's write lock; PostgreSQL
    takes a row lock on the fleet so concurrent promoters queue, not race.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT id FROM fleets WHERE id = :id FOR UPDATE"), {"id": fleet_id})


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(_MIGRATIONS)).get_current_head() or ""


def current_revision(store: Store) -> str | None:
    assert store._engine is not None
    with store._engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(store: Store, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` inside one write transaction."""
    from alembic import command
    from alembic.config import Config

    if store._engine is None:
        store._engine = store._create_engine()
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with store._engine.connect() as conn:
        conn = conn.execution_options(shoal_write=True)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def ensure_schema(store: Store) -> None:
    """Bring a new or old store up to the code's schema, or say how to."""
    head = head_revision()
    if current_revision(store) == head:
        return
    if not config.auto_migrate():
        raise StoreUnavailable(
            f"the store at {mask_url(store.url)} is not at schema revision {head}: "
            "run 'shoal db upgrade' (or set SHOAL_AUTO_MIGRATE=1)"
        )
    upgrade(store)
