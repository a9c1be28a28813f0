"""Waking runners when there is new work: after the enqueueing transaction commits, never before.

In this process: `after_commit(db)` marks the session; when its transaction commits, every runner
waiting here (`Waiter`) wakes at once (a rolled-back transaction wakes nobody). In other processes
on PostgreSQL: the same call sends `NOTIFY brm_jobs` inside the transaction, which PostgreSQL
delivers only on commit, to runners listening with `listen_forever`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger("brm.jobs")

CHANNEL = "brm_jobs"
_FLAG = "brm_jobs_wake"


class Waiter:
    """An asyncio runner's alarm clock: `wait(timeout)` returns early when woken."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def wake(self) -> None:
        """Safe from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop has closed
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True when woken. The alarm is reset either way."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout=max(0.0, timeout))
            woken = True
        except TimeoutError:
            woken = False
        self._event.clear()
        return woken

    def __enter__(self) -> Waiter:
        with _lock:
            _waiters.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with _lock:
            _waiters.discard(self)


_lock = threading.Lock()
_waiters: set[Waiter] = set()


def wake_local() -> None:
    with _lock:
        waiters = list(_waiters)
    for waiter in waiters:
        waiter.wake()


def after_commit(db: Session) -> None:
    """Wake the runners once this session's transaction commits (new or earlier work)."""
    if db.info.get(_FLAG):
        return
    db.info[_FLAG] = True
    if db.get_bind().dialect.name == "postgresql":
        db.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        wake_local()


@event.listens_for(Session, "after_soft_rollback")
def _on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:  # a savepoint's rollback leaves the transaction's work
        session.info.pop(_FLAG, None)


def listen_forever(database_url: str, on_notify: Callable[[], None], stop: threading.Event) -> None:
    """PostgreSQL only, in a thread of its own: call `on_notify()` for each NOTIFY brm_jobs
    (from any process) until `stop` is set. Reconnects after a lost connection."""
    import psycopg

    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    dsn = url.render_as_string(hide_password=False)
    while not stop.is_set():
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        on_notify()
        except Exception:
            log.warning("job notifications: connection lost; reconnecting", exc_info=True)
            stop.wait(2.0)
