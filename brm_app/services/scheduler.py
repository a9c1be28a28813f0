"""The in-app scheduler: fires due reminders and escalates overdue follow-ups, exactly once.

The job runner runs it (brm_app/jobs/runner.py: in every app worker, or in `brm worker`), waking
at each reminder's time; overdue escalations run on its periodic pass. Each pass claims due rows
inside one transaction: on PostgreSQL with SELECT ... FOR UPDATE SKIP LOCKED, so two workers never take the same
reminder; on SQLite the write transaction (BEGIN IMMEDIATE) already lets one writer in at a time.
A reminder is marked fired in the same transaction that creates its notification, so a crash
loses nothing and repeats nothing; one that fell due while the app was down fires on the first
pass after start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from brm_app.db import is_postgres, utcnow
from brm_app.jobs import wake
from brm_app.models.firm import Firm
from brm_app.models.follow_up import FollowUp, FollowUpStatus, Reminder
from brm_app.models.user import User
from brm_app.services import app_settings, notifications

BATCH = 200


@dataclass
class PassReport:
    reminders_sent: int = 0
    reminders_skipped: int = 0
    escalations: int = 0
    users: set[int] = field(default_factory=set)


def _claim(db: Session, stmt):
    if is_postgres(db):
        stmt = stmt.with_for_update(skip_locked=True)
    return db.exec(stmt).all()


def _when(moment: datetime, tz_name: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        local = moment.astimezone(ZoneInfo(tz_name))
    except (KeyError, ValueError):
        local = moment
    return local.strftime("%a %d %b %H:%M") + f" ({tz_name})"


def fire_due_reminders(
    db: Session, *, now: datetime | None = None, batch: int = BATCH
) -> PassReport:
    """Claim and fire up to `batch` due reminders in the caller's transaction.

    Reads what the notifications need in three queries (follow-ups, their assignees' time zones,
    their firms' names) and marks the claimed reminders in two statements: with 100,000 open
    follow-ups and a hundred reminders due, row-by-row lookups and updates took 150 ms a pass.
    """
    now = now or utcnow()
    report = PassReport()
    due = _claim(
        db,
        select(Reminder.id, Reminder.follow_up_id)
        .where(col(Reminder.fired_at).is_(None), Reminder.remind_at <= now)
        .order_by(Reminder.remind_at)
        .limit(batch),
    )
    if not due:
        return report
    follow_ups = {
        fu.id: fu
        for fu in db.exec(select(FollowUp).where(FollowUp.id.in_({fid for _, fid in due}))).all()
    }
    live = [fu for fu in follow_ups.values() if fu.status == FollowUpStatus.OPEN]
    assignees = {
        user_id: (tz, email_too)
        for user_id, tz, email_too in db.exec(
            select(User.id, User.time_zone, User.email_reminders).where(
                User.id.in_({fu.assignee_id for fu in live})
            )
        ).all()
    }
    firm_names = dict(
        db.exec(select(Firm.id, Firm.name).where(Firm.id.in_({fu.firm_id for fu in live}))).all()
    )
    outcomes: dict[str, list[int]] = {"sent": [], "skipped": []}
    for reminder_id, follow_up_id in due:
        fu = follow_ups.get(follow_up_id)
        if fu is None or fu.status != FollowUpStatus.OPEN:
            outcomes["skipped"].append(reminder_id)
            report.reminders_skipped += 1
            continue
        tz, _ = assignees.get(fu.assignee_id, ("UTC", False))
        overdue = fu.due_at <= now
        notifications.notify(
            db,
            user_id=fu.assignee_id,
            kind="reminder",
            title=("Overdue: " if overdue else "Reminder: ") + fu.title,
            body=f"{firm_names[fu.firm_id]} — due {_when(fu.due_at, tz)}",
            link=f"/follow-ups/{fu.id}",
            # The channels the user chose for reminders (email/SMS sent by a job).
            channels=_channels(db, fu.assignee_id, "reminder"),
        )
        outcomes["sent"].append(reminder_id)
        report.reminders_sent += 1
        report.users.add(fu.assignee_id)
    for outcome, ids in outcomes.items():
        if ids:
            db.exec(
                sa.update(Reminder)
                .where(Reminder.id.in_(ids))
                .values(fired_at=now, outcome=outcome)
            )
    db.flush()
    return report


def next_reminder_at(db: Session) -> datetime | None:
    """When the next unfired reminder falls due (the job runner sleeps until then)."""
    return db.exec(
        select(sa.func.min(Reminder.remind_at)).where(col(Reminder.fired_at).is_(None))
    ).one()


def reminders_changed(db: Session) -> None:
    """A reminder was added or moved in this transaction: wake the runners once it commits, so
    one due sooner than they planned to wake still fires on time."""
    wake.after_commit(db)


def escalate_overdue(db: Session, *, now: datetime | None = None, batch: int = BATCH) -> PassReport:
    """Open follow-ups overdue by the admin's number of days notify the assignee's manager, once."""
    now = now or utcnow()
    report = PassReport()
    days = app_settings.get_rules(db).overdue_escalation_days
    cutoff = now - timedelta(days=days)
    rows = _claim(
        db,
        select(FollowUp)
        .where(
            FollowUp.status == FollowUpStatus.OPEN.value,
            col(FollowUp.escalated_at).is_(None),
            FollowUp.due_at < cutoff,
        )
        .order_by(FollowUp.due_at)
        .limit(batch),
    )
    for fu in rows:
        fu.escalated_at = now
        db.add(fu)
        assignee = db.get(User, fu.assignee_id)
        if assignee is None or assignee.manager_id is None:
            continue
        manager = db.get(User, assignee.manager_id)
        if manager is None or not manager.is_active:
            continue
        firm_name = db.exec(select(Firm.name).where(Firm.id == fu.firm_id)).one()
        notifications.notify(
            db,
            user_id=manager.id,
            kind="overdue",
            title=f"Overdue for {assignee.name}: {fu.title}",
            body=f"{firm_name} — was due {_when(fu.due_at, manager.time_zone)}, {days} day(s) ago or more",
            link=f"/follow-ups/{fu.id}",
            channels=_channels(db, assignee.manager_id, "overdue"),
        )
        report.escalations += 1
        report.users.add(manager.id)
    db.flush()
    return report


def run_pass(db: Session, *, now: datetime | None = None) -> PassReport:
    now = now or utcnow()
    first = fire_due_reminders(db, now=now)
    second = escalate_overdue(db, now=now)
    return PassReport(
        reminders_sent=first.reminders_sent,
        reminders_skipped=first.reminders_skipped,
        escalations=second.escalations,
        users=first.users | second.users,
    )


def _channels(db: Session, user_id: int, kind: str) -> tuple[str, ...]:
    """The user's chosen channels for this kind; the bell always keeps a record."""
    from brm_app.services import preferences

    chosen = preferences.channels_for(db, user_id, kind)
    return ("in_app", *[c for c in chosen if c != "in_app"])
