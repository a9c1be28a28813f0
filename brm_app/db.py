"""Database engine and units of work.

SQLite is the embedded default (WAL, foreign keys on, writers serialised with BEGIN IMMEDIATE so
a read-then-write transaction never fails with "database is locked"); PostgreSQL needs nothing special.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from brm_app.observability.metrics import watch_pool
from brm_app.settings import get_settings


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC, returns aware UTC: one convention on SQLite and PostgreSQL alike."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" hook below decide how each transaction starts.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        # 8 MB of page cache per connection (SQLite's default is 2 MB): a broker's book, the
        # indexes a list walks and the hot rows stay in memory instead of being read again.
        cur.execute("PRAGMA cache_size=-8192")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get("brm_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Connections are cheap here: room for the API's worker threads and the pages' at once.
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=40,
            # The most recently used connection first: its page cache is the warm one.
            pool_use_lifo=True,
        )
        _configure_sqlite(engine)
        watch_pool(engine)
        return engine
    engine = sa.create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_use_lifo=True
    )
    watch_pool(engine)
    return engine


@functools.cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


# A plain Lock, not an RLock: FastAPI may close a request's unit of work on another thread than
# the one that opened it, and only a plain Lock may be released by any thread.
_SQLITE_WRITERS = threading.Lock()
_WRITER_WAIT_SECONDS = 30.0  # as SQLite's busy_timeout


@contextmanager
def _sqlite_writer_turn() -> Iterator[None]:
    """This process's turn to write. SQLite takes one writer at a time; a second one would
    sleep and poll inside SQLite's busy handler (long, uneven waits), so writers queue here."""
    if not _SQLITE_WRITERS.acquire(timeout=_WRITER_WAIT_SECONDS):
        raise sa.exc.OperationalError(
            "BEGIN IMMEDIATE", None, TimeoutError("waited 30 s for another writer")
        )
    try:
        yield
    finally:
        _SQLITE_WRITERS.release()


@contextmanager
def unit_of_work(*, write: bool = False, engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, rolled back on any error.

    `write=True` takes SQLite's write lock up front; reads should leave it False so they never wait.
    """
    engine = engine or get_engine()
    gate = _sqlite_writer_turn() if write and engine.dialect.name == "sqlite" else nullcontext()
    with gate, Session(engine, expire_on_commit=False) as session:
        session.info["brm_write"] = write
        if write:
            session.connection(execution_options={"brm_write": True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def write_aside(session: Session) -> Iterator[Session]:
    """Somewhere to write what a read must record (a session's last-seen time, a feed's last
    fetch): the caller's own transaction if its unit of work writes, else a short write
    transaction of its own on the same engine, committed when the block ends.

    Reads never write: on SQLite a read transaction that writes after another connection has
    committed fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT; no busy wait helps).
    """
    if session.info.get("brm_write"):
        yield session
        return
    with unit_of_work(write=True, engine=session.get_bind()) as writer:
        yield writer


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
