"""The dashboard's figures for the signed-in user."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import reflex as rx

from brm_app.auth.rbac import Permission, has
from brm_app.components import charts
from brm_app.models.follow_up import FollowUpStatus
from brm_app.services import (
    capabilities,
    dashboard,
    follow_ups,
    interactions,
    relationship,
    reports,
)
from brm_app.services.errors import DomainError
from brm_app.services.follow_ups import FollowUpQuery
from brm_app.services.interactions import InteractionQuery
from brm_app.services.pagination import PageRequest
from brm_app.state.base import ServiceMixin, total_label


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
    # The relationship side (brokers, managers, admins, compliance)
    works_book: bool = False
    own_book: bool = False  # a broker: their own firms and follow-ups only
    team_view: bool = False  # a manager: the team's follow-ups
    due: list[dict[str, Any]] = []
    due_total: str = "0"
    # Non-brokers review the whole book by default (a manager often covers no firm); brokers
    # always see their own.
    due_scope: str = "all"
    my_follow_ups: list[dict[str, Any]] = []
    overdue_count: int = 0
    recent: list[dict[str, Any]] = []
    # A broker's own interactions per month by type (managers have the team report).
    my_interactions_fig: go.Figure = go.Figure()

    @rx.event
    async def load(self):
        try:
            # A trader's home is their portal.
            home = await self._call(capabilities.home_path)
            if home != "/":
                return rx.redirect(home)
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
        await self._load_book()
        self.loaded = True

    async def _load_book(self) -> None:
        mine = self.due_scope == "mine"

        def fetch(db, *, actor):
            if not has(actor, Permission.INTERACTIONS_VIEW):
                return None
            caps = capabilities.for_book(db, actor=actor)
            due = relationship.due_for_contact(
                db, actor=actor, page=PageRequest(limit=10), mine=mine or caps.own_book
            )
            fus = overdue = None
            if has(actor, Permission.FOLLOW_UPS_EDIT):
                # A manager plans little themselves: their card is the team's follow-ups.
                scope = "team" if caps.team_follow_ups else "mine"
                fus = follow_ups.list_follow_ups(
                    db,
                    actor=actor,
                    query=FollowUpQuery(scope=scope, status=FollowUpStatus.OPEN),
                    page=PageRequest(limit=8),
                )
                # Counted apart: the card lists only the first few.
                overdue = follow_ups.list_follow_ups(
                    db,
                    actor=actor,
                    query=FollowUpQuery(scope=scope, overdue=True),
                    page=PageRequest(limit=1),
                )
            recent = interactions.list_interactions(
                db,
                actor=actor,
                query=InteractionQuery(broker_id=actor.user_id if caps.own_book else None),
                page=PageRequest(limit=6),
            )
            tz = interactions.user_zone_name(db, actor)
            mine_by_month = reports.my_interactions(db, actor=actor) if caps.own_book else []
            return due, fus, overdue, recent, tz, caps, mine_by_month

        try:
            result = await self._call(fetch)
        except DomainError:
            result = None
        self.works_book = result is not None
        if result is None:
            return
        due, fus, overdue, recent, tz, caps, mine_by_month = result
        self.own_book, self.team_view = caps.own_book, caps.team_follow_ups
        if caps.own_book:
            self.my_interactions_fig = charts.interactions_by_month(
                mine_by_month, "My interactions per month"
            )
        zone = ZoneInfo(tz)
        self.due = [
            {
                "firm_id": d.firm_id,
                "href": f"/firms/{d.firm_id}",
                "name": d.name,
                "tier": d.tier,
                "broker": d.primary_broker,
                "last": d.last_contact_at.astimezone(zone).strftime("%d %b %Y")
                if d.last_contact_at
                else "never",
                "days": f"{d.days_since} days ago"
                if d.days_since is not None
                else "no contact yet",
                "interval": d.interval_days,
                "n30": d.interactions_30d,
                "n90": d.interactions_90d,
                "open": d.open_follow_ups,
                "overdue": d.overdue_follow_ups,
            }
            for d in due.items
        ]
        self.due_total = total_label(due, await self._number_locale())
        self.my_follow_ups = [
            {
                "href": f"/follow-ups/{f.follow_up_id}",
                "title": f.title,
                "firm": f.firm_name,
                "due": f.due_at.astimezone(zone).strftime("%a %d %b %H:%M"),
                "overdue": f.overdue,
                "who": f.assignee_name,
            }
            for f in (fus.items if fus else [])
        ]
        self.overdue_count = (overdue.total or overdue.total_at_least or 0) if overdue else 0
        self.recent = [
            {
                "href": f"/interactions/{i.interaction_id}",
                "type": i.interaction_type,
                "subject": i.subject,
                "firm": i.firm_name,
                "when": i.interaction_date.astimezone(zone).strftime("%d %b %H:%M"),
                "outcome": i.outcome or "",
            }
            for i in recent.items
        ]

    @rx.event
    async def set_due_scope(self, value: str | list[str]):
        if isinstance(value, str) and value in ("mine", "all"):
            self.due_scope = value
            await self._load_book()
