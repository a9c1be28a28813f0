"""The permission table and the single `require` every service calls."""

from dataclasses import dataclass

import pytest

from brm_app import bootstrap
from brm_app.auth import rbac
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import PERMISSIONS, Permission, require
from brm_app.models.user import Role
from brm_app.services.errors import NotFound, PermissionDenied

P = Permission
# The expected table, written out: a change to PERMISSIONS must change this test on purpose.
READ = {P.PROFILE_EDIT, P.FIRMS_VIEW, P.TRADERS_VIEW, P.PORTFOLIOS_VIEW, P.COMMS_VIEW}
BOOK = {P.FIRMS_CREATE, P.FIRMS_EDIT, P.FIRMS_ARCHIVE, P.TRADERS_EDIT, P.DATA_IMPORT, P.DATA_EXPORT}
BOOK |= {P.INTERACTIONS_VIEW, P.INTERACTIONS_LOG, P.FOLLOW_UPS_VIEW, P.FOLLOW_UPS_EDIT}
BOOK |= {P.PORTFOLIOS_TRADE}
REVIEW = {
    P.AUDIT_VIEW,
    P.DATA_EXPORT,
    P.INTERACTIONS_VIEW,
    P.INTERACTIONS_VIEW_VOIDED,
    P.FOLLOW_UPS_VIEW,
    P.TEAM_VIEW,
    P.COMMS_LOG,
    # Supervisory review: every item but one's own
    P.REVIEWS_WORK,
    P.REVIEWS_ALL,
    P.REGULATOR_EXPORT,
    # Legal holds (place, release) and read traces
    P.LEGAL_HOLDS,
    P.READ_TRACES_VIEW,
}
EXPECTED = {
    Role.ADMIN: READ
    | BOOK
    | REVIEW
    | {P.USERS_VIEW, P.USERS_MANAGE, P.ACCOUNTS_UNLOCK, P.FIRMS_RESTORE, P.FIRMS_MERGE}
    | {
        P.COVERAGE_ASSIGN,
        P.TRADER_PORTAL_MANAGE,
        P.TRADER_ROLES_MANAGE,
        P.INTERACTIONS_VOID,
        P.APP_SETTINGS,
        P.JOBS_MANAGE,
        P.INSTRUMENTS_MANAGE,
        P.API_KEYS_MANAGE,
        P.REVIEW_RULES,
    },
    Role.COMPLIANCE: READ | REVIEW,
    Role.MANAGER: READ
    | BOOK
    | {P.COMMS_SEND}
    | {P.FIRMS_MERGE, P.COVERAGE_ASSIGN, P.TRADER_PORTAL_MANAGE, P.TEAM_VIEW}
    # A manager decides the review items escalated to them.
    | {P.REVIEWS_WORK},
    Role.BROKER: READ | BOOK | {P.COMMS_SEND},
    # Traders write in their own conversations; admins only read them (like compliance).
    Role.TRADER: READ | {P.COMMS_SEND},
}


def actor(role: Role, user_id: int = 1) -> Actor:
    return Actor(user_id=user_id, role=role, email=f"{role}@x.example", name=str(role))


def test_every_role_is_in_the_table():
    assert set(PERMISSIONS) == set(Role)


@pytest.mark.parametrize("role", list(Role))
def test_permission_table_matches_the_expected_matrix(role):
    assert set(PERMISSIONS[role]) == EXPECTED[role]
    for permission in Permission:
        if permission in EXPECTED[role]:
            require(actor(role), permission)
        else:
            with pytest.raises(PermissionDenied):
                require(actor(role), permission)


def test_system_actor_may_do_everything():
    for permission in Permission:
        require(SystemActor(), permission)


@dataclass
class _Note:
    owner_id: int


def _own_notes_only(actor: Actor, permission: Permission, note: _Note, db) -> bool:
    return note.owner_id == actor.user_id


@pytest.fixture
def note_rule():
    """The wired rules plus one for _Note; the wiring is restored afterwards."""
    rbac.install_record_rules({**rbac.record_rules(), _Note: _own_notes_only})
    yield
    bootstrap.wire()


def test_record_rule_hides_records_as_not_found(note_rule):
    broker = actor(Role.BROKER, user_id=7)
    require(broker, P.PROFILE_EDIT, _Note(owner_id=7))
    with pytest.raises(NotFound):
        require(broker, P.PROFILE_EDIT, _Note(owner_id=8))


def test_role_check_comes_before_record_rule(note_rule):
    with pytest.raises(PermissionDenied):
        require(actor(Role.BROKER, 7), P.USERS_MANAGE, _Note(owner_id=7))


@dataclass
class _Unruled:
    """A kind of record no rule was registered for."""

    owner_id: int


@pytest.mark.parametrize("role", list(Role))
def test_record_of_a_type_without_a_rule_is_refused(role):
    # Fails closed: a record nobody wrote a rule for is hidden, even from admins.
    with pytest.raises(NotFound):
        require(actor(role, 7), P.PROFILE_EDIT, _Unruled(owner_id=7))


def test_system_actor_is_not_stopped_by_a_missing_rule():
    require(SystemActor(), P.PROFILE_EDIT, _Unruled(owner_id=7))
