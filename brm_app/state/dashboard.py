"""The dashboard's figures for the signed-in user."""

from __future__ import annotations

import reflex as rx

from brm_app.services import dashboard
from brm_app.services.errors import DomainError
from brm_app.state.base import ServiceMixin


def _event_row(ev) -> dict[str, str]:
    return {
        "when": ev.occurred_at.isoformat(),
        "who": ev.actor_label,
        "what": dashboard.describe_event(ev),
        "ip": ev.ip or "",
        "entity": f"{ev.entity} {ev.entity_id or ''}".strip(),
    }


class DashboardState(ServiceMixin, rx.State):
    loaded: bool = False
    my_access: list[dict[str, str]] = []
    my_live_sessions: int = 0
    is_admin_view: bool = False
    users_active: int = 0
    users_inactive: int = 0
    accounts_locked: int = 0
    users_by_role: list[dict[str, str]] = []
    show_audit: bool = False
    latest_events: list[dict[str, str]] = []

    @rx.event
    async def load(self):
        try:
            data = await self._call(dashboard.overview)
        except DomainError as exc:
            return self._error_event(exc)
        self.my_access = [_event_row(e) for e in data.my_recent_access]
        self.my_live_sessions = data.my_live_sessions
        self.is_admin_view = data.users_active is not None
        self.users_active = data.users_active or 0
        self.users_inactive = data.users_inactive or 0
        self.accounts_locked = data.accounts_locked or 0
        self.users_by_role = [
            {"role": role, "count": str(n)} for role, n in sorted(data.users_by_role.items())
        ]
        self.show_audit = bool(data.latest_events)
        self.latest_events = [_event_row(e) for e in data.latest_events]
        self.loaded = True
