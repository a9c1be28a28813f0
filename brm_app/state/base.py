"""What every page state shares: calling a service as the signed-in user, and showing errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx

from brm_app.db import unit_of_work
from brm_app.services import number_format
from brm_app.services.errors import DomainError, NotAuthenticated, ValidationFailed
from brm_app.state.session_guard import credentials_of, login_redirect

T = TypeVar("T")


def total_label(page: Any, loc: str = number_format.DEFAULT_LOCALE) -> str:
    """A list's count as the user's locale writes it; "10,000+" when the count was capped."""
    if page.total is not None:
        return number_format.count(page.total, loc)
    return number_format.count(page.total_at_least, loc) + "+"


class ServiceMixin(rx.State, mixin=True):
    """Handlers call `await self._call(service_fn, **kwargs)`: the session is re-checked, the
    service runs in a worker thread (never blocking other users) inside one transaction."""

    async def _call(self, fn: Callable[..., T], *, write: bool = False, **kwargs: Any) -> T:
        credentials = credentials_of(self._get_root_state())

        def run() -> T:
            with unit_of_work(write=write) as db:
                return fn(db, actor=credentials.actor(db), **kwargs)

        return await asyncio.to_thread(run)

    async def _number_locale(self) -> str:
        """How this tab writes numbers (services.number_format): My account's locale, else the
        browser's (the Accept-Language its socket sent)."""
        from brm_app.state.auth import SessionState  # it is a ServiceMixin itself

        session = await self.get_state(SessionState)
        headers = self.router.headers if self.router else None
        return number_format.effective_locale(
            session.locale, headers.accept_language if headers else ""
        )

    def _error_event(self, exc: DomainError) -> Any:
        """The event that shows a domain error: sign-in page for a lost session, else a toast."""
        if isinstance(exc, NotAuthenticated):
            return login_redirect(self.router.url.path if self.router else None)
        return rx.toast.error(exc.message, close_button=True)

    @staticmethod
    def _field_errors(exc: ValidationFailed) -> dict[str, str]:
        return {k: v for k, v in exc.errors.items() if k != "__all__"}


class PagedListMixin(ServiceMixin, rx.State, mixin=True):
    """A list shown one page at a time: only the visible page's rows are kept in state.

    A state using it sets `_page_size` and implements `_refresh()` (load `rows` for `offset`, set
    `has_next`)."""

    rows: list[dict[str, Any]] = []
    offset: int = 0
    has_next: bool = False

    @rx.var
    def shown(self) -> int:
        return len(self.rows)

    @rx.var
    def has_prev(self) -> bool:
        return self.offset > 0

    def _page_size(self) -> int:
        return 50

    async def _refresh(self) -> Any:
        raise NotImplementedError

    @rx.event
    async def next_page(self):
        if self.has_next:
            self.offset += self._page_size()
        return await self._refresh()

    @rx.event
    async def prev_page(self):
        self.offset = max(0, self.offset - self._page_size())
        return await self._refresh()


def as_id(value: Any) -> int | None:
    """A record id from a browser event, or None for anything else (bools, strings, dicts, lists)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        return None
    return value


def scroll_to_first_error() -> Any:
    """Bring the first field message into view (long dialogs scroll)."""
    return rx.call_script(
        "setTimeout(() => document.querySelector('[role=alert]')?.scrollIntoView({block: 'center', behavior: 'smooth'}), 50)"
    )
