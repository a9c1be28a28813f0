"""The calendar: follow-ups and logged interactions in a date range, for me, one broker or a team.

Brokers see their own; managers choose one of their brokers or the whole team; admins and
compliance may look at any broker or everyone. Items outside the actor's book never appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.models.firm import Firm
from brm_app.models.follow_up import FollowUp, FollowUpStatus
from brm_app.models.interaction import Interaction
from brm_app.models.user import User
from brm_app.services import follow_ups, interactions
from brm_app.services.brokers import active_brokers
from brm_app.services.errors import ValidationFailed
from brm_app.services.validation import require_id

MAX_DAYS = 62


@dataclass(frozen=True)
class CalendarItem:
    kind: str  # "follow_up" | "interaction"
    item_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    firm_id: int
    firm_name: str
    person: str  # assignee (follow-ups) or the logging broker (interactions)
    status: str  # follow-ups: open/done/cancelled; interactions: their type
    overdue: bool
    detail: str  # interactions: outcome; follow-ups: ""


@dataclass(frozen=True)
class CalendarView:
    items: list[CalendarItem]
    brokers: list[tuple[int, str]]  # whose calendars the actor may choose
    time_zone: str


def choosable_brokers(db: Session, actor: Actor | SystemActor) -> list[tuple[int, str]]:
    return active_brokers(db, among=follow_ups.team_ids(db, actor))


def items(
    db: Session,
    *,
    actor: Actor | SystemActor,
    start: date,
    end: date,
    broker_id: int | None = None,
    team: bool = False,
) -> CalendarView:
    """Items from `start` to `end` (inclusive, in the actor's time zone)."""
    require(actor, Permission.FOLLOW_UPS_VIEW)
    if not isinstance(start, date) or not isinstance(end, date):
        raise ValidationFailed("must be dates", field="start")
    if end < start:
        raise ValidationFailed("ends before it starts", field="end")
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed(f"must be at most {MAX_DAYS} days", field="end")
    tz_name = interactions.user_zone_name(db, actor)
    lo, hi = interactions.local_day_bounds(start, end, tz_name)
    brokers = choosable_brokers(db, actor)
    if team or broker_id is not None:
        require(actor, Permission.TEAM_VIEW)
    if broker_id is not None:
        broker_id = require_id(broker_id, "broker_id")
        if broker_id not in {b for b, _ in brokers}:
            raise ValidationFailed("is not one of your brokers", field="broker_id")
        people: list[int] | None = [broker_id]
    elif team:
        team_ids = follow_ups.team_ids(db, actor)
        people = team_ids  # None: everyone (admins, compliance)
    else:
        people = [actor.user_id] if isinstance(actor, Actor) else None

    fu_conds = [
        follow_ups.visible_condition(actor),
        FollowUp.due_at >= lo,
        FollowUp.due_at < hi,
        FollowUp.status != FollowUpStatus.CANCELLED.value,
    ]
    in_conds = [
        interactions.visible_condition(actor),
        Interaction.occurred_at >= lo,
        Interaction.occurred_at < hi,
    ]
    if people is not None:
        fu_conds.append(FollowUp.assignee_id.in_(people))
        in_conds.append(Interaction.broker_id.in_(people))
    now = utcnow()
    out: list[CalendarItem] = []
    for fu, firm_name, person in db.exec(
        select(FollowUp, Firm.name, User.name)
        .join(Firm, Firm.id == FollowUp.firm_id)
        .join(User, User.id == FollowUp.assignee_id)
        .where(*fu_conds)
        .order_by(FollowUp.due_at)
        .limit(2000)
    ).all():
        out.append(
            CalendarItem(
                "follow_up",
                fu.id,
                fu.title,
                fu.due_at,
                fu.due_at + timedelta(minutes=30),
                fu.firm_id,
                firm_name,
                person,
                fu.status,
                fu.status == FollowUpStatus.OPEN and fu.due_at < now,
                "",
            )
        )
    for row, firm_name, person in db.exec(
        select(Interaction, Firm.name, User.name)
        .join(Firm, Firm.id == Interaction.firm_id)
        .join(User, User.id == Interaction.broker_id)
        .where(*in_conds)
        .order_by(Interaction.occurred_at)
        .limit(2000)
    ).all():
        minutes = row.duration_minutes or 30
        out.append(
            CalendarItem(
                "interaction",
                row.id,
                row.subject,
                row.occurred_at,
                row.occurred_at + timedelta(minutes=minutes),
                row.firm_id,
                firm_name,
                person,
                row.interaction_type,
                False,
                row.outcome or "",
            )
        )
    out.sort(key=lambda i: (i.starts_at, i.kind, i.item_id))
    return CalendarView(out, brokers, tz_name)
