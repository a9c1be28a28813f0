"""/firms: the book of firms — search as you type, filters, sorting, pagination, new firm."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import reflex as rx

from brm_app.models.firm import AccountStatus, FirmWrite, Tier
from brm_app.services import capabilities, firms
from brm_app.services.errors import Conflict, DomainError, ValidationFailed
from brm_app.services.firms import FirmQuery
from brm_app.services.pagination import PageRequest
from brm_app.services.validation import parse
from brm_app.state.base import PagedListMixin, scroll_to_first_error, total_label
from brm_app.state.firm_forms import NONE, firm_form_values, firm_payload, flat_errors

PAGE_SIZE = 50
STATUSES = {"all", *(s.value for s in AccountStatus)}
TIERS = {"all", *(t.value for t in Tier)}
SORTABLE = set(firms.SORTS)


def list_row(item) -> dict[str, Any]:
    return {
        "firm_id": item.firm_id,
        "href": f"/firms/{item.firm_id}",
        "name": item.name,
        "lei": item.lei or "",
        "place": ", ".join(p for p in (item.city, item.country) if p),
        "status": item.account_status.value,
        "tier": item.tier.value,
        "primary": item.primary_broker.name if item.primary_broker else "",
        "traders": item.trader_count,
        "updated": item.updated_at.isoformat(),
        "archived": item.archived_at is not None,
    }


class FirmBrokersState(rx.State):
    """The brokers the list can be filtered by (and a new firm's coverage chosen from), apart
    from FirmsState: a search changes FirmsState, and the components reading it re-render; the
    hundreds of options of the closed broker menu (Radix renders them even closed) do not."""

    brokers: list[dict[str, str]] = []


class FirmsState(PagedListMixin, rx.State):
    def _page_size(self) -> int:
        return PAGE_SIZE

    loading: bool = False
    q: str = ""
    status: str = "all"
    tier: str = "all"
    # "all", "mine", or a broker's user id (managers looking at one broker's book)
    coverage: str = "all"
    archived: bool = False
    sort: str = "name"
    direction: str = "asc"
    total: str = "0"
    # What the signed-in user may do with the book, as the services answer it.
    own_book: bool = False
    choose_coverage: bool = False
    filter_by_broker: bool = False

    # New-firm dialog
    dialog_open: bool = False
    form_key: int = 0
    form: dict[str, str] = {}
    errors: dict[str, str] = {}
    saving: bool = False

    @rx.var
    def export_url(self) -> str:
        params = {"sort": self.sort, "direction": self.direction}
        if self.q:
            params["q"] = self.q
        if self.status != "all":
            params["status"] = self.status
        if self.tier != "all":
            params["tier"] = self.tier
        if self.coverage == "mine":
            params["covered"] = "true"
        elif self.coverage.isdigit():
            params["broker_id"] = self.coverage
        return "/api/session/exports/firms.csv?" + urlencode(params)

    def _query(self) -> FirmQuery:
        return FirmQuery(
            q=self.q or None,
            status=AccountStatus(self.status) if self.status != "all" else None,
            tier=Tier(self.tier) if self.tier != "all" else None,
            covered_by_me=self.coverage == "mine",
            broker_id=int(self.coverage) if self.coverage.isdigit() else None,
            archived=self.archived,
            sort=self.sort,
            direction="desc" if self.direction == "desc" else "asc",
        )

    @rx.event
    async def load(self):
        params = self.router.url.query_parameters
        self.offset = 0
        self.archived = False
        self.dialog_open = False
        self.q = (params.get("q") or "")[:100]

        def first(db, *, actor):
            caps = capabilities.for_book(db, actor=actor)
            return caps, firms.brokers(db, actor=actor) if firms.may_list_brokers(actor) else []

        try:
            caps, brokers = await self._call(first)
        except DomainError as exc:
            return self._error_event(exc)
        self.own_book, self.choose_coverage = caps.own_book, caps.choose_coverage
        self.filter_by_broker = caps.filter_by_broker
        if self.own_book and not self.rows:
            self.coverage = "mine"  # "my firms" by default for brokers
        choices = await self.get_state(FirmBrokersState)
        choices.brokers = [{"id": str(b.user_id), "name": b.name} for b in brokers]
        refreshed = await self._refresh()
        # The command palette's "New firm" lands here with ?do=new (the service still decides).
        if params.get("do") == "new" and "firms.create" in await self._perms():
            self._open_new()
        return refreshed

    async def _perms(self) -> list[str]:
        from brm_app.state.auth import SessionState

        return (await self.get_state(SessionState)).perms

    async def _refresh(self) -> Any:
        self.loading = True
        query, page = self._query(), PageRequest(offset=self.offset, limit=PAGE_SIZE)
        try:
            result = await self._call(firms.list_firms, query=query, page=page)
        except DomainError as exc:
            self.loading = False
            return self._error_event(exc)
        self.rows = [list_row(i) for i in result.items]
        self.total = total_label(result, await self._number_locale())
        self.has_next = result.has_next
        self.loading = False
        return None

    @rx.event
    async def search(self, value: str):
        if not isinstance(value, str):
            return None
        self.q = value[:100]
        self.offset = 0
        return await self._refresh()

    @rx.event
    async def set_filter(self, name: str, value: str):
        choices = await self.get_state(FirmBrokersState)
        allowed = {
            "status": STATUSES,
            "tier": TIERS,
            "coverage": {"all", "mine", *(b["id"] for b in choices.brokers)},
        }
        if (
            not isinstance(name, str)
            or name not in allowed
            or not isinstance(value, str)
            or value not in allowed[name]
        ):
            return None
        setattr(self, name, value)
        self.offset = 0
        return await self._refresh()

    @rx.event
    async def set_archived(self, value: bool):
        if not isinstance(value, bool):
            return None
        self.archived = value
        self.offset = 0
        return await self._refresh()

    @rx.event
    async def sort_by(self, column: str):
        if not isinstance(column, str) or column not in SORTABLE:
            return None
        if self.sort == column:
            self.direction = "desc" if self.direction == "asc" else "asc"
        else:
            self.sort, self.direction = column, ("desc" if column == "updated" else "asc")
        self.offset = 0
        return await self._refresh()

    @rx.event
    def open_new(self):
        self._open_new()

    def _open_new(self) -> None:
        self.form = firm_form_values(None)
        self.errors = {}
        self.form_key += 1
        self.dialog_open = True

    @rx.event
    def set_dialog_open(self, value: bool):
        self.dialog_open = bool(value)

    @rx.event
    async def create(self, form: dict):
        if not isinstance(form, dict):
            return None
        self.form = {k: v for k, v in form.items() if isinstance(k, str) and isinstance(v, str)}
        self.saving = True
        try:
            data = parse(FirmWrite, firm_payload(form, with_coverage=self.choose_coverage))
            created = await self._call(firms.create_firm, write=True, data=data)
        except ValidationFailed as exc:
            self.saving = False
            self.errors = flat_errors(exc.errors)
            return scroll_to_first_error()
        except Conflict as exc:
            self.saving = False
            self.errors = {exc.field or "form": exc.message}
            return scroll_to_first_error()
        except DomainError as exc:
            self.saving = False
            self.errors = {"form": exc.message}
            return self._error_event(exc)
        self.saving = False
        self.dialog_open = False
        return [
            rx.toast.success(f"{created.name} created."),
            rx.redirect(f"/firms/{created.firm_id}"),
        ]


__all__ = ["NONE", "FirmBrokersState", "FirmsState"]
