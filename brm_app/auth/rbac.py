"""Who may do what: one permission table, one `require` every service calls.

Role-level rules live in PERMISSIONS below. Record-level rules (a broker sees only the firms they
cover, a trader only their own firm) are registered next to each entity's service with
`record_rule`, and run when `require` is given the record. A record the actor may not see raises
NotFound, never PermissionDenied, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from brm_app.auth.actor import Actor, SystemActor
from brm_app.models.user import Role
from brm_app.services.errors import NotFound, PermissionDenied


class Permission(StrEnum):
    # Own account
    PROFILE_EDIT = "profile.edit"
    # Administration
    USERS_VIEW = "users.view"
    USERS_MANAGE = "users.manage"
    ACCOUNTS_UNLOCK = "accounts.unlock"
    # Compliance
    AUDIT_VIEW = "audit.view"


_EVERYONE = {Permission.PROFILE_EDIT}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        _EVERYONE
        | {
            Permission.USERS_VIEW,
            Permission.USERS_MANAGE,
            Permission.ACCOUNTS_UNLOCK,
            Permission.AUDIT_VIEW,
        }
    ),
    Role.COMPLIANCE: frozenset(_EVERYONE | {Permission.AUDIT_VIEW}),
    Role.MANAGER: frozenset(_EVERYONE),
    Role.BROKER: frozenset(_EVERYONE),
    Role.TRADER: frozenset(_EVERYONE),
}

RecordRule = Callable[[Actor, Permission, Any], bool]
_RECORD_RULES: dict[type, RecordRule] = {}


def record_rule(record_type: type) -> Callable[[RecordRule], RecordRule]:
    """Register the record-level rule for one kind of record (e.g. Firm)."""

    def register(rule: RecordRule) -> RecordRule:
        _RECORD_RULES[record_type] = rule
        return rule

    return register


def has(actor: Actor | SystemActor, permission: Permission) -> bool:
    if isinstance(actor, SystemActor):
        return True
    return permission in PERMISSIONS.get(actor.role, frozenset())


def require(
    actor: Actor | SystemActor, permission: Permission, record: Any = None, *, what: str = "Record"
) -> None:
    """Raise PermissionDenied if the role lacks the permission, NotFound if the record is hidden."""
    if isinstance(actor, SystemActor):
        return
    if not has(actor, permission):
        raise PermissionDenied()
    if record is None:
        return
    for klass in type(record).__mro__:
        rule = _RECORD_RULES.get(klass)
        if rule is not None:
            if not rule(actor, permission, record):
                raise NotFound(what)
            return
