"""Personal iCalendar (RFC 5545) feeds: a secret URL per user for Outlook or Google to subscribe to.

Only a hash of the URL's token is stored; a revoked (or unknown) token is "not found", and a
feed ends with its owner's credentials (auth/credentials.py), as sessions do. A feed holds
the owner's follow-ups and the meetings they logged, and never more than the owner may see today.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlmodel import Session, select, update

from brm_app.auth.actor import Actor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow, write_aside
from brm_app.models.firm import Firm
from brm_app.models.follow_up import CalendarFeed, FollowUp, FollowUpStatus
from brm_app.models.interaction import MEETING_TYPES, Interaction
from brm_app.models.user import User
from brm_app.services import audit, follow_ups, interactions
from brm_app.services.authentication import actor_of
from brm_app.services.errors import NotFound
from brm_app.services.validation import require_id

PAST_DAYS = 60
FUTURE_DAYS = 400


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class FeedInfo:
    feed_id: int
    created_at: datetime
    last_fetched_at: datetime | None
    active: bool


def create_feed(db: Session, *, actor: Actor) -> tuple[FeedInfo, str]:
    """A new feed; returns its token (shown once: only its hash is kept). For people with follow-ups."""
    require(actor, Permission.FOLLOW_UPS_VIEW)
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(user_id=actor.user_id, token_hash=_digest(token))
    db.add(feed)
    db.flush()
    audit.record(
        db, actor=actor, action="calendar_feed.created", entity="calendar_feed", entity_id=feed.id
    )
    return FeedInfo(feed.id, feed.created_at, None, True), token


def address(token: str, *, public_url: str) -> str:
    """A feed's URL, under the configured public address (never the request's Host header)."""
    return f"{public_url}/api/calendar/{token}.ics"


def _live(feed: CalendarFeed, user: User) -> bool:
    """Not revoked, and made since the owner's credentials last changed (a password change,
    reset or deactivation revokes feeds; this keeps any other path from reviving one)."""
    return feed.revoked_at is None and feed.created_at >= user.credentials_changed_at


def list_feeds(db: Session, *, actor: Actor) -> list[FeedInfo]:
    user = db.get(User, actor.user_id)
    rows = db.exec(
        select(CalendarFeed)
        .where(CalendarFeed.user_id == actor.user_id)
        .order_by(CalendarFeed.created_at.desc())
    ).all()
    return [FeedInfo(f.id, f.created_at, f.last_fetched_at, _live(f, user)) for f in rows]


def revoke_feed(db: Session, *, actor: Actor, feed_id: object) -> None:
    feed = db.get(CalendarFeed, require_id(feed_id, "feed_id"))
    if feed is None or feed.user_id != actor.user_id:
        raise NotFound("Calendar feed")
    if feed.revoked_at is None:
        feed.revoked_at = utcnow()
        db.add(feed)
        audit.record(
            db,
            actor=actor,
            action="calendar_feed.revoked",
            entity="calendar_feed",
            entity_id=feed.id,
        )


def feed_owner(db: Session, token: str) -> tuple[CalendarFeed, User] | None:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    feed = db.exec(select(CalendarFeed).where(CalendarFeed.token_hash == _digest(token))).first()
    if feed is None or feed.revoked_at is not None:
        return None
    user = db.get(User, feed.user_id)
    if user is None or not user.is_active or not _live(feed, user):
        return None
    return feed, user


def render(db: Session, *, token: str, base_url: str = "") -> bytes | None:
    """The feed's iCalendar text, or None for an unknown, revoked or ownerless token. Links in
    it start with `base_url` (the configured public address)."""
    found = feed_owner(db, token)
    if found is None:
        return None
    feed, user = found
    owner = actor_of(user, ip=None)
    now = utcnow()
    lo, hi = now - timedelta(days=PAST_DAYS), now + timedelta(days=FUTURE_DAYS)
    cal = Calendar()
    cal.add("prodid", "-//BrokerSync//BRM//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"BrokerSync — {user.name}")
    cal.add("x-wr-timezone", user.time_zone)
    if owner.role.value in ("broker", "manager", "admin"):
        for fu, firm_name in db.exec(
            select(FollowUp, Firm.name)
            .join(Firm, Firm.id == FollowUp.firm_id)
            .where(
                FollowUp.assignee_id == owner.user_id,
                FollowUp.status != FollowUpStatus.CANCELLED.value,
                FollowUp.due_at >= lo,
                FollowUp.due_at < hi,
                follow_ups.visible_condition(owner),
            )
        ).all():
            event = Event()
            event.add("uid", f"follow-up-{fu.id}@brokersync")
            event.add("dtstamp", now)
            event.add("dtstart", fu.due_at)
            event.add("dtend", fu.due_at + timedelta(minutes=30))
            event.add("summary", f"Follow-up: {fu.title}")
            event.add("description", f"{firm_name}\nStatus: {fu.status}")
            event.add("status", "CONFIRMED")  # cancelled follow-ups are left out above
            event.add("categories", ["Follow-up"])
            if base_url:
                event.add("url", f"{base_url}/follow-ups/{fu.id}")
            cal.add_component(event)
        for row, firm_name in db.exec(
            select(Interaction, Firm.name)
            .join(Firm, Firm.id == Interaction.firm_id)
            .where(
                Interaction.broker_id == owner.user_id,
                Interaction.interaction_type.in_(MEETING_TYPES),
                Interaction.occurred_at >= lo,
                Interaction.occurred_at < hi,
                interactions.visible_condition(owner),
            )
        ).all():
            event = Event()
            event.add("uid", f"interaction-{row.id}@brokersync")
            event.add("dtstamp", now)
            event.add("dtstart", row.occurred_at)
            event.add("dtend", row.occurred_at + timedelta(minutes=row.duration_minutes or 60))
            event.add("summary", f"{row.interaction_type}: {row.subject}")
            event.add(
                "description", firm_name + (f"\nOutcome: {row.outcome}" if row.outcome else "")
            )
            event.add("categories", [row.interaction_type])
            if base_url:
                event.add("url", f"{base_url}/interactions/{row.id}")
            cal.add_component(event)
    # A fetch is a read: its time is saved in a short write transaction of its own.
    with write_aside(db) as writer:
        writer.exec(
            update(CalendarFeed).where(CalendarFeed.id == feed.id).values(last_fetched_at=now)
        )
    return cal.to_ical()
