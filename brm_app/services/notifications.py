"""Notifications: one service for every channel. In-app notifications are delivered at once
(the bell); email and SMS deliveries are queued as `pending` rows, each sent by a job through
its provider (services/deliveries.py).

Each user only ever sees and marks their own notifications. Whatever changes a user's bell
(a new notification, one marked read) publishes a "notifications" event for that user: once the
transaction commits, their open pages refresh the bell (see brm_app/events.py and live.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, func, select, update

from brm_app import events
from brm_app.auth.actor import Actor
from brm_app.db import utcnow
from brm_app.models.follow_up import Notification, NotificationDelivery, NotificationPublic
from brm_app.services import deliveries
from brm_app.services.errors import NotFound, ValidationFailed
from brm_app.services.pagination import Page, PageRequest
from brm_app.services.validation import require_id

CHANNELS = ("in_app", "email", "sms")
TOPIC = "notifications"


def notify(
    db: Session,
    *,
    user_id: int,
    kind: str,
    title: str,
    body: str | None = None,
    link: str | None = None,
    channels: Iterable[str] = ("in_app",),
) -> Notification:
    channels = list(dict.fromkeys(channels))
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise ValueError(f"unknown notification channels: {sorted(unknown)}")
    now = utcnow()
    from brm_app.services import preferences

    # Email and SMS wait for the end of the user's quiet hours; in-app is immediate.
    later = preferences.quiet_until(db, user_id, now) if set(channels) - {"in_app"} else None
    note = Notification(
        user_id=user_id,
        kind=kind,
        title=title[:300],
        body=(body or None) and body[:2000],
        link=link,
        created_at=now,
    )
    db.add(note)
    db.flush()
    assert note.id is not None  # flushed: it has its id
    for channel in channels:
        in_app = channel == "in_app"
        delivery = NotificationDelivery(
            notification_id=note.id,
            channel=channel,
            status="delivered" if in_app else "pending",
            delivered_at=now if in_app else None,
        )
        db.add(delivery)
        if not in_app:
            db.flush()
            assert delivery.id is not None  # flushed: it has its id
            # Sent by a job once this transaction commits (none if it rolls back).
            deliveries.enqueue_send(db, delivery.id, run_at=later)
    events.publish(db, TOPIC, [user_id], note.id)
    return note


def _public(n: Notification) -> NotificationPublic:
    return NotificationPublic(
        notification_id=n.id,
        kind=n.kind,
        title=n.title,
        body=n.body,
        link=n.link,
        created_at=n.created_at,
        read=n.read_at is not None,
    )


def unread_count(db: Session, *, actor: Actor) -> int:
    return db.exec(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
    ).one()


def count_unread_for(db: Session, user_id: int) -> int:
    return db.exec(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    ).one()


def list_notifications(
    db: Session, *, actor: Actor, unread_only: bool = False, page: PageRequest = PageRequest()
) -> Page[NotificationPublic]:
    """The caller's notifications, newest first."""
    if not isinstance(unread_only, bool):
        raise ValidationFailed("must be true or false", field="unread")
    conds = [Notification.user_id == actor.user_id]
    if unread_only:
        conds.append(Notification.read_at.is_(None))
    rows = db.exec(
        select(Notification)
        .where(*conds)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    total = db.exec(select(func.count()).select_from(Notification).where(*conds)).one()
    return Page.build([_public(n) for n in rows], page=page, total=total)


def mark_read(db: Session, *, actor: Actor, notification_id: object) -> NotificationPublic:
    """Mark one of the caller's own notifications read (someone else's is "not found")."""
    chosen = require_id(notification_id, "notification_id")
    note = db.get(Notification, chosen)
    if note is None or note.user_id != actor.user_id:
        raise NotFound("Notification")
    if note.read_at is None:
        note.read_at = utcnow()
        db.add(note)
        events.publish(db, TOPIC, [actor.user_id], chosen)
    return _public(note)


def mark_all_read(db: Session, *, actor: Actor) -> int:
    marked = (
        db.exec(
            update(Notification)
            .where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
        ).rowcount
        or 0
    )
    if marked:
        events.publish(db, TOPIC, [actor.user_id])
    return marked
