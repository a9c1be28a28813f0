"""Follow-ups: what must happen next, for whom, by when — with reminders.

Rules: a follow-up belongs to one firm the actor may use (and optionally to some of its traders
and to the interaction it came from); it is assigned to an active broker (brokers assign to
themselves or to a broker who also covers the firm); due times and reminders are read in the
user's time zone; reminders default to the admin's offsets (1 day and 1 hour before) and must
fall before the due time and not in the past; finishing or cancelling a follow-up stops its
reminders; snoozing adds a reminder later. A follow-up given to someone by another user (created
for them, or reassigned to them) notifies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, func, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.models.firm import Firm
from brm_app.models.follow_up import (
    FollowUp,
    FollowUpPatch,
    FollowUpPublic,
    FollowUpStatus,
    FollowUpTrader,
    FollowUpWrite,
    Reminder,
)
from brm_app.models.trader import Trader
from brm_app.models.user import Role, User
from brm_app.services import access, app_settings, audit, firms, notifications, scheduler, traders
from brm_app.services.brokers import active_brokers, check_active_broker
from brm_app.services.errors import PermissionDenied, ValidationFailed
from brm_app.services.interactions import local_day_bounds, to_utc, user_zone_name, zone
from brm_app.services.pagination import Page, PageRequest, capped_count
from brm_app.services.validation import require_id

AnyActor = Actor | SystemActor
PAST_GRACE = timedelta(minutes=5)


# ---- access ------------------------------------------------------------------------------------


def follow_up_visible(actor: Actor, permission: Permission, fu: FollowUp, db: Session) -> bool:
    if fu.assignee_id == actor.user_id:
        return True
    firm = db.get(Firm, fu.firm_id)
    return firm is not None and access.firm_visible(actor, permission, firm, db)


def visible_condition(actor: AnyActor) -> Any:
    in_book = access.in_visible_firm(actor, FollowUp.firm_id)
    if isinstance(actor, SystemActor):
        return in_book
    return sa.or_(FollowUp.assignee_id == actor.user_id, in_book)


def load(
    db: Session,
    actor: AnyActor,
    follow_up_id: object,
    permission: Permission = Permission.FOLLOW_UPS_VIEW,
) -> FollowUp:
    return access.load_authorized(
        db, actor, FollowUp, follow_up_id, permission, field="follow_up_id", what="Follow-up"
    )


def may_snooze(actor: AnyActor, fu: FollowUp) -> bool:
    """Beyond FOLLOW_UPS_EDIT on it: a broker snoozes only their own reminders."""
    return _assigns_across_the_book(actor) or fu.assignee_id == actor.user_id


def oversees_team(actor: AnyActor) -> bool:
    """A manager: their own follow-ups are few, their reports' are what they watch."""
    return isinstance(actor, Actor) and actor.role == Role.MANAGER


def team_ids(db: Session, actor: AnyActor) -> list[int] | None:
    """The brokers whose work the actor oversees: a manager's reports; None means every broker."""
    if isinstance(actor, SystemActor) or actor.role in (Role.ADMIN, Role.COMPLIANCE):
        return None
    if oversees_team(actor):
        return list(
            db.exec(
                select(User.id).where(User.manager_id == actor.user_id, User.role == Role.BROKER)
            ).all()
        )
    return [actor.user_id]


# ---- reading -----------------------------------------------------------------------------------


def to_public(db: Session, rows: list[FollowUp]) -> list[FollowUpPublic]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    people: dict[int, list[tuple[int, str]]] = {}
    for fid, tid, name in db.exec(
        select(FollowUpTrader.follow_up_id, Trader.id, Trader.name)
        .join(Trader, Trader.id == FollowUpTrader.trader_id)
        .where(FollowUpTrader.follow_up_id.in_(ids))
        .order_by(Trader.name_key)
    ).all():
        people.setdefault(fid, []).append((tid, name))
    reminders: dict[int, list[datetime]] = {}
    for fid, at in db.exec(
        select(Reminder.follow_up_id, Reminder.remind_at)
        .where(Reminder.follow_up_id.in_(ids), Reminder.fired_at.is_(None))
        .order_by(Reminder.remind_at)
    ).all():
        reminders.setdefault(fid, []).append(at)
    firm_names = dict(
        db.exec(select(Firm.id, Firm.name).where(Firm.id.in_({r.firm_id for r in rows}))).all()
    )
    names = dict(
        db.exec(select(User.id, User.name).where(User.id.in_({r.assignee_id for r in rows}))).all()
    )
    now = utcnow()
    return [
        FollowUpPublic(
            follow_up_id=r.id,
            title=r.title,
            notes=r.notes,
            due_at=r.due_at,
            assignee_id=r.assignee_id,
            assignee_name=names.get(r.assignee_id, ""),
            firm_id=r.firm_id,
            firm_name=firm_names.get(r.firm_id, ""),
            trader_ids=[t for t, _ in people.get(r.id, [])],
            trader_names=[n for _, n in people.get(r.id, [])],
            interaction_id=r.interaction_id,
            reminders=reminders.get(r.id, []),
            status=FollowUpStatus(r.status),
            overdue=r.status == FollowUpStatus.OPEN and r.due_at < now,
            snoozed_until=r.snoozed_until,
            created_at=r.created_at,
            updated_at=r.updated_at,
            completed_at=r.completed_at,
        )
        for r in rows
    ]


def get_follow_up(db: Session, *, actor: AnyActor, follow_up_id: object) -> FollowUpPublic:
    return to_public(db, [load(db, actor, follow_up_id)])[0]


@dataclass(frozen=True)
class FollowUpQuery:
    scope: Literal["mine", "team", "all"] = "mine"
    assignee_id: int | None = None
    firm_id: int | None = None
    trader_id: int | None = None
    status: FollowUpStatus | None = None
    overdue: bool = False
    date_from: date | None = None
    date_to: date | None = None


def list_follow_ups(
    db: Session,
    *,
    actor: AnyActor,
    query: FollowUpQuery = FollowUpQuery(),
    page: PageRequest = PageRequest(),
) -> Page[FollowUpPublic]:
    """Mine, my team's (managers) or all I may see; soonest due first."""
    require(actor, Permission.FOLLOW_UPS_VIEW)
    conds: list[Any] = [visible_condition(actor)]
    if query.scope == "mine":
        if isinstance(actor, Actor):
            conds.append(FollowUp.assignee_id == actor.user_id)
    elif query.scope == "team":
        require(actor, Permission.TEAM_VIEW)
        team = team_ids(db, actor)
        if team is not None:
            conds.append(FollowUp.assignee_id.in_(team))
    elif query.scope != "all":
        raise ValidationFailed("must be mine, team or all", field="scope")
    if query.assignee_id is not None:
        conds.append(FollowUp.assignee_id == require_id(query.assignee_id, "assignee_id"))
    if query.firm_id is not None:
        conds.append(FollowUp.firm_id == firms.load(db, actor, query.firm_id).id)
    if query.trader_id is not None:
        trader = traders.load(db, actor, query.trader_id)  # 404 for a trader the actor may not see
        conds.append(
            FollowUp.id.in_(
                select(FollowUpTrader.follow_up_id).where(FollowUpTrader.trader_id == trader.id)
            )
        )
    if query.status is not None:
        conds.append(FollowUp.status == query.status.value)
    if query.overdue:
        conds.extend([FollowUp.status == FollowUpStatus.OPEN.value, FollowUp.due_at < utcnow()])
    start, end = local_day_bounds(query.date_from, query.date_to, user_zone_name(db, actor))
    if start:
        conds.append(FollowUp.due_at >= start)
    if end:
        conds.append(FollowUp.due_at < end)
    rows = list(
        db.exec(
            select(FollowUp)
            .where(*conds)
            .order_by(FollowUp.due_at, FollowUp.id)
            .offset(page.offset)
            .limit(page.limit + 1)
        ).all()
    )
    total, at_least = capped_count(db, select(FollowUp.id).where(*conds))
    return Page.build(to_public(db, rows), page=page, total=total, total_at_least=at_least)


# ---- writing -----------------------------------------------------------------------------------


def _assigns_across_the_book(actor: AnyActor) -> bool:
    """Managers and admins assign follow-ups to any active broker; a broker to themselves or to
    another broker who covers the firm."""
    return not (isinstance(actor, Actor) and actor.role == Role.BROKER)


def assignable_brokers(db: Session, *, actor: AnyActor, firm_id: object) -> list[tuple[int, str]]:
    """(id, name) of the brokers the actor may assign this firm's follow-ups to: exactly the
    choices `_check_assignee` accepts."""
    firm = firms.load(db, actor, firm_id, Permission.FOLLOW_UPS_EDIT)
    if _assigns_across_the_book(actor):
        return active_brokers(db)
    assert firm.id is not None  # a loaded row's primary key
    return active_brokers(db, among=access.covering_broker_ids(firm.id))


def _check_assignee(db: Session, actor: AnyActor, assignee_id: int, firm: Firm) -> int:
    check_active_broker(db, assignee_id, "assignee_id")
    is_other_broker = not _assigns_across_the_book(actor) and assignee_id != actor.user_id
    if is_other_broker and not access.covers(db, assignee_id, firm.id):
        raise ValidationFailed(
            "must be you or a broker who also covers this firm", field="assignee_id"
        )
    return assignee_id


def _tell_assignee(db: Session, actor: AnyActor, fu: FollowUp) -> None:
    """Someone else gave this follow-up to its assignee: their bell says so at once."""
    if fu.assignee_id == getattr(actor, "user_id", None):
        return
    notifications.notify(
        db,
        user_id=fu.assignee_id,
        kind="assigned",
        title=f"Assigned to you: {fu.title}",
        link=f"/follow-ups/{fu.id}",
    )


def _check_traders(db: Session, actor: AnyActor, trader_ids: list[int], firm_id: int) -> list[int]:
    trader_ids = list(dict.fromkeys(trader_ids))
    if not trader_ids:
        return []
    found = dict(
        db.exec(
            select(Trader.id, Trader.firm_id).where(
                Trader.id.in_(trader_ids),
                Trader.archived_at.is_(None),
                access.trader_condition(actor),
            )
        ).all()
    )
    for tid in trader_ids:
        if tid not in found:
            raise ValidationFailed(f"trader {tid} is not one of your traders", field="trader_ids")
        if found[tid] != firm_id:
            raise ValidationFailed(f"trader {tid} works at another firm", field="trader_ids")
    return trader_ids


def _reminder_times(
    db: Session, due_at: datetime, given: list[datetime] | None, tz_name: str, *, now: datetime
) -> list[datetime]:
    if given is None:
        offsets = app_settings.get_rules(db).default_reminder_minutes
        return sorted(
            {due_at - timedelta(minutes=m) for m in offsets if due_at - timedelta(minutes=m) > now}
        )
    times = sorted({to_utc(t, tz_name) for t in given})
    for t in times:
        if t > due_at:
            raise ValidationFailed("must be at or before the due time", field="reminders")
        if t < now - PAST_GRACE:
            raise ValidationFailed("must not be in the past", field="reminders")
    return times


def _set_reminders(db: Session, fu: FollowUp, times: list[datetime]) -> None:
    db.exec(sa.delete(Reminder).where(Reminder.follow_up_id == fu.id, Reminder.fired_at.is_(None)))
    for t in times:
        db.add(Reminder(follow_up_id=fu.id, remind_at=t))
    scheduler.reminders_changed(db)


def _stop_reminders(db: Session, fu: FollowUp, now: datetime) -> None:
    db.exec(
        sa.update(Reminder)
        .where(Reminder.follow_up_id == fu.id, Reminder.fired_at.is_(None))
        .values(fired_at=now, outcome="skipped")
    )


def create_follow_up(db: Session, *, actor: AnyActor, data: FollowUpWrite) -> FollowUpPublic:
    require(actor, Permission.FOLLOW_UPS_EDIT)
    now = utcnow()
    interaction = None
    if data.interaction_id is not None:
        from brm_app.services import interactions

        interaction = interactions.load(db, actor, data.interaction_id)
    firm_id = data.firm_id or (interaction.firm_id if interaction else None)
    if firm_id is None and data.trader_ids:
        firm_id = db.exec(select(Trader.firm_id).where(Trader.id == data.trader_ids[0])).first()
    if firm_id is None:
        raise ValidationFailed("choose the firm", field="firm_id")
    if interaction is not None and interaction.firm_id != firm_id:
        raise ValidationFailed("the interaction is with another firm", field="interaction_id")
    firm = firms.load(db, actor, firm_id, Permission.FOLLOW_UPS_EDIT)
    if firm.archived_at is not None:
        raise ValidationFailed("This firm is archived.", field="firm_id")
    tz_name = data.time_zone or user_zone_name(db, actor)
    zone(tz_name)
    due_at = to_utc(data.due_at, tz_name)
    if due_at < now - PAST_GRACE:
        raise ValidationFailed("is in the past", field="due_at")
    if due_at > now + timedelta(days=5 * 366):
        raise ValidationFailed("is more than five years away", field="due_at")
    assignee = data.assignee_id or getattr(actor, "user_id", None)
    if assignee is None:
        raise ValidationFailed("choose the broker it is assigned to", field="assignee_id")
    assignee = _check_assignee(db, actor, assignee, firm)
    trader_ids = _check_traders(db, actor, data.trader_ids, firm.id)
    times = _reminder_times(db, due_at, data.reminders, tz_name, now=now)
    fu = FollowUp(
        title=data.title,
        notes=data.notes or None,
        due_at=due_at,
        assignee_id=assignee,
        firm_id=firm.id,
        interaction_id=interaction.id if interaction else None,
        created_by_id=getattr(actor, "user_id", None),
        created_at=now,
        updated_at=now,
    )
    db.add(fu)
    db.flush()
    for tid in trader_ids:
        db.add(FollowUpTrader(follow_up_id=fu.id, trader_id=tid))
    _set_reminders(db, fu, times)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="follow_up.created",
        entity="follow_up",
        entity_id=fu.id,
        changes={
            "title": fu.title,
            "due_at": due_at.isoformat(),
            "assignee_id": assignee,
            "firm_id": firm.id,
            "trader_ids": trader_ids,
            "reminders": [t.isoformat() for t in times],
        },
    )
    _tell_assignee(db, actor, fu)
    return to_public(db, [fu])[0]


def _snapshot(db: Session, fu: FollowUp) -> dict[str, Any]:
    return {
        "title": fu.title,
        "notes": fu.notes,
        "due_at": fu.due_at.isoformat(),
        "assignee_id": fu.assignee_id,
        "status": fu.status,
        "trader_ids": sorted(
            db.exec(
                select(FollowUpTrader.trader_id).where(FollowUpTrader.follow_up_id == fu.id)
            ).all()
        ),
        "reminders": [
            t.isoformat()
            for t in db.exec(
                select(Reminder.remind_at)
                .where(Reminder.follow_up_id == fu.id, Reminder.fired_at.is_(None))
                .order_by(Reminder.remind_at)
            ).all()
        ],
    }


def update_follow_up(
    db: Session, *, actor: AnyActor, follow_up_id: object, data: FollowUpPatch
) -> FollowUpPublic:
    """Change what was sent. A new due time moves the pending reminders with it (unless new ones
    are sent); done or cancelled stops them; reopening re-arms the defaults."""
    fu = load(db, actor, follow_up_id, Permission.FOLLOW_UPS_EDIT)
    sent = data.model_fields_set
    reassigned = False
    now = utcnow()
    before = _snapshot(db, fu)
    firm = db.get(Firm, fu.firm_id)
    tz_name = data.time_zone or user_zone_name(db, actor)
    zone(tz_name)
    for key in ("title", "due_at", "status"):
        if key in sent and getattr(data, key) is None:
            raise ValidationFailed("cannot be empty", field=key)
    if "title" in sent:
        fu.title = data.title
    if "notes" in sent:
        fu.notes = data.notes or None
    if (
        "assignee_id" in sent
        and data.assignee_id is not None
        and data.assignee_id != fu.assignee_id
    ):
        fu.assignee_id = _check_assignee(db, actor, data.assignee_id, firm)
        fu.escalated_at = None
        reassigned = True
    if "trader_ids" in sent and data.trader_ids is not None:
        ids = _check_traders(db, actor, data.trader_ids, fu.firm_id)
        db.exec(sa.delete(FollowUpTrader).where(FollowUpTrader.follow_up_id == fu.id))
        for tid in ids:
            db.add(FollowUpTrader(follow_up_id=fu.id, trader_id=tid))
    if "due_at" in sent and data.due_at is not None:
        new_due = to_utc(data.due_at, tz_name)
        if new_due != fu.due_at:
            if new_due < now - PAST_GRACE:
                raise ValidationFailed("is in the past", field="due_at")
            shift = new_due - fu.due_at
            fu.due_at = new_due
            fu.escalated_at = None
            if "reminders" not in sent:
                pending = db.exec(
                    select(Reminder).where(
                        Reminder.follow_up_id == fu.id, Reminder.fired_at.is_(None)
                    )
                ).all()
                moved = [r.remind_at + shift for r in pending] or [
                    t for t in _reminder_times(db, new_due, None, tz_name, now=now)
                ]
                _set_reminders(db, fu, sorted(t for t in moved if t > now))
    if "reminders" in sent and data.reminders is not None:
        _set_reminders(db, fu, _reminder_times(db, fu.due_at, data.reminders, tz_name, now=now))
    if "status" in sent and data.status is not None and data.status.value != fu.status:
        fu.status = data.status.value
        if data.status == FollowUpStatus.OPEN:
            fu.completed_at = None
            if not db.exec(
                select(Reminder.id).where(
                    Reminder.follow_up_id == fu.id, Reminder.fired_at.is_(None)
                )
            ).first():
                _set_reminders(db, fu, _reminder_times(db, fu.due_at, None, tz_name, now=now))
        else:
            fu.completed_at = now
            _stop_reminders(db, fu, now)
    db.flush()
    changes = audit.diff(before, _snapshot(db, fu))
    if changes:
        fu.updated_at = now
        db.add(fu)
        action = "follow_up.updated"
        if set(changes) <= {"status", "reminders"} and "status" in changes:
            action = (
                f"follow_up.{fu.status}"
                if fu.status != FollowUpStatus.OPEN
                else "follow_up.reopened"
            )
        audit.record(
            db, actor=actor, action=action, entity="follow_up", entity_id=fu.id, changes=changes
        )
    if reassigned:
        _tell_assignee(db, actor, fu)
    return to_public(db, [fu])[0]


def snooze(
    db: Session, *, actor: AnyActor, follow_up_id: object, minutes: object
) -> FollowUpPublic:
    """Remind again in `minutes` (5 minutes to 7 days)."""
    fu = load(db, actor, follow_up_id, Permission.FOLLOW_UPS_EDIT)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 5 <= minutes <= 7 * 24 * 60:
        raise ValidationFailed("must be between 5 minutes and 7 days", field="minutes")
    if fu.status != FollowUpStatus.OPEN:
        raise ValidationFailed("Only an open follow-up can be snoozed.", field="follow_up_id")
    if not may_snooze(actor, fu):
        raise PermissionDenied("Only the assignee snoozes their reminders.")
    until = utcnow() + timedelta(minutes=minutes)
    fu.snoozed_until = until
    fu.updated_at = utcnow()
    db.add(fu)
    db.add(Reminder(follow_up_id=fu.id, remind_at=until))
    scheduler.reminders_changed(db)
    audit.record(
        db,
        actor=actor,
        action="follow_up.snoozed",
        entity="follow_up",
        entity_id=fu.id,
        changes={"until": until.isoformat()},
    )
    db.flush()
    return to_public(db, [fu])[0]


def open_counts(db: Session, firm_ids: list[int]) -> dict[int, tuple[int, int]]:
    """firm_id -> (open follow-ups, of which overdue)."""
    if not firm_ids:
        return {}
    now = utcnow()
    rows = db.exec(
        select(
            FollowUp.firm_id,
            func.count(),
            func.sum(sa.case((FollowUp.due_at < now, 1), else_=0)),
        )
        .where(FollowUp.firm_id.in_(firm_ids), FollowUp.status == FollowUpStatus.OPEN.value)
        .group_by(FollowUp.firm_id)
    ).all()
    return {fid: (n, int(overdue or 0)) for fid, n, overdue in rows}


def move_to_firm(db: Session, source_id: int, target_id: int) -> dict[str, int]:
    """Firm merge hook: the source firm's follow-ups become the target's."""
    moved = db.exec(
        sa.update(FollowUp).where(FollowUp.firm_id == source_id).values(firm_id=target_id)
    ).rowcount
    for old_id, new_id in db.exec(
        select(Trader.id, Trader.merged_into_id).where(
            Trader.firm_id == source_id, Trader.merged_into_id.is_not(None)
        )
    ).all():
        already = set(
            db.exec(
                select(FollowUpTrader.follow_up_id).where(FollowUpTrader.trader_id == new_id)
            ).all()
        )
        for link in db.exec(select(FollowUpTrader).where(FollowUpTrader.trader_id == old_id)).all():
            db.delete(link)
            if link.follow_up_id not in already:
                db.add(FollowUpTrader(follow_up_id=link.follow_up_id, trader_id=new_id))
    return {"follow_ups_moved": moved or 0}
