"""Rules admins tune inside the app: how often each tier should be contacted, when overdue
follow-ups escalate to the manager, the default reminder offsets, and which roles must use
two-factor sign-in. Stored as JSON by key."""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import Session

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.models.follow_up import AppSetting
from brm_app.models.user import Role
from brm_app.services import audit
from brm_app.services.errors import ValidationFailed

KEY = "relationship_rules"


@dataclass
class RelationshipRules:
    # Days without an interaction after which a firm is due for contact, per tier.
    contact_days: dict[str, int] = field(default_factory=lambda: {"A": 14, "B": 30, "C": 90})
    # An open follow-up this many days past due also notifies the assignee's manager.
    overdue_escalation_days: int = 2
    # Reminders set on a new follow-up unless others are given: minutes before it is due.
    default_reminder_minutes: list[int] = field(default_factory=lambda: [24 * 60, 60])


def get_rules(db: Session) -> RelationshipRules:
    row = db.get(AppSetting, KEY)
    if row is None:
        return RelationshipRules()
    data = json.loads(row.value)
    defaults = RelationshipRules()
    return RelationshipRules(
        contact_days={**defaults.contact_days, **data.get("contact_days", {})},
        overdue_escalation_days=data.get(
            "overdue_escalation_days", defaults.overdue_escalation_days
        ),
        default_reminder_minutes=data.get(
            "default_reminder_minutes", defaults.default_reminder_minutes
        ),
    )


def read_rules(db: Session, *, actor: Actor | SystemActor) -> RelationshipRules:
    """The rules as settings (admins); the services read them for everyone's use via get_rules."""
    require(actor, Permission.APP_SETTINGS)
    return get_rules(db)


def _int_in(value: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"must be a whole number from {low} to {high}", field=field_name)
    return value


def update_rules(
    db: Session,
    *,
    actor: Actor | SystemActor,
    contact_days: dict[str, int] | None = None,
    overdue_escalation_days: int | None = None,
    default_reminder_minutes: list[int] | None = None,
) -> RelationshipRules:
    require(actor, Permission.APP_SETTINGS)
    rules = get_rules(db)
    before = asdict(rules)
    if contact_days is not None:
        if not isinstance(contact_days, dict) or set(contact_days) - {"A", "B", "C"}:
            raise ValidationFailed("must give days for tiers A, B and C", field="contact_days")
        for tier, days in contact_days.items():
            rules.contact_days[tier] = _int_in(days, f"contact_days.{tier}", 1, 3650)
    if overdue_escalation_days is not None:
        rules.overdue_escalation_days = _int_in(
            overdue_escalation_days, "overdue_escalation_days", 0, 365
        )
    if default_reminder_minutes is not None:
        if not isinstance(default_reminder_minutes, list) or len(default_reminder_minutes) > 5:
            raise ValidationFailed(
                "must be a list of at most 5 numbers", field="default_reminder_minutes"
            )
        rules.default_reminder_minutes = sorted(
            {
                _int_in(m, "default_reminder_minutes", 0, 30 * 24 * 60)
                for m in default_reminder_minutes
            },
            reverse=True,
        )
    _store(db, actor, KEY, before, asdict(rules))
    return rules


# ---- account security ---------------------------------------------------------------------------

SECURITY_KEY = "account_security"


@dataclass
class SecurityRules:
    # Roles whose users must sign in with a second factor (they enrol before anything else).
    mfa_required_roles: list[str] = field(default_factory=list)


def get_security(db: Session) -> SecurityRules:
    row = db.get(AppSetting, SECURITY_KEY)
    return security_rules(None if row is None else row.value)


@functools.lru_cache(maxsize=16)
def _parsed_security(value: str) -> tuple[str, ...]:
    return tuple(json.loads(value).get("mfa_required_roles", []))


def security_rules(value: str | None) -> SecurityRules:
    """The sign-in security rules from their stored JSON (parsed once per distinct value)."""
    if value is None:
        return SecurityRules()
    return SecurityRules(mfa_required_roles=list(_parsed_security(value)))


def mfa_required_for(db: Session, role: str) -> bool:
    return role in get_security(db).mfa_required_roles


def read_security(db: Session, *, actor: Actor | SystemActor) -> SecurityRules:
    require(actor, Permission.APP_SETTINGS)
    return get_security(db)


def update_security(
    db: Session, *, actor: Actor | SystemActor, mfa_required_roles: object
) -> SecurityRules:
    """Admins choose the roles that must use two-factor sign-in; audited."""
    require(actor, Permission.APP_SETTINGS)
    roles = {r.value for r in Role}
    if (
        not isinstance(mfa_required_roles, list)
        or len(mfa_required_roles) > len(roles)
        or any(not isinstance(r, str) or r not in roles for r in mfa_required_roles)
    ):
        raise ValidationFailed("must be a list of roles", field="mfa_required_roles")
    rules = get_security(db)
    before = asdict(rules)
    rules.mfa_required_roles = sorted(set(mfa_required_roles))
    _store(db, actor, SECURITY_KEY, before, asdict(rules))
    return rules


def _store(
    db: Session, actor: Actor | SystemActor, key: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """Save one settings row and audit what changed (nothing when nothing did)."""
    changes = audit.diff(before, after)
    if not changes:
        return
    row = db.get(AppSetting, key) or AppSetting(key=key, value="{}")
    row.value = json.dumps(after, sort_keys=True)
    row.updated_at = utcnow()
    row.updated_by_id = getattr(actor, "user_id", None)
    db.add(row)
    audit.record(
        db,
        actor=actor,
        action="settings.updated",
        entity="settings",
        entity_id=key,
        changes=changes,
    )
