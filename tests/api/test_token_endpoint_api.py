"""POST /api/v1/auth/token answers as RFC 6749 says (section 5.1 and 5.2), with the app's own
`detail` alongside; the browser's sign-in keeps its own wording."""

from __future__ import annotations

import pytest

from brm_app.auth import throttle
from brm_app.db import unit_of_work
from brm_app.models.user import Role
from brm_app.services import authentication
from brm_app.services.errors import TooManyAttempts
from brm_app.settings import get_settings
from tests.factories import PASSWORD, make_user

TOKEN = "/api/v1/auth/token"
BAD = "Email or password is incorrect."


def _lock(key: str, *, is_ip: bool) -> None:
    settings = get_settings()
    times = settings.ip_lock_after if is_ip else settings.login_lock_after
    with unit_of_work(write=True) as db:
        for _ in range(times):
            throttle.record_failure(db, key=key, settings=settings, is_ip=is_ip)


def test_a_token_response_is_not_cached(client):
    user = make_user(Role.BROKER)
    r = client.post(TOKEN, data={"username": user.email, "password": PASSWORD})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"


def test_a_locked_account_is_invalid_grant_worded_as_a_wrong_password(client):
    user = make_user(Role.BROKER)
    _lock(throttle.account_key(user.email), is_ip=False)
    right = client.post(TOKEN, data={"username": user.email, "password": PASSWORD})
    wrong = client.post(TOKEN, data={"username": user.email, "password": "wrong password!"})
    for r in (right, wrong):
        assert r.status_code == 400
        assert r.json() == {"error": "invalid_grant", "error_description": BAD, "detail": BAD}
        assert "retry-after" not in r.headers
        assert r.headers["cache-control"] == "no-store"
    # The browser's sign-in still says what happened.
    with unit_of_work(write=True) as db, pytest.raises(TooManyAttempts) as locked:
        authentication.sign_in(
            db,
            email=user.email,
            password=PASSWORD,
            ip=None,
            user_agent=None,
            settings=get_settings(),
        )
    assert locked.value.message == authentication.LOCKED


def test_a_locked_client_address_is_429_with_retry_after(client):
    user = make_user(Role.BROKER)
    _lock(throttle.ip_key("testclient"), is_ip=True)  # the test client's address
    r = client.post(TOKEN, data={"username": user.email, "password": PASSWORD})
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["detail"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"password": PASSWORD}, "invalid_request"),  # no username
        ({"username": "u@test.example"}, "invalid_request"),  # no password
        ({"username": "", "password": ""}, "invalid_request"),
        ({"username": "u@test.example", "password": " "}, "invalid_grant"),
        ({"username": "u" * 300 + "@test.example", "password": PASSWORD}, "invalid_request"),
        (
            {"username": "u@test.example", "password": PASSWORD, "grant_type": "Password"},
            "unsupported_grant_type",
        ),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        (
            {
                "grant_type": "refresh_token",
                "refresh_token": "x",
                "username": "u@test.example",
                "password": PASSWORD,
            },
            "unsupported_grant_type",
        ),
    ],
)
def test_a_malformed_request_is_400_with_an_oauth_error(client, data, error):
    make_user(Role.BROKER, email="u@test.example")
    r = client.post(TOKEN, data=data)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == error
    assert body["error_description"] and body["detail"] == body["error_description"]
    assert r.headers["cache-control"] == "no-store"


def test_a_parameter_sent_twice_is_invalid_request(client):
    user = make_user(Role.BROKER)
    r = client.post(
        TOKEN,
        content=f"username={user.email}&password=x&password={PASSWORD}".replace("@", "%40"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert "password" in r.json()["error_description"]


def test_a_json_body_is_invalid_request(client):
    user = make_user(Role.BROKER)
    r = client.post(TOKEN, json={"username": user.email, "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text


def test_the_openapi_documents_the_oauth_answers(client):
    op = client.get("/api/openapi.json").json()["paths"][TOKEN]["post"]
    assert "422" not in op["responses"]
    assert "Cache-Control" in op["responses"]["200"]["headers"]
    bad = op["responses"]["400"]["content"]["application/json"]["schema"]
    assert bad == {"$ref": "#/components/schemas/OAuthErrorOut"}
    assert "Retry-After" in op["responses"]["429"]["headers"]
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    codes = schemas["OAuthErrorOut"]["properties"]["error"]["enum"]
    assert set(codes) == {"invalid_request", "invalid_grant", "unsupported_grant_type"}
