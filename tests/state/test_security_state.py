"""The browser side of account security, through Reflex's event path (tests/state/harness.py):
a pending setup keeps the tab on /account/security, enrolment from the page, and the sign-in
page's second step."""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest

from brm_app.auth import totp
from brm_app.db import unit_of_work
from brm_app.models.user import Role, User
from brm_app.services import users
from brm_app.state.auth import LoginState
from brm_app.state.firms import FirmsState
from brm_app.state.security import SecurityState
from tests.factories import PASSWORD, make_user
from tests.state.conftest import session_token_for
from tests.state.harness import Server

T0 = 1_900_000_020.0


@pytest.fixture
def server(database_url) -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def clock(monkeypatch):
    now = [T0]
    monkeypatch.setattr(totp, "_clock", lambda: now[0])
    return now


def test_a_password_an_admin_chose_keeps_the_tab_on_the_security_page(server):
    admin = make_user(Role.ADMIN)
    user = make_user(Role.BROKER)
    with unit_of_work(write=True) as db:
        typed = "typed by the admin"
        users.reset_password(db, actor=admin, user_id=user.user_id, new_password=typed)
    tab = server.tab(session_token_for(user.email, typed), "/firms")
    assert tab.redirected_to() == "/account/security"
    start = len(tab.received)
    tab.send(FirmsState, "search", "a")
    assert tab.redirected_to(start) == "/account/security"

    tab.open("/account/security")
    start = len(tab.received)
    tab.send(SecurityState, "load")
    assert tab.redirected_to(start) is None
    assert tab.state(SecurityState).must_change_password is True
    tab.send(
        SecurityState,
        "change_password",
        {"current_password": typed, "new_password": "mine, all mine", "confirm_password": "x"},
    )
    assert "confirm_password" in tab.state(SecurityState).password_errors
    tab.send(
        SecurityState,
        "change_password",
        {
            "current_password": typed,
            "new_password": "mine, all mine",
            "confirm_password": "mine, all mine",
        },
    )
    assert tab.redirected_to(start) == "/"
    assert tab.state(SecurityState).must_change_password is False
    with unit_of_work() as db:
        assert db.get(User, user.user_id).must_change_password is False
    # The same session goes on, now with the whole app.
    tab.open("/firms")
    start = len(tab.received)
    tab.send(FirmsState, "search", "a")
    assert tab.redirected_to(start) is None
    assert server.errors == []


def test_enrolling_from_the_page_and_signing_in_with_a_code(server, clock):
    user = make_user(Role.BROKER)
    tab = server.tab(session_token_for(user.email), "/account/security")
    tab.send(SecurityState, "load")
    tab.send(SecurityState, "start_enrolment")
    shown = tab.state(SecurityState)
    assert shown.enrol_qr.startswith("data:image/svg+xml")
    secret = shown.enrol_secret.replace(" ", "")
    tab.send(SecurityState, "confirm_enrolment", {"code": "000000"})
    assert "code" in tab.state(SecurityState).mfa_errors
    tab.send(SecurityState, "confirm_enrolment", {"code": pyotp.TOTP(secret).at(T0)})
    done = tab.state(SecurityState)
    assert done.mfa_enabled and len(done.recovery_codes) == 10
    assert done.enrol_secret == "" and done.enrol_qr == ""
    codes = list(done.recovery_codes)
    tab.send(SecurityState, "hide_recovery_codes")
    assert tab.state(SecurityState).recovery_codes == []
    # Neither the secret nor a recovery code reaches a tab that loads the page later.
    later = server.tab(session_token_for_with_code(user.email, secret, T0 + 30), None)
    later.open("/account/security")
    later.send(SecurityState, "load")
    assert secret not in later.text and codes[0] not in later.text

    login = server.tab(None, "/login")
    login.send(LoginState, "submit", {"email": user.email, "password": PASSWORD})
    state = login.state(LoginState)
    assert state.need_otp is True and state.error == ""
    login.send(LoginState, "submit", {"email": user.email, "password": PASSWORD, "otp": "123 456"})
    assert "not valid" in login.state(LoginState).error
    clock[0] = T0 + 30
    start = len(login.received)
    login.send(
        LoginState,
        "submit",
        {"email": user.email, "password": PASSWORD, "otp": pyotp.TOTP(secret).at(T0 + 60)},
    )
    assert login.state(LoginState).error == ""
    assert any("/api/session" in r.text for r in login.received[start:])
    assert server.errors == []


def session_token_for_with_code(email: str, secret: str, t: float) -> str:
    from brm_app.services import authentication
    from brm_app.settings import get_settings

    with unit_of_work(write=True) as db:
        ticket = authentication.sign_in(
            db,
            email=email,
            password=PASSWORD,
            otp=pyotp.TOTP(secret).at(t),
            ip="127.0.0.1",
            user_agent="t",
            settings=get_settings(),
        )
    with unit_of_work(write=True) as db:
        return authentication.establish_session(db, ticket=ticket, previous_token=None)
