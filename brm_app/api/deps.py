"""Request-scoped dependencies: the unit of work, the client address and the acting user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from brm_app.auth.actor import Actor
from brm_app.db import unit_of_work
from brm_app.services import authentication
from brm_app.services.errors import NotAuthenticated, SetupRequired
from brm_app.settings import Settings, get_settings

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/token")

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request; writes take SQLite's write lock up front.

    Used with scope="function" (see `DB`): the commit runs when the route returns, before the
    response leaves, so a 2xx means the write is stored and a failing commit answers 500.
    """
    with unit_of_work(write=request.method not in _READ_METHODS) as session:
        yield session


def client_ip(request: Request) -> str | None:
    hops = get_settings().trusted_proxy_hops
    if hops:
        forwarded = [
            p.strip() for p in request.headers.get("x-forwarded-for", "").split(",") if p.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.client.host if request.client else None


def settings() -> Settings:
    return get_settings()


def actor_during_setup(
    request: Request,
    db: Annotated[Session, Depends(db_session, scope="function")],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The bearer's actor, also while their account setup is pending (the password change)."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise NotAuthenticated("Send an access token: Authorization: Bearer <token>.")
    return authentication.actor_for_api_token(
        db, token=creds.credentials, ip=client_ip(request), settings=get_settings()
    )


def current_actor(actor: Annotated[Actor, Depends(actor_during_setup)]) -> Actor:
    """The bearer's actor; 403 with what to do while the password must be changed or two-factor
    sign-in set up (every route but the password change)."""
    if actor.setup_required:
        raise SetupRequired(actor.setup_required)
    return actor


# scope="function": FastAPI's default ("request") would commit after the response was sent.
DB = Annotated[Session, Depends(db_session, scope="function")]
CurrentActor = Annotated[Actor, Depends(current_actor)]
SetupActor = Annotated[Actor, Depends(actor_during_setup)]
