"""What the dashboard shows each user: their own recent sign-ins, and for admins and compliance
the state of accounts and the latest audit events. Every figure is computed in SQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlmodel import Session, func, select

from brm_app.auth.actor import Actor
from brm_app.auth.rbac import Permission, has
from brm_app.db import utcnow
from brm_app.models.audit import AuditEvent, AuditEventPublic
from brm_app.models.auth_records import LoginThrottle, UserSession
from brm_app.models.user import User
from brm_app.services.audit import _public as audit_public


@dataclass
class Overview:
    my_recent_access: list[AuditEventPublic]
    my_live_sessions: int
    users_active: int | None = None
    users_inactive: int | None = None
    accounts_locked: int | None = None
    users_by_role: dict[str, int] = field(default_factory=dict)
    latest_events: list[AuditEventPublic] = field(default_factory=list)


_ACCESS_ACTIONS = ("auth.sign_in", "auth.sign_out", "auth.token_issued", "user.password_changed")


def overview(db: Session, *, actor: Actor) -> Overview:
    now = utcnow()
    mine = db.exec(
        select(AuditEvent)
        .where(AuditEvent.actor_id == actor.user_id, AuditEvent.action.in_(_ACCESS_ACTIONS))
        .order_by(AuditEvent.seq.desc())
        .limit(6)
    ).all()
    live = db.exec(
        select(func.count())
        .select_from(UserSession)
        .where(
            UserSession.user_id == actor.user_id,
            UserSession.revoked_at.is_(None),
            UserSession.token_hash.is_not(None),
            UserSession.expires_at > now,
        )
    ).one()
    out = Overview(my_recent_access=[audit_public(e) for e in mine], my_live_sessions=live)
    if has(actor, Permission.USERS_VIEW):
        rows = db.exec(
            select(User.role, User.is_active, func.count()).group_by(User.role, User.is_active)
        ).all()
        out.users_active = sum(n for _, active, n in rows if active)
        out.users_inactive = sum(n for _, active, n in rows if not active)
        for role, active, n in rows:
            if active:
                out.users_by_role[role] = out.users_by_role.get(role, 0) + n
        out.accounts_locked = db.exec(
            select(func.count())
            .select_from(LoginThrottle)
            .where(LoginThrottle.key.startswith("acct:"), LoginThrottle.locked_until > now)
        ).one()
    if has(actor, Permission.AUDIT_VIEW):
        latest = db.exec(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(8)).all()
        out.latest_events = [audit_public(e) for e in latest]
    return out


def describe_event(ev: AuditEventPublic) -> str:
    """A one-line human summary of an audit event."""
    labels = {
        "auth.sign_in": "Signed in",
        "auth.sign_out": "Signed out",
        "auth.sign_in_failed": "Failed sign-in",
        "auth.account_locked": "Account locked after failed sign-ins",
        "auth.address_locked": "Client address locked after failed sign-ins",
        "auth.token_issued": "API token issued",
        "user.created": "User created",
        "user.updated": "User changed",
        "user.deactivated": "User deactivated",
        "user.reactivated": "User reactivated",
        "user.password_reset": "Password reset by an admin",
        "user.password_changed": "Password changed",
        "user.profile_updated": "Profile changed",
        "user.unlocked": "Account unlocked",
        "demo.loaded": "Demo data loaded",
    }
    text = labels.get(ev.action, ev.action)
    if ev.action == "auth.sign_in_failed" and ev.changes.get("reason"):
        text += f" ({ev.changes['reason'].replace('_', ' ')})"
    return text


def changes_text(ev: AuditEventPublic) -> str:
    return json.dumps(ev.changes, indent=2, sort_keys=True, default=str)
