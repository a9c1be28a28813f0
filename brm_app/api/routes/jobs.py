"""Background jobs (admins): /api/v1/jobs lists them by state, /api/v1/jobs/{id}/retry retries a
dead one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, Field

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Limit, Offset
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.job import JobPublic, JobState
from brm_app.services import jobs_admin
from brm_app.services.pagination import PageRequest

router = ApiRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=ERRORS)

JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="A job id")]


class JobCountsOut(BaseModel):
    counts: dict[str, int] = Field(description="Jobs in each state")


@router.get("", response_model=PageOut[JobPublic])
def list_jobs(
    db: DB,
    actor: CurrentActor,
    state: JobState | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[JobPublic]:
    """Jobs in one state, or all but the done ones, latest run_at first."""
    page = jobs_admin.list_jobs(
        db,
        actor=actor,
        state=state.value if state else None,
        page=PageRequest(offset=offset, limit=limit),
    )
    return PageOut.of(page)


@router.get("/counts", response_model=JobCountsOut)
def job_counts(db: DB, actor: CurrentActor) -> JobCountsOut:
    return JobCountsOut(counts=jobs_admin.counts(db, actor=actor))


@router.post("/{job_id}/retry", response_model=JobPublic)
def retry_job(job_id: JobId, db: DB, actor: CurrentActor) -> JobPublic:
    """Give a dead job a fresh set of attempts, due now (409 for a job that is not dead)."""
    return jobs_admin.retry(db, actor=actor, job_id=job_id)
