"""Reflex handlers: refused centrally without a session, and forged arguments change nothing."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from brm_app.db import unit_of_work
from brm_app.models.user import Role, User
from brm_app.state.account import AccountState
from brm_app.state.admin_users import AdminUsersState
from brm_app.state.audit import AuditState
from brm_app.state.auth import LoginState, SessionState
from brm_app.state.dashboard import DashboardState
from brm_app.state.session_guard import SessionOwnerState
from tests.factories import make_user
from tests.state.conftest import Browser, Sent, redirects_to_login

PROTECTED = [
    (AdminUsersState, "load"),
    (AdminUsersState, "open_new"),
    (AdminUsersState, "save"),
    (AdminUsersState, "unlock"),
    (AdminUsersState, "confirm"),
    (AuditState, "load"),
    (AuditState, "verify"),
    (DashboardState, "load"),
    (AccountState, "change_password"),
    (SessionState, "load"),
    (SessionState, "sign_out"),
]


def refused(sent: Sent) -> bool:
    """The session guard answered the event: only a redirect to the sign-in page, no state."""
    return (
        redirects_to_login(sent)
        and sent.names() == ["_redirect"]
        and not any(r.delta for r in sent)
    )


def _user_count() -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(User)).one()


@pytest.mark.parametrize(("cls", "handler"), PROTECTED)
def test_guard_refuses_every_protected_handler_without_a_session(database_url, cls, handler):
    for browser in (
        Browser(None, "/admin/users"),
        Browser("forged-token-" + "x" * 30, "/admin/users"),
    ):
        sent = browser.fire(cls, handler)
        assert refused(sent), sent.text
        assert sent.redirected_to().startswith("/login?next=/admin/users")


def test_guard_lets_the_login_page_and_reflex_plumbing_through(database_url):
    browser = Browser(None, "/login")
    # Reflex's hydration ran: the tab was sent its state, and not sent away.
    assert browser.opened.redirected_to() is None and any(r.delta for r in browser.opened)
    assert browser.state(LoginState).error == ""
    sent = browser.fire(LoginState, "submit", {"email": "who@test.example", "password": "x" * 12})
    assert sent.redirected_to() is None and browser.state(LoginState).error  # it ran
    assert browser.fire(LoginState, "load").redirected_to() is None


def test_guard_passes_a_valid_session(browser_for):
    admin = make_user(Role.ADMIN)
    browser = browser_for(admin.email, "/admin/users")
    sent = browser.fire(AdminUsersState, "load")
    assert sent.redirected_to() is None
    assert admin.email in [r["email"] for r in browser.state(AdminUsersState).rows]


def test_handler_called_without_a_session_changes_nothing(database_url):
    make_user(Role.ADMIN)
    browser = Browser(None, "/admin/users")
    before = _user_count()
    browser.server_state(AdminUsersState).editing_id = 0  # as if the new-user dialog were open
    state = browser.state(AdminUsersState)
    out = browser.fire(
        AdminUsersState, "save", {"email": "x@test.example", "name": "X", "role": "admin"}
    )
    assert _user_count() == before
    assert state.rows == []
    assert redirects_to_login(out)
    browser.fire(AdminUsersState, "load")
    assert state.rows == []


def test_broker_session_cannot_use_admin_handlers(browser_for):
    make_user(Role.ADMIN)
    broker = make_user(Role.BROKER)
    browser = browser_for(broker.email, "/admin/users")
    before = _user_count()
    out = browser.fire(AdminUsersState, "load")
    assert browser.state(AdminUsersState).rows == []
    assert not redirects_to_login(out)  # signed in, just not allowed: a message, not the login page
    browser.fire(
        AdminUsersState, "save", {"email": "evil@test.example", "name": "Evil", "role": "admin"}
    )
    assert _user_count() == before
    browser.fire(AuditState, "load")
    assert browser.state(AuditState).rows == []


# Reflex converts a numeric string to the int a handler's hint asks for ("1" is user 1, no
# forgery), so the string that reaches a handler as a string is one that is not a number.
@pytest.mark.parametrize("forged", ["1x", {"$ne": 1}, [1, 2], None, True, -5, 1.5, 2**70])
def test_forged_ids_are_refused_and_change_nothing(browser_for, forged):
    admin = make_user(Role.ADMIN)
    target = make_user(Role.BROKER)
    browser = browser_for(admin.email, "/admin/users")
    browser.fire(AdminUsersState, "load")
    state = browser.state(AdminUsersState)
    browser.fire(AdminUsersState, "open_edit", forged)
    assert state.dialog_open is False
    browser.fire(AdminUsersState, "ask", "deactivate", forged)
    assert state.confirm_open is False
    browser.fire(AdminUsersState, "unlock", forged)
    browser.fire(AdminUsersState, "ask", "drop_tables", target.user_id)
    assert state.confirm_open is False
    with unit_of_work() as db:
        assert db.get(User, target.user_id).is_active


@pytest.mark.parametrize("forged", [{"$ne": 1}, [1, 2], 123, None])
def test_forged_filter_and_form_values_are_refused(browser_for, forged):
    admin = make_user(Role.ADMIN)
    browser = browser_for(admin.email, "/admin/users")
    browser.fire(AdminUsersState, "load")
    state = browser.state(AdminUsersState)
    browser.fire(AdminUsersState, "search", forged)
    browser.fire(AdminUsersState, "filter_role", forged)
    browser.fire(AdminUsersState, "filter_status", forged)
    assert (state.q, state.role_filter, state.status_filter) == ("", "all", "all")
    before = _user_count()
    browser.fire(AdminUsersState, "open_new")
    browser.fire(AdminUsersState, "save", forged)
    browser.fire(
        AdminUsersState,
        "save",
        {"email": forged, "name": forged, "role": forged, "manager_id": forged},
    )
    assert _user_count() == before
    if isinstance(forged, dict | list | int) or forged is None:
        assert state.dialog_open is True  # still open with errors, nothing saved
    browser.fire(LoginState, "submit", forged)
    browser.fire(LoginState, "submit", {"email": forged, "password": forged})
    assert browser.state(LoginState).error


def test_admin_creates_user_through_the_state(browser_for):
    admin = make_user(Role.ADMIN)
    browser = browser_for(admin.email, "/admin/users")
    browser.fire(AdminUsersState, "load")
    browser.fire(AdminUsersState, "open_new")
    browser.fire(
        AdminUsersState,
        "save",
        {
            "email": "Fresh@Test.example",
            "name": "Fresh Broker",
            "role": "broker",
            "manager_id": "none",
            "password": "",
        },
    )
    state = browser.state(AdminUsersState)
    assert state.errors == {}
    assert state.reveal_open and len(state.reveal_password) >= 12
    assert "fresh@test.example" in [r["email"] for r in state.rows]
    browser.fire(AdminUsersState, "close_reveal")
    assert state.reveal_password == ""


def test_field_errors_are_shown_next_to_the_field(browser_for):
    admin = make_user(Role.ADMIN)
    browser = browser_for(admin.email, "/admin/users")
    browser.fire(AdminUsersState, "open_new")
    browser.fire(
        AdminUsersState, "save", {"email": "bad", "name": "", "role": "broker", "password": "short"}
    )
    errors = browser.state(AdminUsersState).errors
    assert "email" in errors or "name" in errors


def test_tab_state_is_wiped_when_the_user_changes(browser_for):
    from tests.state.conftest import session_token_for

    admin = make_user(Role.ADMIN)
    broker = make_user(Role.BROKER)
    browser = browser_for(admin.email, "/admin/users")
    assert browser.fire(AdminUsersState, "load").redirected_to() is None
    assert browser.state(AdminUsersState).rows
    owner = browser.server_state(SessionOwnerState)  # a backend var: never sent to the tab
    assert owner._owner_user_id == admin.user_id
    # Same tab, now signed in as the broker: the admin's data must be gone before anything runs.
    browser.set_cookie(session_token_for(broker.email))
    browser.fire(DashboardState, "load")
    assert browser.server_state(AdminUsersState).rows == []
    assert browser.state(AdminUsersState).rows == []  # and the tab was told
    assert owner._owner_user_id == broker.user_id
