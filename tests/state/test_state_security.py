"""Reflex handlers: refused centrally without a session, and forged arguments change nothing."""

from __future__ import annotations

import pytest
from reflex.state import StateUpdate
from reflex_base.event import Event
from sqlmodel import func, select

from brm_app.db import unit_of_work
from brm_app.models.user import Role, User
from brm_app.state.account import AccountState
from brm_app.state.admin_users import AdminUsersState
from brm_app.state.audit import AuditState
from brm_app.state.auth import LoginState, SessionState
from brm_app.state.dashboard import DashboardState
from brm_app.state.session_guard import SessionGuard, SessionOwnerState
from tests.factories import make_user
from tests.state.conftest import Browser, run_async

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


def _event(cls, handler: str) -> Event:
    return Event(name=f"{cls.get_full_name()}.{handler}", payload={}, router_data={})


def _preprocess(browser: Browser, cls, handler: str):
    return run_async(SessionGuard().preprocess(None, browser.root, _event(cls, handler)))


def redirects_to_login(outputs) -> bool:
    for out in outputs:
        handler = getattr(out, "handler", None)
        if handler is not None and handler.fn.__qualname__ == "_redirect":
            path = dict((k._js_expr, v._var_value) for k, v in out.args)["path"]
            return path.startswith("/login")
    return False


def _user_count() -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(User)).one()


@pytest.mark.parametrize(("cls", "handler"), PROTECTED)
def test_guard_refuses_every_protected_handler_without_a_session(database_url, cls, handler):
    for browser in (
        Browser(None, "/admin/users"),
        Browser("forged-token-" + "x" * 30, "/admin/users"),
    ):
        update = _preprocess(browser, cls, handler)
        assert isinstance(update, StateUpdate)
        redirect = update.events[0]
        assert redirect.name == "_redirect" and redirect.payload["path"].startswith(
            "/login?next=/admin/users"
        )


def test_guard_lets_the_login_page_and_reflex_plumbing_through(database_url):
    browser = Browser(None, "/login")
    assert _preprocess(browser, LoginState, "submit") is None
    assert _preprocess(browser, LoginState, "load") is None
    import reflex as rx

    hydrate = Event(name=f"{rx.State.get_full_name()}.hydrate", payload={}, router_data={})
    assert run_async(SessionGuard().preprocess(None, browser.root, hydrate)) is None


def test_guard_passes_a_valid_session(browser_for):
    admin = make_user(Role.ADMIN)
    browser = browser_for(admin.email, "/admin/users")
    assert _preprocess(browser, AdminUsersState, "load") is None


def test_handler_called_without_a_session_changes_nothing(database_url):
    make_user(Role.ADMIN)
    browser = Browser(None, "/admin/users")
    before = _user_count()
    state = browser.state(AdminUsersState)
    state.editing_id = 0
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


@pytest.mark.parametrize("forged", ["1", {"$ne": 1}, [1, 2], None, True, -5, 1.5, 2**70])
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
    assert _preprocess(browser, AdminUsersState, "load") is None
    browser.fire(AdminUsersState, "load")
    assert browser.state(AdminUsersState).rows
    owner = browser.state(SessionOwnerState)
    assert owner._owner_user_id == admin.user_id
    # Same tab, now signed in as the broker: the admin's data must be gone before anything runs.
    browser.set_cookie(session_token_for(broker.email), "/")
    _preprocess(browser, DashboardState, "load")
    assert browser.state(AdminUsersState).rows == []
    assert owner._owner_user_id == broker.user_id
