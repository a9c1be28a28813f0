"""Sending a notification by email or SMS: one job per delivery, through the chosen provider.

A delivery goes pending -> sending (committed before the provider is called) -> sent. A temporary
provider failure puts it back to pending and the job retries with backoff; a permanent one marks
it failed with the error kept. A sender that stops between "sending" and the answer leaves
"sending": the next attempt, or the periodic sweep, marks it "unknown" and never re-sends it
silently (it may have gone out). The job's payload is the delivery id only; the address and
the text are read from the database when it runs, and never written to the log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from brm_app.bootstrap import providers
from brm_app.db import is_postgres, unit_of_work, utcnow
from brm_app.jobs import queue
from brm_app.jobs.queue import ClaimedJob, PermanentJobError
from brm_app.models.follow_up import Notification, NotificationDelivery
from brm_app.models.user import User
from brm_app.providers.base import ProviderError, SendResult
from brm_app.providers.email import OutgoingEmail
from brm_app.providers.sms import OutgoingSms
from brm_app.settings import get_settings

SEND_KIND = "delivery.send"
# A "sending" older than this was interrupted (leases are shorter); the sweep marks it unknown.
SENDING_STALE = timedelta(minutes=15)
_SENDABLE = ("pending", "failed")


def enqueue_send(db: Session, delivery_id: int, run_at: datetime | None = None) -> int:
    """The job that sends this delivery, in the caller's transaction (at most one per delivery);
    `run_at`: not before then (the end of the user's quiet hours)."""
    return queue.enqueue(
        db,
        SEND_KIND,
        {"delivery_id": delivery_id},
        key=f"{SEND_KIND}:{delivery_id}",
        run_at=run_at,
    )


def _load(db: Session, delivery_id: int) -> NotificationDelivery | None:
    stmt = select(NotificationDelivery).where(NotificationDelivery.id == delivery_id)
    if is_postgres(db):
        stmt = stmt.with_for_update()
    return db.exec(stmt).first()


def _message(db: Session, delivery: NotificationDelivery) -> OutgoingEmail | OutgoingSms:
    note = db.get(Notification, delivery.notification_id)
    user = db.get(User, note.user_id) if note else None
    if note is None or user is None or not user.is_active:
        raise PermanentJobError(f"delivery {delivery.id}: no active recipient")
    reference = f"delivery:{delivery.id}"
    link = f"{get_settings().public_url}{note.link}" if note.link else ""
    if delivery.channel == "email":
        text = "\n\n".join(part for part in (note.title, note.body, link) if part)
        return OutgoingEmail(to=user.email, subject=note.title, text=text, reference=reference)
    if delivery.channel == "sms":
        if not user.mobile:
            raise PermanentJobError(f"delivery {delivery.id}: the recipient has no mobile number")
        text = " ".join(part for part in (note.title, note.body, link) if part)
        return OutgoingSms(to=user.mobile, text=text[:1500], reference=reference)
    raise PermanentJobError(f"delivery {delivery.id}: channel {delivery.channel!r} is not sent")


def _finish(delivery_id: int, **values: object) -> None:
    with unit_of_work(write=True) as db:
        db.exec(
            sa.update(NotificationDelivery)
            .where(col(NotificationDelivery.id) == delivery_id)
            .values(**values)
        )


def send(job: ClaimedJob) -> None:
    """The job handler: send one delivery (payload {"delivery_id": N})."""
    delivery_id = job.payload["delivery_id"]
    problem: PermanentJobError | None = None
    with unit_of_work(write=True) as db:
        delivery = _load(db, delivery_id)
        if delivery is None or delivery.status in ("sent", "delivered"):
            return  # gone, or already sent: nothing to do
        if delivery.status in ("sending", "unknown"):
            delivery.status = "unknown"
            delivery.error = "interrupted while sending; it may have gone out, so it is not re-sent"
            db.add(delivery)
            problem = PermanentJobError(f"delivery {delivery_id}: {delivery.error}")
        else:
            try:
                message = _message(db, delivery)
            except PermanentJobError as exc:
                delivery.status, delivery.error = "failed", str(exc)[:500]
                db.add(delivery)
                problem = exc
            else:
                delivery.status, delivery.sending_at = "sending", utcnow()
                delivery.attempts += 1
                db.add(delivery)
    if problem is not None:
        raise problem
    try:
        result: SendResult = (
            providers().email.send(message)
            if isinstance(message, OutgoingEmail)
            else providers().sms.send(message)
        )
    except ProviderError as exc:
        last = job.attempt >= job.max_attempts
        retry = exc.temporary and not last
        _finish(delivery_id, status="pending" if retry else "failed", error=str(exc)[:500])
        if retry:
            raise
        raise PermanentJobError(f"delivery {delivery_id}: {exc}") from None
    _finish(
        delivery_id,
        status="sent",
        delivered_at=utcnow(),
        error=None,
        provider_message_id=(result.provider_message_id or "")[:200] or None,
    )


def sweep_interrupted(db: Session) -> int:
    """Deliveries left "sending" long ago (their sender stopped) become "unknown"."""
    result = db.exec(
        sa.update(NotificationDelivery)
        .where(
            col(NotificationDelivery.status) == "sending",
            col(NotificationDelivery.sending_at) < utcnow() - SENDING_STALE,
        )
        .values(status="unknown", error="interrupted while sending; not re-sent")
    )
    return result.rowcount or 0
