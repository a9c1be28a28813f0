"""Reflex states driven the way a browser drives them: every `fire` is a real event.

`Browser` is a tab of tests/state/harness.py: its events go as websocket JSON through the app's
`EventNamespace.on_event`, the middleware chain (SessionGuard, InputGuard, ...), payload
conversion, returned and yielded events, and the serialized deltas. `browser.state(cls)` is what
the tab holds (every delta it was sent, merged like the frontend merges them), never the server's
object; `browser.server_state(cls)` is the server-side state, for what the browser never sees
(`_backend` vars) and for setting up what a UI step would have left behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Iterator
from typing import Any

import pytest
import reflex as rx
from reflex_base.constants.state import FIELD_MARKER

from brm_app.db import unit_of_work
from brm_app.services import authentication
from brm_app.settings import get_settings
from tests.factories import PASSWORD
from tests.state.harness import Received, Server, Tab


def run_async(coro):
    """Run a coroutine on a loop of its own (the Playwright tests keep one running in this thread)."""
    context = contextvars.copy_context()  # Reflex keeps its registry in a context variable
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coro).result()


# One backend per test, started by the first tab a test opens and stopped after the test.
_servers: list[Server] = []


def tab_server() -> Server:
    if not _servers:
        _servers.append(Server())
    return _servers[0]


@pytest.fixture(autouse=True)
def _stop_tab_server() -> Iterator[None]:
    yield
    while _servers:
        _servers.pop().close()


class Sent(list[Received]):
    """What the tab received for one event (its updates, in order)."""

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for r in self for e in r.events]

    def names(self) -> list[str]:
        return [e.get("name", "") for e in self.events]

    def redirected_to(self) -> str | None:
        paths = [e["payload"]["path"] for e in self.events if e.get("name") == "_redirect"]
        return paths[-1] if paths else None

    def delta_of(self, cls: type[rx.State]) -> dict[str, Any]:
        """The vars of this state the event sent (names without Reflex's marker)."""
        out: dict[str, Any] = {}
        for r in self:
            for k, v in r.delta.get(cls.get_full_name(), {}).items():
                out[k.removesuffix(FIELD_MARKER)] = v
        return out


def redirects_to_login(sent: Sent) -> bool:
    path = sent.redirected_to()
    return path is not None and path.startswith("/login")


class Held:
    """One state as the tab holds it: read-only, public vars only (as the browser has them)."""

    def __init__(self, browser: Browser, cls: type[rx.State]) -> None:
        object.__setattr__(self, "_browser", browser)
        object.__setattr__(self, "_cls", cls)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"{name} never reaches the browser: use server_state()")
        held = self._browser.held(self._cls)
        if name not in held:
            raise AttributeError(f"{self._cls.__name__}.{name} was never sent to the tab")
        return held[name]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the tab's copy is read-only: send an event, or use server_state()")


class HandlerError(Exception):
    pass


class Browser:
    """One browser tab on the test's backend: a session cookie, the page it is on, and `fire`.

    Opening the tab loads `path` like a browser does (hydration, then the page's on_load).
    `fire` raises what reached the app's backend exception handler (a handler that failed), as
    the bound-method calls these tests once made did."""

    def __init__(self, cookie_token: str | None = None, path: str = "/"):
        self.server = tab_server()
        self.cookie_token = cookie_token
        self.tab: Tab = self.server.tab(cookie_token, None)
        self.opened = self.open(path)

    @property
    def token(self) -> str:
        """The tab's client token (Reflex's, not the session)."""
        return self.tab.token

    def open(self, path: str) -> Sent:
        return self._checked(lambda: self.tab.open(path))

    def set_cookie(self, token: str | None, headers: dict[str, str] | None = None) -> None:
        """The socket reconnects with another cookie (signed in elsewhere, or signed out)."""
        self.cookie_token = token
        self.tab.connect(token, headers)

    def fire(self, cls: type[rx.State], handler: str, *args: Any, **kwargs: Any) -> Sent:
        """Send one event as the page's button would; returns what the tab received for it."""
        return self._checked(lambda: self.tab.send(cls, handler, *args, **kwargs))

    def _checked(self, send) -> Sent:
        errors = len(self.server.errors)
        sent = Sent(send())
        if len(self.server.errors) > errors:
            raise self.server.errors[-1]
        return sent

    def held(self, cls: type[rx.State]) -> dict[str, Any]:
        """Every var of this state the tab was sent, the latest value of each."""
        out: dict[str, Any] = {}
        for r in self.tab.received:
            for k, v in r.delta.get(cls.get_full_name(), {}).items():
                out[k.removesuffix(FIELD_MARKER)] = v
        return out

    def state(self, cls: type[rx.State]) -> Held:
        return Held(self, cls)

    def server_state(self, cls: type[rx.State]) -> Any:
        """The server-side state the next event will see (backend vars, test set-up)."""
        return self.tab.state(cls)

    @property
    def text(self) -> str:
        return self.tab.text


def session_token_for(email: str, password: str = PASSWORD) -> str:
    settings = get_settings()
    with unit_of_work(write=True) as db:
        ticket = authentication.sign_in(
            db, email=email, password=password, ip="127.0.0.1", user_agent="t", settings=settings
        )
    with unit_of_work(write=True) as db:
        return authentication.establish_session(db, ticket=ticket, previous_token=None)


@pytest.fixture
def browser_for(database_url):
    def make(email: str | None, path: str = "/") -> Browser:
        return Browser(session_token_for(email) if email else None, path)

    return make


from tests.state.world import world  # noqa: E402, F401  (the shared fixture)
