"""Connecting to the database: SQLite by default, PostgreSQL by URL; migrations on open.

Two kinds of transactions, chosen by the caller:

* :meth:`Database.read`: a consistent snapshot (SQLite ``BEGIN`` in WAL mode; PostgreSQL
  ``READ COMMITTED``, or ``REPEATABLE READ`` with ``snapshot=True``), never blocks a writer;
* :meth:`Database.write`: on SQLite ``BEGIN IMMEDIATE``, which takes the database's write
  lock at the start, so a count read inside it cannot be overtaken by another writer before
  the insert that depends on it (the ``max_submissions`` cap); on PostgreSQL a normal
  transaction in which the code locks the rows it depends on (``SELECT ... FOR UPDATE`` on
  the family counter, then on the ledger head: always in that order, so no deadlock).

SQLite connections run with ``journal_mode=WAL`` (readers do not block the writer),
``foreign_keys=ON``, ``synchronous=FULL`` (a committed ledger entry survives a power cut,
not just a crashed process) and a busy timeout, so concurrent writers wait instead of
failing. The pysqlite driver's own transaction handling is switched off; SQLAlchemy's
``begin`` event emits our ``BEGIN``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigurationError

__all__ = ["Database", "open_database", "migrate", "HEAD_REVISION"]

#: the newest migration; :func:`migrate` brings every database to it
HEAD_REVISION = "0004"
_BUSY_TIMEOUT_MS = 120_000
_MIGRATION_LOCK = 0x61646A75  # "adju": PostgreSQL advisory lock held while migrating


def _normalise_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"database URL {url!r} is not a URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigurationError("an in-memory SQLite database cannot be shared: give a file")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return parsed.render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ConfigurationError(
        f"database URL {parsed.render_as_string()!r}: only sqlite:/// and postgresql:// "
        "are supported"
    )


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 120},
                           pool_size=8, max_overflow=64, pool_timeout=120)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


class Database:
    """The store's database: sessions for reading and for writing, and its dialect.

    Build with :func:`open_database`.
    """

    def __init__(self, url: str) -> None:
        self.url = _normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            self._read_engine = _sqlite_engine(self.url, immediate=False)
            self._write_engine = _sqlite_engine(self.url, immediate=True)
        else:
            self._read_engine = create_engine(self.url, pool_size=8, max_overflow=64,
                                              pool_timeout=120, pool_pre_ping=True)
            self._write_engine = self._read_engine
        self._reader = sessionmaker(self._read_engine, expire_on_commit=False)
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Session]:
        """A transaction for reading; anything written in it is rolled back.

        Objects loaded in it stay usable (detached, with their loaded values) afterwards.
        With ``snapshot``, every query sees the same committed state (PostgreSQL
        ``REPEATABLE READ``; SQLite's read transaction always does): for a check that
        reads in many queries while writers go on, such as ``ledger verify``.
        """
        with self._reader() as session:
            session.begin()
            if snapshot and not self.is_sqlite:
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            try:
                yield session
            finally:
                session.expunge_all()
                session.rollback()

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``), committed on a clean exit."""
        with self._writer() as session, session.begin():
            yield session

    @property
    def engine(self) -> Engine:
        """The engine writes go through (for migrations and maintenance)."""
        return self._write_engine

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._read_engine.dispose()
        if self._write_engine is not self._read_engine:
            self._write_engine.dispose()


def migrate(database: Database) -> None:
    """Bring the schema to :data:`HEAD_REVISION` (idempotent; safe from several processes)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    location = resources.files("adjudicator.store") / "migrations"
    config.set_main_option("script_location", str(location))
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            # two servers starting at once: one migrates, the other waits, then sees head
            with connection.begin():
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        finally:
            if database.dialect == "postgresql":
                with connection.begin():
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"),
                                       {"k": _MIGRATION_LOCK})


def open_database(url: str, *, upgrade: bool = True) -> Database:
    """Connect to ``url`` (``sqlite:///path`` or ``postgresql://...``) and migrate it.

    Raises
    ------
    ConfigurationError
        The URL is not one of the two supported kinds.
    """
    database = Database(url)
    if upgrade:
        migrate(database)
    return database
