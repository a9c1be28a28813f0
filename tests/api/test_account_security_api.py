"""Account security over HTTP: the token route's `otp`, 403 until an admin-chosen password is
changed, the admin's two-factor reset and the per-role requirement (admins only)."""

from __future__ import annotations

import pyotp
import pytest

from brm_app.auth import throttle, totp
from brm_app.db import unit_of_work
from brm_app.models.user import Role
from brm_app.services import two_factor
from brm_app.settings import get_settings
from tests.api.conftest import auth, get_token
from tests.factories import PASSWORD, make_user

TOKEN = "/api/v1/auth/token"
T0 = 1_900_000_020.0


@pytest.fixture
def clock(monkeypatch):
    now = [T0]
    monkeypatch.setattr(totp, "_clock", lambda: now[0])
    return now


def enrolled(clock) -> tuple[object, str, list[str]]:
    user = make_user(Role.BROKER)
    settings = get_settings()
    with unit_of_work(write=True) as db:
        secret = two_factor.begin_enrolment(db, actor=user, settings=settings).secret
    with unit_of_work(write=True) as db:
        codes = two_factor.confirm_enrolment(
            db, actor=user, code=pyotp.TOTP(secret).at(clock[0]), settings=settings
        )
    return user, secret, codes


def forget_failures(email: str) -> None:
    """Each wrong code counts as a failed attempt: start each probe unthrottled."""
    with unit_of_work(write=True) as db:
        throttle.clear(db, throttle.account_key(email))
        throttle.clear(db, throttle.ip_key("testclient"))


def test_the_token_route_needs_a_one_time_code_once_two_factor_is_on(client, clock):
    user, secret, codes = enrolled(clock)
    form = {"username": user.email, "password": PASSWORD}
    for otp in (None, "", "123", pyotp.TOTP(secret).at(T0), "9" * 64):
        data = form if otp is None else {**form, "otp": otp}
        forget_failures(user.email)
        r = client.post(TOKEN, data=data)
        assert r.status_code == 400, (otp, r.text)
        body = r.json()
        assert body["error"] == "invalid_grant"
        assert "a one-time code is needed" in body["error_description"].lower()
        assert body["detail"] == body["error_description"]
    # A wrong password with a right code is the usual answer (nothing tells the code was right).
    forget_failures(user.email)
    r = client.post(
        TOKEN, data={**form, "password": "not my password", "otp": pyotp.TOTP(secret).at(T0 + 30)}
    )
    assert r.status_code == 400 and "one-time" not in r.json()["error_description"]
    forget_failures(user.email)
    ok = client.post(TOKEN, data={**form, "otp": pyotp.TOTP(secret).at(T0 + 30)})
    assert ok.status_code == 200, ok.text
    assert client.get("/api/v1/users/me", headers=auth(ok.json()["access_token"])).json()[
        "mfa_enabled"
    ]
    assert client.post(TOKEN, data={**form, "otp": codes[3]}).status_code == 200
    # Sent twice: a malformed request.
    twice = client.post(TOKEN, content=f"username={user.email}&password={PASSWORD}&otp=1&otp=2",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"


def test_a_user_without_two_factor_may_send_an_otp_or_not(client):
    user = make_user(Role.BROKER)
    for data in ({}, {"otp": "123456"}):
        r = client.post(TOKEN, data={"username": user.email, "password": PASSWORD, **data})
        assert r.status_code == 200, r.text


def test_an_admin_chosen_password_gets_403_everywhere_but_the_password_change(client):
    admin = make_user(Role.ADMIN)
    admin_token = get_token(client, admin.email)
    r = client.post(
        "/api/v1/users",
        headers=auth(admin_token),
        json={"email": "fresh@test.example", "name": "Fresh Broker", "role": "broker"},
    )
    assert r.status_code == 201 and r.json()["must_change_password"] is True
    first = r.json()["initial_password"]
    token = get_token(client, "fresh@test.example", first)
    for method, path in (
        ("GET", "/api/v1/firms"),
        ("GET", "/api/v1/users/me"),
        ("PATCH", "/api/v1/users/me"),
        ("GET", "/api/v1/follow-ups"),
        ("GET", "/api/v1/calendar-feeds"),
    ):
        r = client.request(method, path, headers=auth(token), json={} if method != "GET" else None)
        assert r.status_code == 403, (path, r.text)
        assert "choose your own password" in r.json()["detail"]
    wrong = client.post(
        "/api/v1/users/me/password",
        headers=auth(token),
        json={"current_password": "not the password", "new_password": "my own passphrase 1"},
    )
    assert wrong.status_code == 422
    changed = client.post(
        "/api/v1/users/me/password",
        headers=auth(token),
        json={"current_password": first, "new_password": "my own passphrase 1"},
    )
    assert changed.status_code == 204, changed.text
    fresh = get_token(client, "fresh@test.example", "my own passphrase 1")
    me = client.get("/api/v1/users/me", headers=auth(fresh))
    assert me.status_code == 200 and me.json()["must_change_password"] is False
    assert client.get("/api/v1/firms", headers=auth(fresh)).status_code == 200
    # A reset by the admin puts the flag back.
    uid = me.json()["user_id"]
    r = client.patch(
        f"/api/v1/users/{uid}", headers=auth(admin_token), json={"password": "typed by admin 12"}
    )
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    again = get_token(client, "fresh@test.example", "typed by admin 12")
    assert client.get("/api/v1/firms", headers=auth(again)).status_code == 403


def test_the_password_change_asks_for_the_second_factor(client, clock):
    user, secret, _ = enrolled(clock)
    token = client.post(
        TOKEN,
        data={"username": user.email, "password": PASSWORD, "otp": pyotp.TOTP(secret).at(T0 + 30)},
    ).json()["access_token"]
    body = {"current_password": PASSWORD, "new_password": "another passphrase 1"}
    r = client.post("/api/v1/users/me/password", headers=auth(token), json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "otp"
    clock[0] = T0 + 30
    r = client.post(
        "/api/v1/users/me/password",
        headers=auth(token),
        json={**body, "otp": pyotp.TOTP(secret).at(T0 + 60)},
    )
    assert r.status_code == 204, r.text


def test_admins_reset_two_factor_and_choose_the_roles_that_require_it(client, clock):
    user, _secret, _ = enrolled(clock)
    admin_token = get_token(client, make_user(Role.ADMIN).email)
    manager_token = get_token(client, make_user(Role.MANAGER).email)
    path = f"/api/v1/users/{user.user_id}/mfa/reset"
    assert client.post(path, headers=auth(manager_token)).status_code == 403
    r = client.post(path, headers=auth(admin_token))
    assert r.status_code == 200 and r.json()["mfa_enabled"] is False
    assert client.post(path, headers=auth(admin_token)).status_code == 409
    assert (
        client.post("/api/v1/users/999999/mfa/reset", headers=auth(admin_token)).status_code == 404
    )
    # Signing in needs no code now.
    token = get_token(client, user.email)

    assert client.get("/api/v1/settings/security", headers=auth(manager_token)).status_code == 403
    r = client.put(
        "/api/v1/settings/security",
        headers=auth(admin_token),
        json={"mfa_required_roles": ["broker", "manager"]},
    )
    assert r.status_code == 200 and r.json() == {"mfa_required_roles": ["broker", "manager"]}
    assert client.get("/api/v1/settings/security", headers=auth(admin_token)).json() == r.json()
    bad = client.put(
        "/api/v1/settings/security", headers=auth(admin_token), json={"mfa_required_roles": ["x"]}
    )
    assert bad.status_code == 422
    # The broker's role now requires it: 403 with what to do, until they enrol.
    r = client.get("/api/v1/firms", headers=auth(token))
    assert r.status_code == 403 and "two-factor" in r.json()["detail"]
