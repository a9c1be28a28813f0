"""The central check every Reflex event passes: no valid session, no event.

Any connected browser can call any public handler by name with any arguments, so the check
cannot live in the handlers alone. Only Reflex's own plumbing (hydration, page-load dispatch)
and the handlers of states marked with @public_state (the sign-in page) run without a session;
everything else is refused and the browser is sent to the sign-in page.

A user whose account setup is pending (a password an admin chose, or two-factor sign-in their
role requires) reaches only the states marked with @setup_state (the sign-in security page and
the shell's session); every other event sends the tab to that page, whose services would refuse
them anyway (rbac.require refuses such an actor).

It also stops one person's data reaching the next: the server keeps a tab's state across reloads,
so when the signed-in user of a tab changes (sign-out, another account) the state is wiped
before anything is sent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import quote

import reflex as rx
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event
from sqlmodel import Session

from brm_app.auth import sessions
from brm_app.auth.actor import Actor
from brm_app.db import unit_of_work
from brm_app.services import authentication
from brm_app.services.errors import NotAuthenticated

log = logging.getLogger("brm.session")

_PUBLIC_STATES: set[str] = set()
_SETUP_STATES: set[str] = set()
SETUP_PAGE = "/account/security"


def public_state(cls: type[BaseState]) -> type[BaseState]:
    """Mark a state whose handlers may run without a session (the sign-in page only)."""
    _PUBLIC_STATES.add(cls.get_full_name())
    return cls


def setup_state(cls: type[BaseState]) -> type[BaseState]:
    """Mark a state whose handlers run while the user's account setup is pending."""
    _SETUP_STATES.add(cls.get_full_name())
    return cls


class SessionOwnerState(rx.State):
    """Which user the tab's server-side state was loaded for (never sent to the browser)."""

    _owner_user_id: int | None = None


def _cookie_header_of(state: BaseState) -> str | None:
    headers = state.router_data.get("headers", {}) if state.router_data else {}
    return headers.get("cookie")


def session_token_of(state: BaseState) -> str | None:
    """The session token alone (sign-out revokes it); to know who is signed in, use credentials_of."""
    return sessions.session_from_cookie_header(_cookie_header_of(state))


def client_ip_of(state: BaseState) -> str | None:
    return state.router_data.get("ip") if state.router_data else None


@dataclass(frozen=True)
class BrowserCredentials:
    """What a tab's events carry to prove who sent them, read on the event loop and used in a
    worker thread (where the state must not be touched)."""

    cookie_header: str | None
    ip: str | None

    def actor(self, db: Session) -> Actor:
        """The signed-in user, re-checked now; NotAuthenticated once the session has ended."""
        return authentication.browser_actor(db, cookie_header=self.cookie_header, ip=self.ip)


def credentials_of(state: BaseState) -> BrowserCredentials:
    return BrowserCredentials(_cookie_header_of(state), client_ip_of(state))


def _is_reflex_internal(state_path: str) -> bool:
    try:
        cls = rx.State.get_class_substate(state_path) if "." in state_path else rx.State
    except (ValueError, KeyError, AttributeError):
        return False
    return cls.__module__.startswith("reflex.") or cls.__module__ == "reflex"


def _current_user(credentials: BrowserCredentials) -> tuple[int | None, str | None]:
    """(user id, pending setup) of the tab's session; (None, None) without a live session."""
    if not credentials.cookie_header:
        return None, None
    with unit_of_work() as db:
        try:
            actor = credentials.actor(db)
        except NotAuthenticated:
            return None, None
        return actor.user_id, actor.setup_required


def login_redirect(path: str | None) -> rx.event.EventSpec:
    target = "/login"
    if path and path.startswith("/") and not path.startswith(("//", "/login")) and path != "/":
        target += "?next=" + quote(path, safe="/")
    return rx.redirect(target, replace=True)


class SessionGuard(Middleware):
    async def preprocess(self, app, state: BaseState, event: Event) -> StateUpdate | None:
        state_path, _, _handler = event.name.rpartition(".")
        root = state._get_root_state()
        user_id, setup = await asyncio.to_thread(_current_user, credentials_of(root))

        owner_state = await root.get_state(SessionOwnerState)
        if owner_state._owner_user_id != user_id:
            if owner_state._owner_user_id is not None:
                root.reset()  # another user (or nobody) now: drop everything loaded before
            owner_state._owner_user_id = user_id

        if state_path in _PUBLIC_STATES or _is_reflex_internal(state_path):
            return None
        path = (root.router_data or {}).get("asPath")
        if user_id is None:
            log.info("refused %s: no valid session", event.name)
            return StateUpdate(events=Event.from_event_type(login_redirect(path)))
        if setup is None or state_path in _SETUP_STATES:
            return None
        log.info("refused %s: account setup (%s) pending", event.name, setup)
        if isinstance(path, str) and path.split("?")[0] == SETUP_PAGE:
            return StateUpdate()  # already there: the page's other loads just do not run
        return StateUpdate(events=Event.from_event_type(rx.redirect(SETUP_PAGE, replace=True)))
