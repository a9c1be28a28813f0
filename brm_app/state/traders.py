"""/traders: traders across every firm the user may see; admins also manage trader roles here."""

from __future__ import annotations

from urllib.parse import urlencode

import reflex as rx

from brm_app.models.trader import TraderStatus
from brm_app.services import traders
from brm_app.services.errors import Conflict, DomainError, ValidationFailed
from brm_app.services.pagination import PageRequest
from brm_app.services.traders import TraderQuery
from brm_app.state.base import PagedListMixin, total_label
from brm_app.state.firm_detail import trader_row

PAGE_SIZE = 50
STATUSES = {"all", *(s.value for s in TraderStatus)}


class TradersState(PagedListMixin, rx.State):
    def _page_size(self) -> int:
        return PAGE_SIZE

    roles: list[str] = []
    q: str = ""
    status: str = "all"
    role: str = "all"
    sort: str = "name"
    direction: str = "asc"
    total: str = "0"
    loading: bool = False

    roles_open: bool = False
    new_role: str = ""
    role_error: str = ""

    @rx.var
    def export_url(self) -> str:
        params = {"sort": self.sort, "direction": self.direction}
        if self.q:
            params["q"] = self.q
        if self.status != "all":
            params["status"] = self.status
        if self.role != "all":
            params["role"] = self.role
        return "/api/session/exports/traders.csv?" + urlencode(params)

    @rx.event
    async def load(self):
        self.offset = 0
        self.roles_open = False
        try:
            self.roles = await self._call(traders.roles)
        except DomainError as exc:
            return self._error_event(exc)
        return await self._refresh()

    async def _refresh(self):
        self.loading = True
        query = TraderQuery(
            q=self.q or None,
            status=TraderStatus(self.status) if self.status != "all" else None,
            role=None if self.role == "all" else self.role,
            sort=self.sort,
            direction="desc" if self.direction == "desc" else "asc",
        )
        try:
            page = await self._call(
                traders.list_traders,
                query=query,
                page=PageRequest(offset=self.offset, limit=PAGE_SIZE),
            )
        except DomainError as exc:
            self.loading = False
            return self._error_event(exc)
        self.rows = [trader_row(t) for t in page.items]
        self.total = total_label(page, await self._number_locale())
        self.has_next = page.has_next
        self.loading = False
        return None

    @rx.event
    async def search(self, value: str):
        if not isinstance(value, str):
            return None
        self.q, self.offset = value[:100], 0
        return await self._refresh()

    @rx.event
    async def set_status(self, value: str):
        if isinstance(value, str) and value in STATUSES:
            self.status, self.offset = value, 0
            return await self._refresh()
        return None

    @rx.event
    async def set_role(self, value: str):
        if isinstance(value, str) and (value == "all" or value in self.roles):
            self.role, self.offset = value, 0
            return await self._refresh()
        return None

    @rx.event
    async def sort_by(self, column: str):
        if not isinstance(column, str) or column not in traders.SORTS:
            return None
        if self.sort == column:
            self.direction = "desc" if self.direction == "asc" else "asc"
        else:
            self.sort, self.direction = column, "asc"
        self.offset = 0
        return await self._refresh()

    @rx.event
    def set_roles_open(self, value: bool):
        self.roles_open = bool(value)
        self.role_error = ""
        self.new_role = ""

    @rx.event
    def set_new_role(self, value: str):
        if isinstance(value, str):
            self.new_role = value[:60]

    @rx.event
    async def add_role(self):
        try:
            self.roles = await self._call(traders.add_role, write=True, name=self.new_role)
        except (ValidationFailed, Conflict) as exc:
            self.role_error = exc.message.split(": ", 1)[-1]
            return None
        except DomainError as exc:
            return self._error_event(exc)
        added, self.new_role, self.role_error = self.new_role.strip(), "", ""
        return rx.toast.success(f"Role {added} added.")

    @rx.event
    async def remove_role(self, name: str):
        try:
            self.roles = await self._call(traders.remove_role, write=True, name=name)
        except (ValidationFailed, Conflict) as exc:
            self.role_error = exc.message.split(": ", 1)[-1]
            return None
        except DomainError as exc:
            return self._error_event(exc)
        return rx.toast.success("Role removed.")
