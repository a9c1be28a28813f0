"""What admins see of the background jobs, and retrying a dead one (admins only; audited)."""

from __future__ import annotations

import json

from sqlmodel import Session, col, func, select

from brm_app.auth.actor import Actor
from brm_app.auth.rbac import Permission, require
from brm_app.jobs import queue
from brm_app.models.job import Job, JobPublic, JobState
from brm_app.services import audit
from brm_app.services.errors import Conflict, NotFound, ValidationFailed
from brm_app.services.pagination import Page, PageRequest
from brm_app.services.validation import require_id

# What the admin page lists (done jobs are counted, and kept a week, but not listed by default).
SHOWN_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.FAILED, JobState.DEAD)


def _public(job: Job) -> JobPublic:
    return JobPublic(
        job_id=job.id,
        kind=job.kind,
        payload=json.loads(job.payload),
        state=JobState(job.state),
        run_at=job.run_at,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        last_error=job.last_error,
        locked_until=job.locked_until,
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
    )


def _state(value: object) -> JobState | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value in {s.value for s in JobState}:
        return JobState(value)
    raise ValidationFailed("must be one of " + ", ".join(s.value for s in JobState), field="state")


def counts(db: Session, *, actor: Actor) -> dict[str, int]:
    """How many jobs are in each state (every state named, zeros included)."""
    require(actor, Permission.JOBS_MANAGE)
    found = dict(db.exec(select(Job.state, func.count()).group_by(Job.state)).all())
    return {s.value: int(found.get(s.value, 0)) for s in JobState}


def list_jobs(
    db: Session, *, actor: Actor, state: object = None, page: PageRequest = PageRequest()
) -> Page[JobPublic]:
    """Jobs in one state, or all but the done ones; dead and failed first, then by run_at."""
    require(actor, Permission.JOBS_MANAGE)
    chosen = _state(state)
    states = [chosen.value] if chosen else [s.value for s in SHOWN_STATES]
    cond = col(Job.state).in_(states)
    rows = db.exec(
        select(Job)
        .where(cond)
        .order_by(col(Job.run_at).desc(), col(Job.id).desc())
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    total = db.exec(select(func.count()).select_from(Job).where(cond)).one()
    return Page.build([_public(j) for j in rows], page=page, total=total)


def retry(db: Session, *, actor: Actor, job_id: object) -> JobPublic:
    """Give a dead job a fresh set of attempts, due now."""
    require(actor, Permission.JOBS_MANAGE)
    chosen = require_id(job_id, "job_id")
    job = db.get(Job, chosen)
    if job is None:
        raise NotFound("Job")
    if job.state != JobState.DEAD.value:
        raise Conflict("Only a dead job can be retried.", field="job_id")
    attempts, error = job.attempts, job.last_error
    queue.retry_dead(db, chosen)
    db.refresh(job)
    audit.record(
        db,
        actor=actor,
        action="job.retried",
        entity="job",
        entity_id=job.id,
        changes={"kind": job.kind, "attempts_before": attempts, "last_error": error},
    )
    return _public(job)
