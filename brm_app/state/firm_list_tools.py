"""/firms, beside the list itself: saved views (filters, sort, columns; per user) and bulk
actions on the selected firms (assign coverage, export, archive) with a confirmation that says
how many. Thin callers of services.saved_views (state.saved_views) and services.firm_bulk."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import reflex as rx

from brm_app.services import firm_bulk
from brm_app.services.errors import DomainError, ValidationFailed
from brm_app.services.saved_views import FIRM_COLUMNS
from brm_app.state.base import as_id
from brm_app.state.firms import FirmBrokersState, FirmsState
from brm_app.state.saved_views import SavedViewsMixin

COLUMN_LABELS = {
    "name": "Name",
    "status": "Status",
    "tier": "Tier",
    "primary": "Primary broker",
    "place": "Location",
    "traders": "Traders",
    "updated": "Updated",
}


class FirmListToolsState(SavedViewsMixin, rx.State):
    columns: list[str] = list(FIRM_COLUMNS)

    selected: list[int] = []
    bulk_action: str = ""  # archive, assign_coverage
    bulk_open: bool = False
    bulk_primary: str = ""
    bulk_error: str = ""

    @rx.var
    def selected_count(self) -> int:
        return len(self.selected)

    @rx.var
    def confirm_text(self) -> str:
        return firm_bulk.confirm_text(self.bulk_action, len(self.selected))

    @rx.var
    def selection_export_url(self) -> str:
        ids = ",".join(str(i) for i in self.selected[: firm_bulk.MAX_SELECTION])
        return "/api/session/exports/firms.csv?" + urlencode({"ids": ids})

    @rx.event
    async def load(self) -> Any:
        self.selected, self.bulk_open = [], False
        return await self._load_views()

    # ---- saved views (SavedViewsMixin) ---------------------------------------------------------

    def _list_name(self) -> str:
        return "firms"

    def _all_columns(self) -> tuple[str, ...]:
        return FIRM_COLUMNS

    async def _list_state(self) -> Any:
        return await self.get_state(FirmsState)

    def _filters_of(self, firms: Any) -> dict[str, Any]:
        return {
            "q": firms.q,
            "status": firms.status,
            "tier": firms.tier,
            "coverage": firms.coverage,
            "sort": firms.sort,
            "direction": firms.direction,
        }

    async def _apply_filters(self, firms: Any, s: dict[str, Any]) -> Any:
        brokers = {b["id"] for b in (await self.get_state(FirmBrokersState)).brokers}
        firms.q = str(s.get("q", ""))
        firms.status, firms.tier = str(s.get("status", "all")), str(s.get("tier", "all"))
        coverage = str(s.get("coverage", "all"))
        firms.coverage = coverage if coverage in ("all", "mine") or coverage in brokers else "all"
        firms.sort, firms.direction = str(s.get("sort", "name")), str(s.get("direction", "asc"))
        firms.offset = 0
        return await firms._refresh()

    # ---- selection and bulk actions ---------------------------------------------------------

    @rx.event
    def toggle(self, firm_id: int, checked: bool) -> Any:
        fid = as_id(firm_id)
        if fid is None or not isinstance(checked, bool):
            return
        if checked and fid not in self.selected:
            if len(self.selected) < firm_bulk.MAX_SELECTION:
                self.selected = [*self.selected, fid]
        elif not checked:
            self.selected = [i for i in self.selected if i != fid]

    @rx.event
    async def toggle_page(self, checked: bool) -> Any:
        if not isinstance(checked, bool):
            return
        firms = await self.get_state(FirmsState)
        page = [r["firm_id"] for r in firms.rows]
        if checked:
            extra = [i for i in page if i not in self.selected]
            self.selected = (self.selected + extra)[: firm_bulk.MAX_SELECTION]
        else:
            self.selected = [i for i in self.selected if i not in page]

    @rx.event
    def clear(self) -> Any:
        self.selected = []

    @rx.event
    def ask(self, action: str) -> Any:
        if action not in ("archive", "assign_coverage") or not self.selected:
            return
        self.bulk_action, self.bulk_primary, self.bulk_error = action, "", ""
        self.bulk_open = True

    @rx.event
    def set_bulk_open(self, value: bool) -> Any:
        self.bulk_open = bool(value)

    @rx.event
    def set_bulk_primary(self, value: str) -> Any:
        if isinstance(value, str) and value.isdigit():
            self.bulk_primary = value

    @rx.event
    async def confirm(self) -> Any:
        if self.bulk_action == "assign_coverage" and not self.bulk_primary:
            self.bulk_error = "Choose the primary broker."
            return None
        try:
            result = await self._call(
                firm_bulk.bulk_firms,
                write=True,
                action=self.bulk_action,
                firm_ids=list(self.selected),
                primary_broker_id=int(self.bulk_primary) if self.bulk_primary else None,
                secondary_broker_ids=[],
            )
        except ValidationFailed as exc:
            self.bulk_error = exc.message
            return None
        except DomainError as exc:
            self.bulk_open = False
            return self._error_event(exc)
        self.bulk_open, self.selected = False, []
        word = "firm" if result.count == 1 else "firms"
        done = "Archived" if result.action == "archive" else "Coverage assigned to"
        firms = await self.get_state(FirmsState)
        refreshed = await firms._refresh()
        return [
            rx.toast.success(f"{done} {result.count} {word}."),
            *([refreshed] if refreshed else []),
        ]
