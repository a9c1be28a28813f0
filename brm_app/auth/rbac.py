"""Who may do what: one permission table, one `require` every service calls.

Role-level rules live in PERMISSIONS below. Record-level rules (a broker sees only the firms they
cover, a trader only their own firm) are written next to each entity's service, installed by
`brm_app.bootstrap.wire()` (the one list of them), and run when `require` is given the record. A
record the actor may not see raises NotFound, never PermissionDenied, so ids cannot be probed.
Access fails closed: a record whose type has no rule is refused (NotFound) rather than let through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from brm_app.auth.actor import Actor, SystemActor
from brm_app.models.user import Role
from brm_app.services.errors import NotFound, PermissionDenied, SetupRequired


class Permission(StrEnum):
    # Own account
    PROFILE_EDIT = "profile.edit"
    # Administration
    USERS_VIEW = "users.view"
    USERS_MANAGE = "users.manage"
    ACCOUNTS_UNLOCK = "accounts.unlock"
    # Compliance
    AUDIT_VIEW = "audit.view"
    # Firms and their coverage
    FIRMS_VIEW = "firms.view"
    FIRMS_CREATE = "firms.create"
    FIRMS_EDIT = "firms.edit"
    FIRMS_ARCHIVE = "firms.archive"
    FIRMS_RESTORE = "firms.restore"
    FIRMS_MERGE = "firms.merge"
    COVERAGE_ASSIGN = "coverage.assign"
    # Traders
    TRADERS_VIEW = "traders.view"
    TRADERS_EDIT = "traders.edit"
    TRADER_PORTAL_MANAGE = "traders.portal"
    TRADER_ROLES_MANAGE = "traders.roles"
    # Bulk data
    DATA_IMPORT = "data.import"
    DATA_EXPORT = "data.export"
    # Interactions, follow-ups, calendar
    INTERACTIONS_VIEW = "interactions.view"
    INTERACTIONS_LOG = "interactions.log"
    INTERACTIONS_VOID = "interactions.void"
    INTERACTIONS_VIEW_VOIDED = "interactions.view_voided"
    FOLLOW_UPS_VIEW = "follow_ups.view"
    FOLLOW_UPS_EDIT = "follow_ups.edit"
    TEAM_VIEW = "team.view"
    # The app's own lists and rules (interaction types, contact intervals ...)
    APP_SETTINGS = "app.settings"
    # Background jobs: see them, retry dead ones
    JOBS_MANAGE = "jobs.manage"
    # Portfolios: see one (traders: their own firm's, with `view_portfolio`), book and reverse
    # transactions; the instrument master; service-account API keys (the OMS's)
    PORTFOLIOS_VIEW = "portfolios.view"
    PORTFOLIOS_TRADE = "portfolios.trade"
    INSTRUMENTS_MANAGE = "instruments.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    # Communications: see the conversations one may (record rules), write in them, and the
    # compliance log over every channel (search, export, the inbound triage list)
    COMMS_VIEW = "communications.view"
    COMMS_SEND = "communications.send"
    COMMS_LOG = "communications.log"
    # Supervisory review: work the queue (managers: only items escalated to them), every item
    # (compliance, admins), and set the rules that select items (admins)
    REVIEWS_WORK = "reviews.work"
    REVIEWS_ALL = "reviews.all"
    REVIEW_RULES = "reviews.rules"
    # Regulator exports: everything about a firm, trader or broker over a period, as one archive
    REGULATOR_EXPORT = "compliance.export"
    # Legal holds: place and release them (compliance, admins); see who read what sensitive
    # data (read traces)
    LEGAL_HOLDS = "compliance.legal_holds"
    READ_TRACES_VIEW = "compliance.read_traces"


P = Permission
_EVERYONE = {P.PROFILE_EDIT, P.FIRMS_VIEW, P.TRADERS_VIEW, P.PORTFOLIOS_VIEW, P.COMMS_VIEW}
# What a broker does to the firms they cover (the record rules limit it to those).
_BOOK = {
    P.FIRMS_CREATE,
    P.FIRMS_EDIT,
    P.FIRMS_ARCHIVE,
    P.TRADERS_EDIT,
    P.DATA_IMPORT,
    P.DATA_EXPORT,
    P.INTERACTIONS_VIEW,
    P.INTERACTIONS_LOG,
    P.FOLLOW_UPS_VIEW,
    P.FOLLOW_UPS_EDIT,
    P.PORTFOLIOS_TRADE,
    P.COMMS_SEND,
}
_MANAGE_BOOKS = {
    P.FIRMS_MERGE,
    P.COVERAGE_ASSIGN,
    P.TRADER_PORTAL_MANAGE,
    P.TEAM_VIEW,
    P.REVIEWS_WORK,
}
# Compliance reads everything, changes nothing.
_REVIEW = {
    P.AUDIT_VIEW,
    P.DATA_EXPORT,
    P.INTERACTIONS_VIEW,
    P.INTERACTIONS_VIEW_VOIDED,
    P.FOLLOW_UPS_VIEW,
    P.TEAM_VIEW,
    P.COMMS_LOG,
    P.REVIEWS_WORK,
    P.REVIEWS_ALL,
    P.REGULATOR_EXPORT,
    P.LEGAL_HOLDS,
    P.READ_TRACES_VIEW,
}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        _EVERYONE
        | _BOOK
        | _MANAGE_BOOKS
        | _REVIEW
        | {
            P.USERS_VIEW,
            P.USERS_MANAGE,
            P.ACCOUNTS_UNLOCK,
            P.FIRMS_RESTORE,
            P.TRADER_ROLES_MANAGE,
            P.INTERACTIONS_VOID,
            P.APP_SETTINGS,
            P.JOBS_MANAGE,
            P.INSTRUMENTS_MANAGE,
            P.API_KEYS_MANAGE,
            P.REVIEW_RULES,
        }
    )
    # Admins read conversations (like compliance) but do not write in them.
    - {P.COMMS_SEND},
    Role.COMPLIANCE: frozenset(_EVERYONE | _REVIEW),
    Role.MANAGER: frozenset(_EVERYONE | _BOOK | _MANAGE_BOOKS),
    Role.BROKER: frozenset(_EVERYONE | _BOOK),
    # A trader with portal access writes in their own conversations (the record rules).
    Role.TRADER: frozenset(_EVERYONE | {P.COMMS_SEND}),
}

# rule(actor, permission, record, db) -> may the actor see (and so act on) this record?
RecordRule = Callable[[Actor, Permission, Any, Any], bool]
# None until bootstrap.wire() installs them: importing a module registers nothing.
_RECORD_RULES: Mapping[type, RecordRule] | None = None


def install_record_rules(rules: Mapping[type, RecordRule]) -> None:
    """Set the record-level rule of every kind of record, replacing any set before
    (called by bootstrap.wire(), so wiring twice changes nothing)."""
    global _RECORD_RULES
    _RECORD_RULES = MappingProxyType(dict(rules))


def record_rules() -> Mapping[type, RecordRule]:
    """The installed record rules (empty before wiring)."""
    return _RECORD_RULES if _RECORD_RULES is not None else MappingProxyType({})


def has(actor: Actor | SystemActor, permission: Permission) -> bool:
    if isinstance(actor, SystemActor):
        return True
    return permission in PERMISSIONS.get(actor.role, frozenset())


def require(
    actor: Actor | SystemActor,
    permission: Permission,
    record: Any = None,
    *,
    db: Any = None,
    what: str = "Record",
) -> None:
    """Raise PermissionDenied if the role lacks the permission, NotFound if the record is hidden
    or is of a type no record rule covers (so a new kind of record is refused until it has one)."""
    if isinstance(actor, SystemActor):
        return
    if actor.setup_required:
        raise SetupRequired(actor.setup_required)
    if not has(actor, permission):
        raise PermissionDenied()
    if record is None:
        return
    if _RECORD_RULES is None:
        # A process that skipped wiring must not judge records without their rules.
        raise RuntimeError("record rules are not installed: call brm_app.bootstrap.wire() first")
    for klass in type(record).__mro__:
        rule = _RECORD_RULES.get(klass)
        if rule is not None:
            if not rule(actor, permission, record, db):
                raise NotFound(what)
            return
    raise NotFound(what)


def has_record_rule(record_type: type) -> bool:
    """Whether `require` can judge records of this type (otherwise it refuses them all)."""
    rules = _RECORD_RULES or {}
    return any(klass in rules for klass in record_type.__mro__)
