"""Durable background work in the database: the jobs facility.

- `enqueue(db, kind, {"delivery_id": 7}, run_at=..., key=...)` adds a job in the caller's
  transaction, so a job exists exactly when its cause committed (a rolled-back transaction leaves
  none). A job's payload holds ids only, never message content or personal data. A `key` is an
  idempotency key: the same key is never enqueued twice.
- A runner claims due jobs with a lease (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two runners
  never take the same job; on SQLite the write transaction lets one writer in at a time, across
  processes too), runs their handler, and marks them done, or failed with the error kept and a
  later `run_at` (exponential backoff with jitter), or dead once out of attempts. A runner that
  stops mid-job loses its lease; another takes the job over when the lease runs out. Handlers
  therefore make their effects idempotent (a reminder is marked fired, a delivery "sending").
- The runner sleeps until the next job (or reminder) is due or a job is enqueued: in the same
  process an after-commit signal wakes it at once; on PostgreSQL a NOTIFY sent in the enqueueing
  transaction (delivered by PostgreSQL only on commit) wakes runners in other processes; on
  SQLite other processes are seen by a short poll.
- It runs inside the app (BRM_JOBS_IN_PROCESS=1, the default) or as `brm worker`.

Why not a library: the maintained Python job queues that keep jobs in a SQL database
(procrastinate, pgqueuer, chancy, oban, pq, dramatiq-pg) are PostgreSQL-only, huey's SQLite and
peewee stores cannot enqueue inside our SQLAlchemy transaction and have no leases, and the others
need Redis or a broker. We need both databases and enqueue-in-the-caller's-transaction, which
takes one table and a few short functions here.
"""

from brm_app.jobs.queue import (
    ClaimedJob,
    PermanentJobError,
    backoff,
    claim,
    complete,
    enqueue,
    fail,
)

__all__ = [
    "ClaimedJob",
    "PermanentJobError",
    "backoff",
    "claim",
    "complete",
    "enqueue",
    "fail",
]
