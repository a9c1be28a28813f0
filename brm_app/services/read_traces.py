"""Read traces: reading sensitive data leaves a trace compliance sees (who, what, when).

Traced: revealing a trader's contact details (an explicit action: the "Reveal" button, or
GET /api/v1/traders/{id}/contact; listing or opening a trader does not reveal them in the UI),
downloading an attachment, a report (PDF or CSV) or an export. The read only enqueues a job
(ids only, through `write_aside`, so a read transaction never writes); the job writes the
trace. Compliance and admins list them, filtered, newest first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import unit_of_work, utcnow, write_aside
from brm_app.jobs.queue import ClaimedJob, enqueue
from brm_app.models.retention import ReadTrace, ReadTracePublic
from brm_app.models.user import User
from brm_app.services import traders
from brm_app.services.errors import ValidationFailed
from brm_app.services.pagination import Page, PageRequest

AnyActor = Actor | SystemActor
RECORD_KIND = "read_trace.record"

# Job payloads carry ids only: what was read travels as a number.
WHAT = {
    1: "contact_details",
    2: "attachment",
    3: "report",
    4: "export",
}
CODE = {name: code for code, name in WHAT.items()}


def trace(
    db: Session,
    actor: AnyActor,
    what: str,
    target_id: int | None = None,
    *,
    in_caller: bool = False,
) -> None:
    """Enqueue the trace of a read (not written here: the job writes it). `in_caller`: the
    caller's transaction writes anyway (an export that records itself in the audit trail), so
    the job goes in it rather than in a transaction of its own."""
    user_id = getattr(actor, "user_id", None)
    if user_id is None:  # the app itself (jobs, CLI) reads without a trace
        return
    payload = {
        "user_id": user_id,
        "what": CODE[what],
        "target_id": target_id or 0,
        "at": int(utcnow().timestamp()),
    }
    if in_caller:
        enqueue(db, RECORD_KIND, payload)
        return
    with write_aside(db) as writer:
        enqueue(writer, RECORD_KIND, payload)


def record_job(job: ClaimedJob) -> None:
    p = job.payload
    with unit_of_work(write=True) as db:
        if db.exec(select(ReadTrace.id).where(ReadTrace.job_id == job.id)).first() is not None:
            return
        db.add(
            ReadTrace(
                user_id=p.get("user_id"),
                what=WHAT.get(p.get("what", 0), "unknown"),
                target_id=p.get("target_id") or None,
                read_at=datetime.fromtimestamp(p.get("at", 0), tz=UTC),
                job_id=job.id,
            )
        )


class TraderContact(BaseModel):
    trader_id: int
    email: str
    phone: str | None
    mobile: str | None


def reveal_contact(db: Session, *, actor: AnyActor, trader_id: object) -> TraderContact:
    """A trader's contact details, to those who may see the trader; the reveal is traced."""
    trader = traders.load(db, actor, trader_id)
    assert trader.id is not None
    trace(db, actor, "contact_details", trader.id)
    return TraderContact(
        trader_id=trader.id, email=trader.email, phone=trader.phone, mobile=trader.mobile
    )


def list_traces(
    db: Session,
    *,
    actor: AnyActor,
    page: PageRequest,
    user_id: int | None = None,
    what: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Page[ReadTracePublic]:
    """Compliance and admins: who read what, newest first, filtered in SQL."""
    require(actor, Permission.READ_TRACES_VIEW)
    conds: list[Any] = []
    if user_id is not None:
        conds.append(ReadTrace.user_id == user_id)
    if what:
        if what not in CODE:
            raise ValidationFailed(f"must be one of {', '.join(CODE)}", field="what")
        conds.append(ReadTrace.what == what)
    if date_from:
        conds.append(ReadTrace.read_at >= datetime.combine(date_from, time(), tzinfo=UTC))
    if date_to:
        end = datetime.combine(date_to + timedelta(days=1), time(), tzinfo=UTC)
        conds.append(ReadTrace.read_at < end)
    total = db.exec(select(func.count()).select_from(ReadTrace).where(*conds)).one()
    rows = db.exec(
        select(ReadTrace, User.name)
        .join(User, col(User.id) == col(ReadTrace.user_id), isouter=True)
        .where(*conds)
        .order_by(col(ReadTrace.read_at).desc(), col(ReadTrace.id).desc())
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    items = [
        ReadTracePublic(
            trace_id=t.id or 0,
            user_id=t.user_id,
            user=name,
            what=t.what,
            target_id=t.target_id,
            read_at=t.read_at,
        )
        for t, name in rows
    ]
    return Page.build(items, page=page, total=total)
