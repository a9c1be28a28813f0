"""The job table's operations: enqueue, claim with a lease, complete, fail (retry or dead), retry."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from brm_app.db import is_postgres, utcnow
from brm_app.jobs import wake
from brm_app.models.job import RUNNABLE, Job, JobState

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_LEASE = timedelta(minutes=2)
BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_CAP = timedelta(hours=1)
KEY_MAX = 200
ERROR_MAX = 1000


class PermanentJobError(Exception):
    """Raised by a handler when trying again cannot help: the job goes dead at once."""


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, int]
    attempt: int  # 1 for the first run
    max_attempts: int
    lease_token: str


def _check_payload(payload: Mapping[str, object]) -> dict[str, int]:
    """Ids only: a payload that could carry content or personal data is refused."""
    if not isinstance(payload, Mapping):
        raise TypeError("a job payload is a mapping of names to ids")
    checked: dict[str, int] = {}
    for name, value in payload.items():
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"job payloads carry ids only, got {name!r}: {type(value).__name__}")
        checked[name] = value
    return checked


def enqueue(
    db: Session,
    kind: str,
    payload: Mapping[str, int],
    *,
    run_at: datetime | None = None,
    key: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int:
    """Add a job in the caller's transaction and return its id. With an idempotency `key` that
    was enqueued before, nothing is added and the existing job's id is returned."""
    body = json.dumps(_check_payload(payload), sort_keys=True)
    if key is not None and not 0 < len(key) <= KEY_MAX:
        raise ValueError(f"an idempotency key has 1 to {KEY_MAX} characters")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = utcnow()
    values = {
        "kind": kind,
        "payload": body,
        "state": JobState.QUEUED.value,
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "idempotency_key": key,
        "created_at": now,
        "updated_at": now,
    }
    table = sa.inspect(Job).local_table
    dialect = postgresql if is_postgres(db) else sqlite
    # ON CONFLICT DO NOTHING: a duplicate key neither fails nor spoils the caller's transaction.
    stmt = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(table.c.id)
    )
    job_id: int | None = db.execute(stmt).scalar_one_or_none()
    if job_id is None:
        existing = db.exec(select(Job.id).where(col(Job.idempotency_key) == key)).one()
        assert existing is not None  # a row's primary key
        return existing
    wake.after_commit(db)
    return job_id


def backoff(
    attempt: int,
    *,
    base: timedelta = BACKOFF_BASE,
    cap: timedelta = BACKOFF_CAP,
    rng: Callable[[], float] = random.random,
) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1, 2, ...): exponential, capped,
    with "equal jitter" (between half and all of it) so failed jobs do not retry in lockstep."""
    ceiling: timedelta = min(cap, base * 2 ** max(0, min(attempt - 1, 30)))
    return ceiling / 2 + ceiling / 2 * rng()


def claim(
    db: Session,
    *,
    limit: int = 10,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
    kinds: Collection[str] | None = None,
    except_kinds: Collection[str] = (),
) -> list[ClaimedJob]:
    """Take up to `limit` due jobs for this runner, in the caller's (write) transaction (only
    jobs of `kinds` when given; none of `except_kinds`).

    Due: queued or failed with run_at reached, or running with its lease run out (its runner
    stopped); such a job out of attempts goes dead instead. Each claim counts as an attempt, so a
    job that keeps killing its runner ends dead too."""
    now = now or utcnow()
    expired = sa.and_(col(Job.state) == JobState.RUNNING.value, col(Job.locked_until) < now)
    db.exec(
        sa.update(Job)
        .where(expired, col(Job.attempts) >= col(Job.max_attempts))
        .values(
            state=JobState.DEAD.value,
            last_error="its runner stopped before it finished (lease expired); out of attempts",
            lease_token=None,
            locked_until=None,
            finished_at=now,
            updated_at=now,
        )
    )
    stmt = (
        select(Job)
        .where(sa.or_(sa.and_(col(Job.state).in_(RUNNABLE), col(Job.run_at) <= now), expired))
        .order_by(col(Job.run_at), col(Job.id))
        .limit(limit)
    )
    if kinds is not None:
        stmt = stmt.where(col(Job.kind).in_(list(kinds)))
    if except_kinds:
        stmt = stmt.where(col(Job.kind).not_in(list(except_kinds)))
    if is_postgres(db):
        stmt = stmt.with_for_update(skip_locked=True)
    claimed = []
    for job in db.exec(stmt).all():
        assert job.id is not None  # a row's primary key
        job.state = JobState.RUNNING.value
        job.attempts += 1
        job.lease_token = uuid.uuid4().hex
        job.locked_until = now + lease
        job.updated_at = now
        db.add(job)
        claimed.append(
            ClaimedJob(
                id=job.id,
                kind=job.kind,
                payload=json.loads(job.payload),
                attempt=job.attempts,
                max_attempts=job.max_attempts,
                lease_token=job.lease_token,
            )
        )
    db.flush()
    return claimed


def _mine(job: ClaimedJob) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(Job.id) == job.id,
        col(Job.lease_token) == job.lease_token,
        col(Job.state) == JobState.RUNNING.value,
    )


def complete(db: Session, job: ClaimedJob, *, now: datetime | None = None) -> bool:
    """Mark the job done; False when this runner no longer holds it (its lease was taken over)."""
    now = now or utcnow()
    result = db.exec(
        sa.update(Job)
        .where(_mine(job))
        .values(
            state=JobState.DONE.value,
            lease_token=None,
            locked_until=None,
            finished_at=now,
            updated_at=now,
        )
    )
    return bool(result.rowcount)


def complete_many(db: Session, jobs: list[ClaimedJob], *, now: datetime | None = None) -> int:
    """`complete` for several jobs, in one statement; answers how many this runner still held."""
    if not jobs:
        return 0
    now = now or utcnow()
    table = cast(sa.Table, sa.inspect(Job).local_table)
    stmt = (
        sa.update(table)
        .where(
            table.c.id == sa.bindparam("job_id"),
            table.c.lease_token == sa.bindparam("token"),
            table.c.state == JobState.RUNNING.value,
        )
        .values(
            state=JobState.DONE.value,
            lease_token=None,
            locked_until=None,
            finished_at=now,
            updated_at=now,
        )
    )
    params = [{"job_id": job.id, "token": job.lease_token} for job in jobs]
    result = db.connection().execute(stmt, params)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(jobs)


def fail(
    db: Session,
    job: ClaimedJob,
    error: str,
    *,
    permanent: bool = False,
    now: datetime | None = None,
    rng: Callable[[], float] = random.random,
) -> JobState | None:
    """Record a failed attempt: retried later (backoff), or dead when out of attempts or
    `permanent`. Returns the new state (None when this runner no longer holds the job)."""
    now = now or utcnow()
    dead = permanent or job.attempt >= job.max_attempts
    values: dict[str, object] = {
        "lease_token": None,
        "locked_until": None,
        "last_error": error[:ERROR_MAX],
        "updated_at": now,
    }
    if dead:
        values.update(state=JobState.DEAD.value, finished_at=now)
    else:
        values.update(state=JobState.FAILED.value, run_at=now + backoff(job.attempt, rng=rng))
    result = db.exec(sa.update(Job).where(_mine(job)).values(**values))
    if not result.rowcount:
        return None
    return JobState.DEAD if dead else JobState.FAILED


def retry_dead(db: Session, job_id: int, *, now: datetime | None = None) -> bool:
    """Give a dead job a fresh set of attempts, due now (its last error stays until it runs)."""
    now = now or utcnow()
    result = db.exec(
        sa.update(Job)
        .where(col(Job.id) == job_id, col(Job.state) == JobState.DEAD.value)
        .values(
            state=JobState.QUEUED.value,
            attempts=0,
            run_at=now,
            finished_at=None,
            updated_at=now,
        )
    )
    if result.rowcount:
        wake.after_commit(db)
    return bool(result.rowcount)


def next_run_at(db: Session) -> datetime | None:
    """When the next job falls due (a running job: when its lease runs out)."""
    runnable = db.exec(select(sa.func.min(Job.run_at)).where(col(Job.state).in_(RUNNABLE))).one()
    lease = db.exec(
        select(sa.func.min(Job.locked_until)).where(col(Job.state) == JobState.RUNNING.value)
    ).one()
    times = [t for t in (runnable, lease) if t is not None]
    if not times:
        return None
    # min() of a UTCDateTime column comes back naive from SQLite: aggregates lose the column type.
    return min(t if t.tzinfo else t.replace(tzinfo=utcnow().tzinfo) for t in times)


def prune_done(db: Session, *, older_than: timedelta, now: datetime | None = None) -> int:
    """Forget finished jobs after a while (their idempotency keys with them)."""
    cutoff = (now or utcnow()) - older_than
    result = db.exec(
        sa.delete(Job).where(col(Job.state) == JobState.DONE.value, col(Job.finished_at) < cutoff)
    )
    return result.rowcount or 0
