"""Request-scoped dependencies: the unit of work, the client address and the acting user.

One thread hop per request: the dependencies here run on the event loop and touch no database.
`DB` and the actors are placeholders (`PendingWork`, `PendingActor`) that the route's own worker
thread turns into an open unit of work and a checked actor, runs the route in, and commits before
the response leaves (`ApiRouter` wraps every route so). FastAPI would otherwise run each sync
dependency, the route and the response's validation on a worker thread of their own: six hops,
each costing more than the query most routes make.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from brm_app.auth.actor import Actor
from brm_app.auth.tokens import TokenClaims
from brm_app.db import unit_of_work
from brm_app.observability.middleware import note_user
from brm_app.services import authentication
from brm_app.services.errors import NotAuthenticated, SetupRequired
from brm_app.settings import get_settings

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/token")

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class PendingWork:
    """The request's transaction, not open yet: the route's worker thread opens it.

    Reads never write; anything else takes SQLite's write lock up front (`unit_of_work`)."""

    __slots__ = ("write",)

    def __init__(self, write: bool):
        self.write = write


class Pending:
    """Something a dependency could not finish on the loop (it needs the database): the route's
    worker thread calls `resolve` in the request's transaction and hands the route the result."""

    __slots__ = ("_resolve",)

    def __init__(self, resolve: Callable[[Session], Any]):
        self._resolve = resolve

    def resolve(self, db: Session) -> Any:
        return self._resolve(db)


class PendingActor(Pending):
    """A bearer whose token's signature and claims are verified; the account's state (active,
    credentials unchanged, setup pending) is checked on the route's worker thread, in its
    transaction, before the route runs."""

    __slots__ = ("claims", "ip", "setup_ok")

    def __init__(self, claims: TokenClaims, ip: str | None, setup_ok: bool):
        self.claims = claims
        self.ip = ip
        self.setup_ok = setup_ok

    def resolve(self, db: Session) -> Actor:
        actor = authentication.actor_for_token_claims(db, claims=self.claims, ip=self.ip)
        note_user(actor.user_id)
        if actor.setup_required and not self.setup_ok:
            raise SetupRequired(actor.setup_required)
        return actor


async def db_session(request: Request) -> PendingWork:
    """One transaction per request, opened on the route's worker thread (see `one_hop`)."""
    return PendingWork(write=request.method not in _READ_METHODS)


def client_ip(request: Request) -> str | None:
    hops = get_settings().trusted_proxy_hops
    if hops:
        forwarded = [
            p.strip() for p in request.headers.get("x-forwarded-for", "").split(",") if p.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.client.host if request.client else None


async def actor_during_setup(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> PendingActor:
    """The bearer, also while their account setup is pending (the password change). A missing,
    forged or expired token is refused here, before the request's parameters are read."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise NotAuthenticated("Send an access token: Authorization: Bearer <token>.")
    claims = authentication.api_token_claims(creds.credentials, settings=get_settings())
    return PendingActor(claims, client_ip(request), setup_ok=True)


async def current_actor(
    pending: Annotated[PendingActor, Depends(actor_during_setup)],
) -> PendingActor:
    """The bearer; 403 with what to do while the password must be changed or two-factor sign-in
    set up (every route but the password change)."""
    return PendingActor(pending.claims, pending.ip, setup_ok=False)


# The routes see a Session and an Actor: `one_hop` puts them in place of the placeholders.
DB = Annotated[Session, Depends(db_session)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
SetupActor = Annotated[Actor, Depends(actor_during_setup)]


def _run_in_unit_of_work(endpoint: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """On the worker thread: open the unit of work, check the actor in it, run the route, commit
    (before the response leaves: a 2xx means the write is stored; a failing commit answers 500)."""
    work: tuple[str, PendingWork] | None = None
    actors: list[tuple[str, Pending]] = []
    for name, value in kwargs.items():
        if type(value) is PendingWork:
            work = (name, value)
        elif isinstance(value, Pending):
            actors.append((name, value))
    if work is None and not actors:
        return endpoint(**kwargs)
    with unit_of_work(write=work[1].write if work else False) as db:
        if work is not None:
            kwargs[work[0]] = db
        for name, pending in actors:
            kwargs[name] = pending.resolve(db)
        return endpoint(**kwargs)


def one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A sync route as a coroutine that runs it, with its unit of work and actor check, in one
    worker-thread hop (FastAPI then also validates the response on the loop, not on a thread)."""
    if inspect.iscoroutinefunction(endpoint) or getattr(endpoint, "__brm_one_hop__", False):
        return endpoint

    @functools.wraps(endpoint)
    async def route(**kwargs: Any) -> Any:
        return await run_in_threadpool(_run_in_unit_of_work, endpoint, kwargs)

    route.__brm_one_hop__ = True  # type: ignore[attr-defined]
    return route


async def run_db(work: Session, fn: Callable[..., Any], *args: Any) -> Any:
    """For an async route (one that reads its raw body first): `fn(db, *args)` in the request's
    unit of work, on one worker thread, committed before it returns. `work` is the route's `DB`."""
    pending = cast(object, work)
    if not isinstance(pending, PendingWork):
        raise TypeError("run_db takes the route's DB placeholder")

    def call() -> Any:
        with unit_of_work(write=pending.write) as db:
            return fn(db, *args)

    return await run_in_threadpool(call)


def async_route(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Marks an async route that takes `DB` and does its database work through `run_db`."""
    endpoint.__brm_one_hop__ = True  # type: ignore[attr-defined]
    return endpoint
