"""Background jobs kept in the database (see brm_app/jobs), and what admins see of them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel, Text

from brm_app.db import UTCDateTime, utcnow


class JobState(StrEnum):
    QUEUED = "queued"  # waiting for its first run (at run_at)
    RUNNING = "running"  # claimed by a runner until locked_until (its lease)
    FAILED = "failed"  # an attempt failed; it runs again at run_at (backoff)
    DEAD = "dead"  # out of attempts, or failed for good: waits for an admin's retry
    DONE = "done"


# The states a runner may claim once run_at has come.
RUNNABLE = (JobState.QUEUED.value, JobState.FAILED.value)


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        # The runner's scan: what is due next (and running jobs whose lease ran out).
        sa.Index("ix_jobs_state_run_at", "state", "run_at"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=60)
    # JSON object of ids only: never message content or personal data.
    payload: str = Field(sa_type=Text)
    state: str = Field(default=JobState.QUEUED.value, max_length=10)
    run_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=5)
    # The same key is never enqueued twice (NULL: no key).
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    # The lease: who holds the job and until when (another runner takes it over after that).
    lease_token: str | None = Field(default=None, max_length=64)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JobPublic(BaseModel):
    job_id: int
    kind: str
    payload: dict[str, int]
    state: JobState
    run_at: datetime
    attempts: int
    max_attempts: int
    last_error: str | None
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
