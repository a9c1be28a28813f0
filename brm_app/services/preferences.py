"""Notification preferences: per kind of event, which channels reach a user (in-app, email, SMS),
and quiet hours in their time zone (email and SMS wait until they end; in-app is immediate).

Without a row a kind has its defaults: reminders and escalations in-app (reminders also by
email for users who asked for "email me my reminders"), new messages only through the messages
badge. SMS need the user's own mobile number. Each user sees and changes only their own.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.models.communication import NotificationPreference, PreferencePublic, QuietHours
from brm_app.models.fields import check_mobile
from brm_app.models.user import User
from brm_app.services import audit
from brm_app.services.errors import ValidationFailed

# kind -> its label; later issues add theirs here.
KINDS = {
    "reminder": "Follow-up reminders",
    "overdue": "Overdue escalations",
    "message": "New messages",
    "assigned": "Follow-ups assigned to me",
    "review": "Items to review (compliance)",
}


def _defaults(user: User, kind: str) -> tuple[bool, bool, bool]:
    if kind == "message":
        return False, False, False
    return True, kind == "reminder" and user.email_reminders, False


def _kind(value: object) -> str:
    if not isinstance(value, str) or value not in KINDS:
        raise ValidationFailed(f"must be one of: {', '.join(KINDS)}", field="kind")
    return value


def get_preferences(db: Session, *, actor: Actor) -> list[PreferencePublic]:
    require(actor, Permission.PROFILE_EDIT)
    user = db.get(User, actor.user_id)
    assert user is not None
    rows = {
        p.kind: p
        for p in db.exec(
            select(NotificationPreference).where(col(NotificationPreference.user_id) == user.id)
        ).all()
    }
    out = []
    for kind in KINDS:
        row = rows.get(kind)
        in_app, email, sms = (row.in_app, row.email, row.sms) if row else _defaults(user, kind)
        out.append(PreferencePublic(kind=kind, in_app=in_app, email=email, sms=sms))
    return out


def set_preference(
    db: Session, *, actor: Actor, kind: object, in_app: object, email: object, sms: object
) -> PreferencePublic:
    require(actor, Permission.PROFILE_EDIT)
    kind = _kind(kind)
    for name, value in (("in_app", in_app), ("email", email), ("sms", sms)):
        if not isinstance(value, bool):
            raise ValidationFailed("must be true or false", field=name)
    user = db.get(User, actor.user_id)
    assert user is not None
    if sms and not user.mobile:
        raise ValidationFailed("add your mobile number first (SMS go only there)", field="sms")
    row = db.get(NotificationPreference, (user.id, kind))
    current = (row.in_app, row.email, row.sms) if row else _defaults(user, kind)
    if current == (in_app, email, sms):
        return PreferencePublic(kind=kind, in_app=in_app, email=email, sms=sms)  # unchanged
    if row is None:
        row = NotificationPreference(user_id=actor.user_id, kind=kind)
    row.in_app, row.email, row.sms = bool(in_app), bool(email), bool(sms)
    db.add(row)
    audit.record(
        db,
        actor=actor,
        action="preferences.changed",
        entity="user",
        entity_id=user.id,
        changes={"kind": kind, "in_app": in_app, "email": email, "sms": sms},
    )
    return PreferencePublic(kind=kind, in_app=row.in_app, email=row.email, sms=row.sms)


def set_mobile(db: Session, *, actor: Actor, mobile: object) -> str | None:
    """The user's own mobile number (E.164), for notifications by SMS; empty removes it."""
    require(actor, Permission.PROFILE_EDIT)
    value: str | None = None
    if mobile not in (None, ""):
        if not isinstance(mobile, str):
            raise ValidationFailed("must be text", field="mobile")
        try:
            value = check_mobile(mobile)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="mobile") from None
    user = db.get(User, actor.user_id)
    assert user is not None
    if user.mobile == value:
        return value  # nothing changes
    user.mobile = value
    db.add(user)
    if value is None:
        for row in db.exec(
            select(NotificationPreference).where(col(NotificationPreference.user_id) == user.id)
        ).all():
            row.sms = False
            db.add(row)
    audit.record(db, actor=actor, action="user.mobile_changed", entity="user", entity_id=user.id)
    return value


def _minute(value: object, field: str) -> int:
    if not isinstance(value, str):
        raise ValidationFailed("must be a time like 22:00", field=field)
    try:
        t = time.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("must be a time like 22:00", field=field) from None
    return t.hour * 60 + t.minute


def set_quiet_hours(
    db: Session, *, actor: Actor, start: object, end: object
) -> tuple[str, str] | None:
    """Quiet hours from start to end (e.g. 22:00 to 07:00, in the user's time zone); both empty
    turns them off."""
    require(actor, Permission.PROFILE_EDIT)
    row = db.get(QuietHours, actor.user_id)
    if start in (None, "") and end in (None, ""):
        if row is not None:
            db.delete(row)
            audit.record(
                db,
                actor=actor,
                action="preferences.quiet_hours",
                entity="user",
                entity_id=actor.user_id,
                changes={"quiet_hours": None},
            )
        return None
    s, e = _minute(start, "start"), _minute(end, "end")
    if s == e:
        raise ValidationFailed("must differ from the start", field="end")
    if row is not None and (row.start_minute, row.end_minute) == (s, e):
        return f"{s // 60:02d}:{s % 60:02d}", f"{e // 60:02d}:{e % 60:02d}"  # unchanged
    if row is None:
        row = QuietHours(user_id=actor.user_id, start_minute=s, end_minute=e)
    row.start_minute, row.end_minute = s, e
    db.add(row)
    audit.record(
        db,
        actor=actor,
        action="preferences.quiet_hours",
        entity="user",
        entity_id=actor.user_id,
        changes={"start": start, "end": end},
    )
    return f"{s // 60:02d}:{s % 60:02d}", f"{e // 60:02d}:{e % 60:02d}"


def quiet_until(db: Session, user_id: int, now: datetime | None = None) -> datetime | None:
    """When the user's quiet hours end, if they are in them now (else None)."""
    row = db.get(QuietHours, user_id)
    if row is None:
        return None
    user = db.get(User, user_id)
    tz = ZoneInfo(user.time_zone if user and user.time_zone else "UTC")
    local = (now or utcnow()).astimezone(tz)
    minute = local.hour * 60 + local.minute
    s, e = row.start_minute, row.end_minute
    inside = (s <= minute < e) if s < e else (minute >= s or minute < e)
    if not inside:
        return None
    end = local.replace(hour=e // 60, minute=e % 60, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(utcnow().tzinfo)


def channels_for(db: Session, user_id: int, kind: str) -> tuple[str, ...]:
    """The channels this user chose for this kind of event (SMS only with a mobile number)."""
    user = db.get(User, user_id)
    if user is None:
        return ()
    row = db.get(NotificationPreference, (user_id, kind)) if kind in KINDS else None
    in_app, email, sms = (row.in_app, row.email, row.sms) if row else _defaults(user, kind)
    chosen = [c for c, on in (("in_app", in_app), ("email", email), ("sms", sms)) if on]
    if "sms" in chosen and not user.mobile:
        chosen.remove("sms")
    return tuple(chosen)


def wanted_by(db: Session, user_ids: set[int], kind: str) -> dict[int, tuple[str, ...]]:
    """For a kind whose default is no channel (new messages): those who asked, and how."""
    out: dict[int, tuple[str, ...]] = {}
    for row in db.exec(
        select(NotificationPreference).where(
            col(NotificationPreference.user_id).in_(user_ids),
            col(NotificationPreference.kind) == kind,
        )
    ).all():
        channels = channels_for(db, row.user_id, kind)
        if channels:
            out[row.user_id] = channels
    return out
