"""/traders, beside the list itself: saved views (search, status and role filters, sort,
columns; per user). A thin caller of services.saved_views (state.saved_views)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from brm_app.services import traders
from brm_app.services.saved_views import TRADER_COLUMNS, TRADER_DEFAULT_COLUMNS
from brm_app.state.saved_views import SavedViewsMixin
from brm_app.state.traders import STATUSES, TradersState

COLUMN_LABELS = {
    "name": "Name",
    "email": "Email",
    "firm": "Firm",
    "role": "Role",
    "phone": "Phone",
    "status": "Status",
    "updated": "Updated",
}


class TraderListToolsState(SavedViewsMixin, rx.State):
    columns: list[str] = list(TRADER_DEFAULT_COLUMNS)

    @rx.event
    async def load(self) -> Any:
        return await self._load_views()

    def _list_name(self) -> str:
        return "traders"

    def _all_columns(self) -> tuple[str, ...]:
        return TRADER_COLUMNS

    async def _list_state(self) -> Any:
        return await self.get_state(TradersState)

    def _filters_of(self, listed: Any) -> dict[str, Any]:
        return {
            "q": listed.q,
            "status": listed.status,
            "role": listed.role,
            "sort": listed.sort,
            "direction": listed.direction,
        }

    async def _apply_filters(self, listed: Any, s: dict[str, Any]) -> Any:
        status, role, sort = str(s.get("status")), str(s.get("role")), str(s.get("sort"))
        listed.q = str(s.get("q", ""))[:100]
        listed.status = status if status in STATUSES else "all"
        # A role removed since the view was saved: every role.
        listed.role = role if role in listed.roles else "all"
        listed.sort = sort if sort in traders.SORTS else "name"
        listed.direction = "desc" if s.get("direction") == "desc" else "asc"
        listed.offset = 0
        return await listed._refresh()
