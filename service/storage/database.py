"""Engine creation and migrations. SQLite (embedded default) and PostgreSQL from one code path."""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
WRITE_OPTION = "salesmeet_write"


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


# How long a request waits for a pooled connection before the database counts as busy (503): a
# caller retrying in a second is better served than one waiting half a minute for a 500.
POOL_TIMEOUT_SECONDS = 3.0


def create_database_engine(
    url: str, *, pool_size: int = 10, pool_timeout: float = POOL_TIMEOUT_SECONDS
) -> Engine:
    """An engine whose pool holds `pool_size` connections, plus as many again under load; a
    connection not had within `pool_timeout` seconds raises sqlalchemy.exc.TimeoutError."""
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=pool_timeout,
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        return engine
    # hide_parameters: a failed statement's error (and so a log line) never carries names, e-mails or
    # the host-only start_url that were bound into it.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        hide_parameters=True,
    )


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take control of it.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the 2xx, power loss included (one fsync per group commit).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction takes the lock up front (IMMEDIATE) so two writers queue instead of
        # failing on a read-to-write upgrade; reads stay deferred and never block in WAL mode.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest migration, or to `revision` (idempotent; safe to run at every
    start)."""
    cfg = _alembic_config(engine)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Several replicas may start at once: one migrates, the others wait for it.
            connection.execute(text("SELECT pg_advisory_xact_lock(7400451)"))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


@functools.cache
def _newest_revisions() -> frozenset[str]:
    """The migrations shipped with this code (read once: /readyz asks on every probe)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def schema_is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == _newest_revisions()


# Constraint violations caused by a value itself (NOT NULL, CHECK), as opposed to one row meeting
# another (unique, foreign key), which a concurrent writer can cause and a retry can resolve.
_VALUE_VIOLATIONS_POSTGRES = frozenset({"23502", "23514"})
_VALUE_VIOLATIONS_SQLITE = ("NOT NULL constraint failed", "CHECK constraint failed")


def refuses_the_values(exc: BaseException) -> bool:
    """True when the database refused a statement for the values in it, so that running it again
    can never succeed: a value it cannot store (too long, NUL in text, out of range) or one a
    column's constraint forbids."""
    if isinstance(exc, DataError):
        return True
    if not isinstance(exc, IntegrityError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _VALUE_VIOLATIONS_POSTGRES
    return str(exc.orig).startswith(_VALUE_VIOLATIONS_SQLITE)


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


# Webhook intake writes one group-committed batch at a time: one connection, and one spare for
# the moment a broken one is replaced.
INTAKE_POOL_SIZE = 1


def _intake_engine(engine: Engine) -> Engine:
    """A second engine on the same database, with its own small pool, for webhook intake alone."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return engine  # an in-memory database exists in one engine's connections only
    return create_database_engine(url.render_as_string(hide_password=False), pool_size=INTAKE_POOL_SIZE)


class Database:
    """The engine plus the ways to use it: a read-only connection, one write transaction, or one
    write transaction for webhook intake.

    Intake has a pool of its own (a second engine on the same URL): a provider's delivery is
    acknowledged only once stored, and API reads holding every pooled connection must never hold
    that back; nor can intake take connections the API needs.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._intake = _intake_engine(engine)
        self._intake_writer = self._intake.execution_options(**{WRITE_OPTION: True})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def read(self) -> Connection:
        return self.engine.connect()

    def write(self) -> AbstractContextManager[Connection]:
        return self._writer.begin()

    def write_intake(self) -> AbstractContextManager[Connection]:
        """A write transaction on intake's own pool; for storing webhook deliveries only."""
        return self._intake_writer.begin()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._intake is not self.engine:
            self._intake.dispose()
