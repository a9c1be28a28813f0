"""The API's request path (issue 15): one worker-thread hop per call, the token's signature
checked once per token while the account's state is still read on every call, and no route that
would be handed a placeholder instead of its session."""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta

import anyio.to_thread
import jwt
import pytest
from fastapi import APIRouter as PlainRouter
from fastapi import Depends, FastAPI

from brm_app.api import deps
from brm_app.api.router import ApiRouter, check_routes
from brm_app.auth import tokens
from brm_app.db import unit_of_work, utcnow
from brm_app.models.user import Role, User
from brm_app.services import authentication
from brm_app.services.errors import NotAuthenticated
from brm_app.settings import get_settings
from tests.api.test_interactions_api import bearer
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"


@contextlib.contextmanager
def counted_hops():
    """How many times the event loop handed work to a worker thread."""
    real = anyio.to_thread.run_sync
    hops = []

    async def counting(func, *args, **kwargs):
        hops.append(getattr(func, "func", func))
        return await real(func, *args, **kwargs)

    anyio.to_thread.run_sync = counting
    try:
        yield hops
    finally:
        anyio.to_thread.run_sync = real


def test_a_read_and_a_write_each_take_one_thread_hop(client):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker)
    trader = make_trader(broker, firm.firm_id)
    headers = bearer(broker)
    with counted_hops() as hops:
        r = client.get(f"{API}/users/me", headers=headers)
    assert r.status_code == 200, r.text
    assert len(hops) == 1, hops
    body = {
        "trader_id": trader.trader_id,
        "interaction_type": "Call",
        "interaction_date": (utcnow() - timedelta(hours=1)).isoformat(),
        "subject": "One hop",
    }
    with counted_hops() as hops:
        r = client.post(f"{API}/interactions", headers=headers, json=body)
    assert r.status_code == 201, r.text
    assert len(hops) == 1, hops


def test_a_cached_signature_never_outlives_a_password_change_or_deactivation(client):
    broker = make_user(Role.BROKER)
    headers = bearer(broker)
    assert client.get(f"{API}/users/me", headers=headers).status_code == 200
    assert client.get(f"{API}/users/me", headers=headers).status_code == 200  # cached now
    with unit_of_work(write=True) as db:
        db.get(User, broker.user_id).credentials_changed_at = utcnow()
    assert client.get(f"{API}/users/me", headers=headers).status_code == 401
    other = make_user(Role.BROKER)
    headers = bearer(other)
    assert client.get(f"{API}/users/me", headers=headers).status_code == 200
    with unit_of_work(write=True) as db:
        db.get(User, other.user_id).is_active = False
    assert client.get(f"{API}/users/me", headers=headers).status_code == 401


def test_a_cached_signature_expires_with_its_token(database_url):
    secret = get_settings().secret_key
    now = int(time.time())
    claims = {
        "sub": "1",
        "aud": tokens.AUDIENCE,
        "iss": tokens.ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 2,
        "jti": "short-lived",
        "cv": 1,
    }
    token = jwt.encode(claims, secret, algorithm=tokens.ALGORITHM)
    first = tokens.decode_cached(token, secret=secret)
    assert tokens.decode_cached(token, secret=secret) is first  # from the cache
    # Another key never matches a token cached under the first.
    with pytest.raises(tokens.InvalidToken):
        tokens.decode_cached(token, secret=secret + "x")
    time.sleep(max(0.0, now + 2.2 - time.time()))
    with pytest.raises(NotAuthenticated):
        authentication.api_token_claims(token, settings=get_settings())


def test_a_route_taking_db_outside_api_router_is_refused_at_start():
    plain = PlainRouter()

    @plain.get("/x")
    def x(db: deps.DB) -> dict:
        return {}

    api = FastAPI()
    api.include_router(plain)
    with pytest.raises(RuntimeError, match="ApiRouter"):
        check_routes(api)

    ours = ApiRouter()

    @ours.get("/y")
    def y(db: deps.DB, actor: deps.CurrentActor) -> dict:
        return {}

    fine = FastAPI()
    fine.include_router(ours)
    check_routes(fine)


def test_async_routes_are_left_alone():
    ours = ApiRouter()

    async def z(dep: int = Depends(lambda: 1)) -> dict:
        return {}

    ours.add_api_route("/z", z)
    assert ours.routes[-1].endpoint is z
