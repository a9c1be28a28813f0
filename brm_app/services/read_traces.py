"""Read traces: reading sensitive data leaves a trace compliance sees (who, what, when).

Traced: revealing a trader's contact details, downloading an attachment, a report (PDF or CSV) or
an export, showing an audit event's encrypted values (its target is the event's sequence number). The read only enqueues a job (ids only, through `write_aside`, so a read transaction
never writes); the job writes the trace. Compliance and admins list them, filtered, newest first.

A trader's contact details (email, phone, mobile) in clear, path by path:
- the app's pages mask them in every list (the trader list, a firm's traders: `masked_email`,
  `masked_phone`); the trader page shows them only after "Reveal" (`reveal_contact`), and the
  edit dialogs (trader page, firm page), which show them to change them, are opened through
  `trader_for_edit`: both traced as `contact_details` of that trader;
- the API returns them in clear (its schema is the contract scripts rely on), so every answer
  carrying them is traced, one `contact_details` trace per trader in it (`contacts_shown`):
  GET /traders, /traders/{id}, /traders/{id}/contact, /firms/{id}/traders[/{id}], and the
  answers of PATCH and move (they return values the caller did not send). Not traced: the answer
  of a create or full replace (POST, PUT), which holds what the caller just sent, and a portal
  user reading their own record;
- CSV exports of traders (and of firms) are traced as an `export` (services.bulk.check_export);
  the regulator export's download likewise.
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
from brm_app.models.trader import TraderPublic
from brm_app.models.user import User
from brm_app.services import traders
from brm_app.services.errors import ValidationFailed
from brm_app.services.pagination import Page, PageRequest

AnyActor = Actor | SystemActor
RECORD_KIND = "read_trace.record"
# Targets per job when one read shows many records (an API page of traders): the first is
# `target_id`, the others `t1`, `t2`, ... (payloads carry ids only, one number a name).
TARGETS_PER_JOB = 100

# Job payloads carry ids only: what was read travels as a number.
WHAT = {
    1: "contact_details",
    2: "attachment",
    3: "report",
    4: "export",
    # The encrypted values of an audit event, shown on the audit page (`audit.reveal_values`).
    5: "audit_values",
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


def trace_many(db: Session, actor: AnyActor, what: str, target_ids: list[int]) -> None:
    """One trace per target of a read that showed many records (few jobs: TARGETS_PER_JOB
    targets each)."""
    user_id = getattr(actor, "user_id", None)
    if user_id is None or not target_ids:
        return
    at = int(utcnow().timestamp())
    with write_aside(db) as writer:
        for start in range(0, len(target_ids), TARGETS_PER_JOB):
            chunk = target_ids[start : start + TARGETS_PER_JOB]
            payload = {"user_id": user_id, "what": CODE[what], "target_id": chunk[0], "at": at}
            payload.update({f"t{i}": target for i, target in enumerate(chunk[1:], start=1)})
            enqueue(writer, RECORD_KIND, payload)


def record_job(job: ClaimedJob) -> None:
    p = job.payload
    targets = [p.get("target_id") or None]
    n = 1
    while f"t{n}" in p:
        targets.append(p[f"t{n}"])
        n += 1
    with unit_of_work(write=True) as db:
        if db.exec(select(ReadTrace.id).where(ReadTrace.job_id == job.id)).first() is not None:
            return
        # All of a job's traces in one transaction; the first carries the job's id (unique), so
        # a retried job finds it and writes none again.
        for i, target in enumerate(targets):
            db.add(
                ReadTrace(
                    user_id=p.get("user_id"),
                    what=WHAT.get(p.get("what", 0), "unknown"),
                    target_id=target,
                    read_at=datetime.fromtimestamp(p.get("at", 0), tz=UTC),
                    job_id=job.id if i == 0 else None,
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


def contacts_shown(db: Session, *, actor: AnyActor, shown: list[TraderPublic]) -> None:
    """Trace the traders whose contact details an answer carries in clear (the API), one trace
    each; a portal user's own record is not traced."""
    user_id = getattr(actor, "user_id", None)
    trace_many(
        db,
        actor,
        "contact_details",
        [t.trader_id for t in shown if t.portal_user_id is None or t.portal_user_id != user_id],
    )


def trader_for_edit(
    db: Session, *, actor: AnyActor, trader_id: object, firm_id: object = None
) -> TraderPublic:
    """A trader with their contact details, for an edit dialog (opening it is an explicit
    action that shows them): traced like a reveal."""
    trader = traders.get_trader(db, actor=actor, trader_id=trader_id, firm_id=firm_id)
    contacts_shown(db, actor=actor, shown=[trader])
    return trader


def masked_email(email: str | None) -> str:
    """An email as lists show it: its first character and its domain (ann@x.example ->
    a•••@x.example); the whole address only through a traced reveal."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def masked_phone(phone: str | None) -> str:
    """A phone number as lists show it: its last two digits (+44 20 7946 0123 -> ••• 23)."""
    digits = [c for c in phone or "" if c.isdigit()]
    return f"••• {''.join(digits[-2:])}" if digits else ""


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
