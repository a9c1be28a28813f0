"""Token flow, 401/403/404/409/422, and deactivated users refused."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from sqlmodel import select

from brm_app.auth import throttle
from brm_app.db import unit_of_work
from brm_app.models.audit import AuditEvent
from brm_app.models.user import Role
from brm_app.settings import get_settings
from tests.api.conftest import auth, get_token
from tests.factories import PASSWORD, make_user


def test_token_flow_and_me(client):
    broker = make_user(Role.BROKER)
    r = client.post(
        "/api/v1/auth/token",
        data={"username": broker.email.upper(), "password": PASSWORD, "grant_type": "password"},
    )
    assert r.status_code == 200
    body = r.json()
    assert (
        body["token_type"] == "bearer" and body["expires_in"] == get_settings().token_minutes * 60
    )
    claims = jwt.decode(
        body["access_token"], get_settings().secret_key, algorithms=["HS256"], audience="brm-api"
    )
    assert {"exp", "iat", "sub", "aud", "jti"} <= set(claims)
    me = client.get("/api/v1/users/me", headers=auth(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == broker.email and me.json()["role"] == "broker"
    assert "password_hash" not in me.text
    # The locale (My account) is part of /users/me and can be changed alone.
    headers = auth(body["access_token"])
    assert me.json()["locale"] == ""
    r = client.patch("/api/v1/users/me", json={"locale": "de-DE"}, headers=headers)
    assert r.status_code == 200 and r.json()["locale"] == "de-DE", r.text
    assert client.get("/api/v1/users/me", headers=headers).json()["locale"] == "de-DE"
    assert r.json()["name"] == broker.name
    r = client.patch("/api/v1/users/me", json={"locale": "xx-XX"}, headers=headers)
    assert r.status_code == 422 and "locale" in r.text


def test_wrong_password_is_generic_400_invalid_grant_and_audited(client):
    known = make_user(Role.BROKER, email="b@test.example")
    for username in ("b@test.example", "nobody@test.example"):
        r = client.post(
            "/api/v1/auth/token", data={"username": username, "password": "wrong password!"}
        )
        assert r.status_code == 400
        assert r.json() == {
            "error": "invalid_grant",
            "error_description": "Email or password is incorrect.",
            "detail": "Email or password is incorrect.",
        }
    with unit_of_work() as db:
        failed = db.exec(select(AuditEvent).where(AuditEvent.action == "auth.sign_in_failed")).all()
    # Named by the user (or "unknown account"), never by the email typed (encrypted at rest);
    # each attempt's account is the email's blind index, as the throttle counts it.
    assert sorted(e.actor_label for e in failed) == [
        f"{known.name} #{known.user_id}",
        "unknown account",
    ]
    assert {json.loads(e.changes)["account"] for e in failed} == {
        throttle.account_key("B@test.example"),
        throttle.account_key("nobody@test.example"),
    }


def test_token_endpoint_throttles_with_429(client):
    make_user(Role.BROKER, email="t@test.example")
    codes = [
        client.post(
            "/api/v1/auth/token", data={"username": "t@test.example", "password": "wrong password!"}
        ).status_code
        for _ in range(get_settings().login_slow_after + 1)
    ]
    assert codes[-1] == 429
    last = client.post(
        "/api/v1/auth/token", data={"username": "t@test.example", "password": PASSWORD}
    )
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ],
)
def test_missing_or_malformed_token_is_401(client, headers):
    r = client.get("/api/v1/users/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["detail"]
    assert r.headers.get("www-authenticate") == "Bearer"


def _forge(claims: dict, key: str, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def test_forged_expired_and_unsigned_tokens_are_401(client):
    user = make_user(Role.ADMIN)
    now = int(time.time())
    good = {
        "sub": str(user.user_id),
        "aud": "brm-api",
        "iss": "brokersync-brm",
        "iat": now,
        "exp": now + 60,
        "jti": "x",
        "cv": 0,
    }
    secret = get_settings().secret_key
    cases = [
        _forge(good, "another-key-that-is-long-enough-for-hs256!!"),  # wrong key
        _forge({**good, "exp": now - 10}, secret),  # expired
        _forge({**good, "aud": "other"}, secret),  # wrong audience
        _forge({k: v for k, v in good.items() if k != "jti"}, secret),  # missing claim
        jwt.encode(good, None, algorithm="none"),  # unsigned
        _forge(good, secret),  # stale credentials version
    ]
    for token in cases:
        assert client.get("/api/v1/users/me", headers=auth(token)).status_code == 401


def test_non_admin_gets_403_on_admin_routes(client):
    for role in (Role.BROKER, Role.MANAGER, Role.COMPLIANCE, Role.TRADER):
        token = get_token(client, make_user(role).email)
        assert client.get("/api/v1/users", headers=auth(token)).status_code == 403
        r = client.post(
            "/api/v1/users",
            headers=auth(token),
            json={"email": "n@test.example", "name": "N", "role": "broker"},
        )
        assert r.status_code == 403
        assert (
            client.patch("/api/v1/users/1", headers=auth(token), json={"name": "x"}).status_code
            == 403
        )


def test_admin_lists_creates_and_updates_users(client):
    admin = make_user(Role.ADMIN)
    token = get_token(client, admin.email)
    r = client.post(
        "/api/v1/users",
        headers=auth(token),
        json={
            "email": "New.Broker@Test.example",
            "name": "New Broker",
            "role": "broker",
            "password": "a fine long password",
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["email"] == "new.broker@test.example" and created["initial_password"] is None
    generated = client.post(
        "/api/v1/users",
        headers=auth(token),
        json={"email": "gen@test.example", "name": "Gen", "role": "manager"},
    ).json()
    assert len(generated["initial_password"]) >= 12
    listing = client.get(
        "/api/v1/users", headers=auth(token), params={"q": "new", "limit": 10}
    ).json()
    assert [u["email"] for u in listing["items"]] == ["new.broker@test.example"]
    assert listing["total"] == 1 and listing["has_next"] is False
    page = client.get("/api/v1/users", headers=auth(token), params={"limit": 1}).json()
    assert page["has_next"] is True and page["next_offset"] == 1 and page["total"] == 3
    r = client.patch(
        f"/api/v1/users/{created['user_id']}",
        headers=auth(token),
        json={"name": "Renamed", "role": "manager"},
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.json()["role"] == "manager"
    assert get_token(client, "new.broker@test.example", "a fine long password")


def test_deactivated_user_is_refused_on_the_next_call(client):
    admin_token = get_token(client, make_user(Role.ADMIN).email)
    broker = make_user(Role.BROKER)
    token = get_token(client, broker.email)
    assert client.get("/api/v1/users/me", headers=auth(token)).status_code == 200
    r = client.patch(
        f"/api/v1/users/{broker.user_id}", headers=auth(admin_token), json={"is_active": False}
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert client.get("/api/v1/users/me", headers=auth(token)).status_code == 401
    again = client.post("/api/v1/auth/token", data={"username": broker.email, "password": PASSWORD})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # Reactivated: the old token stays void (credentials changed), a new one works.
    client.patch(
        f"/api/v1/users/{broker.user_id}", headers=auth(admin_token), json={"is_active": True}
    )
    assert client.get("/api/v1/users/me", headers=auth(token)).status_code == 401
    assert get_token(client, broker.email)


def test_password_change_voids_earlier_tokens(client):
    user = make_user(Role.BROKER)
    token = get_token(client, user.email)
    r = client.post(
        "/api/v1/users/me/password",
        headers=auth(token),
        json={"current_password": PASSWORD, "new_password": "completely different one"},
    )
    assert r.status_code == 204
    assert client.get("/api/v1/users/me", headers=auth(token)).status_code == 401
    assert get_token(client, user.email, "completely different one")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "name": "X", "role": "broker"}, "email"),
        ({"email": "x@test.example", "name": "X", "role": "emperor"}, "role"),
        ({"email": "x@test.example", "name": "", "role": "broker"}, "name"),
        ({"email": "x@test.example", "name": "X" * 121, "role": "broker"}, "name"),
        (
            {"email": "x@test.example", "name": "X", "role": "broker", "password": "short"},
            "password",
        ),
        ({"email": "x@test.example", "name": "X", "role": "broker", "is_admin": True}, "is_admin"),
        ({"email": ["x@test.example"], "name": "X", "role": "broker"}, "email"),
        ({"email": "x@test.example", "name": {"$ne": 1}, "role": "broker"}, "name"),
        ({"name": "X", "role": "broker"}, "email"),
        (
            {"email": "x@test.example", "name": "X", "role": "broker", "manager_id": "abc"},
            "manager_id",
        ),
        (
            {"email": "x@test.example", "name": "X", "role": "broker", "manager_id": 999999},
            "manager_id",
        ),
    ],
)
def test_bad_input_is_422_naming_the_field_and_changes_nothing(client, body, field):
    token = get_token(client, make_user(Role.ADMIN).email)
    before = client.get("/api/v1/users", headers=auth(token)).json()["total"]
    r = client.post("/api/v1/users", headers=auth(token), json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert client.get("/api/v1/users", headers=auth(token)).json()["total"] == before


def test_malformed_json_and_query_are_422_not_500(client):
    token = get_token(client, make_user(Role.ADMIN).email)
    r = client.post(
        "/api/v1/users",
        headers={**auth(token), "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code == 422
    assert client.get("/api/v1/users", headers=auth(token), params={"limit": 0}).status_code == 422
    assert (
        client.get("/api/v1/users", headers=auth(token), params={"limit": 201}).status_code == 422
    )
    assert (
        client.get("/api/v1/users", headers=auth(token), params={"offset": "x"}).status_code == 422
    )
    assert client.get("/api/v1/users/abc", headers=auth(token)).status_code == 422


def test_unknown_user_is_404_and_duplicate_email_is_409(client):
    admin = make_user(Role.ADMIN)
    token = get_token(client, admin.email)
    assert client.get("/api/v1/users/987654", headers=auth(token)).status_code == 404
    assert (
        client.patch("/api/v1/users/987654", headers=auth(token), json={"name": "x"}).status_code
        == 404
    )
    r = client.post(
        "/api/v1/users",
        headers=auth(token),
        json={"email": admin.email.upper(), "name": "Dup", "role": "broker"},
    )
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "email"


def test_admin_cannot_lock_themselves_out(client):
    admin = make_user(Role.ADMIN)
    token = get_token(client, admin.email)
    r = client.patch(
        f"/api/v1/users/{admin.user_id}", headers=auth(token), json={"is_active": False}
    )
    assert r.status_code == 422
    r = client.patch(f"/api/v1/users/{admin.user_id}", headers=auth(token), json={"role": "broker"})
    assert r.status_code == 422
    assert client.get("/api/v1/users/me", headers=auth(token)).json()["role"] == "admin"


def test_health_reports_database_and_migrations_without_auth(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"]["ok"] is True
    assert (
        body["migrations"]["up_to_date"] is True
        and body["migrations"]["current"] == body["migrations"]["head"]
    )


def test_openapi_and_docs_are_served_without_cdn(client):
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/auth/token" in spec["paths"] and "/api/v1/users/{user_id}" in spec["paths"]
    html = client.get("/api/docs").text
    assert "/api/docs/assets/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "jsdelivr" not in html and "unpkg" not in html
