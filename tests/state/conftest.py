"""Reflex states driven directly, the way a browser's events would reach them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
from typing import Any

import pytest
import reflex as rx

from brm_app.db import unit_of_work
from brm_app.services import authentication
from brm_app.settings import get_settings
from tests.factories import PASSWORD


def run_async(coro):
    """Run a coroutine on a loop of its own (the Playwright tests keep one running in this thread)."""
    context = contextvars.copy_context()  # Reflex keeps its registry in a context variable
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coro).result()


class Browser:
    """One browser tab: a root state, the cookie it sends, and helpers to fire events."""

    def __init__(self, cookie_token: str | None = None, path: str = "/"):
        self.root = rx.State(_reflex_internal_init=True)
        self.set_cookie(cookie_token, path)

    def set_cookie(self, token: str | None, path: str = "/") -> None:
        headers = {"cookie": f"brm_session={token}"} if token else {}
        router_data = {"headers": headers, "ip": "127.0.0.1", "pathname": path, "asPath": path}
        self.root.router_data = self.root._update_router_vars(router_data, {})

    def state(self, cls: type[rx.State]) -> Any:
        return self.root.get_substate(cls.get_full_name().split(".")[1:])

    def fire(self, cls: type[rx.State], handler: str, *args: Any) -> list[Any]:
        """Call a handler as the event processor would; returns whatever it returned or yielded."""
        fn = getattr(self.state(cls), handler)
        result = fn(*args)
        if inspect.isasyncgen(result):

            async def drain():
                return [x async for x in result]

            return run_async(drain())
        if inspect.iscoroutine(result):
            return [run_async(result)]
        if inspect.isgenerator(result):
            return list(result)
        return [result]


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
