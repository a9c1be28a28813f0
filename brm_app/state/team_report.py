"""/reports/team: a manager's team report (every rule in services.reports): assets under
coverage per broker, top movers, largest drawdowns, interactions per month by type for the
team or one broker; exported as CSV."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from brm_app.auth.actor import Actor
from brm_app.components import charts
from brm_app.services import number_format as nf
from brm_app.services import reports
from brm_app.services.errors import DomainError, PermissionDenied
from brm_app.state.base import ServiceMixin


def _move(m: reports.FirmMove, loc: str) -> dict[str, str]:
    """Written as the user's locale writes numbers (services.number_format)."""
    return {
        "href": f"/firms/{m.firm_id}/performance",
        "firm": m.firm_name,
        "value": f"{nf.number(m.value, loc)} {m.reporting_currency}",
        "return": nf.percent(m.return_1m, loc),
        "drawdown": nf.percent(m.drawdown, loc),
    }


class TeamReportState(ServiceMixin, rx.State):
    allowed: bool = False
    refused: bool = False
    as_of: str = ""
    brokers: list[dict[str, str]] = []
    movers: list[dict[str, str]] = []
    drawdowns: list[dict[str, str]] = []
    broker_filter: str = "team"
    assets_fig: go.Figure = go.Figure()
    interactions_fig: go.Figure = go.Figure()

    @rx.event
    async def load(self) -> Any:
        self.allowed = self.refused = False
        self.broker_filter = "team"
        try:
            t = await self._call(reports.team_report)
        except PermissionDenied:
            self.refused = True
            return None
        except DomainError as exc:
            return self._error_event(exc)
        loc = await self._number_locale()
        self.as_of = t.as_of.isoformat() if t.as_of else "—"
        self.brokers = [
            {
                "id": str(b.broker_id),
                "name": b.broker_name,
                "firms": nf.count(b.firms, loc),
                "portfolios": nf.count(b.portfolios, loc),
                "assets": nf.number(b.assets, loc),
                "interactions": nf.count(b.interactions, loc),
            }
            for b in t.brokers
        ]
        self.movers = [_move(m, loc) for m in t.top_movers]
        self.drawdowns = [_move(m, loc) for m in t.largest_drawdowns]
        self.assets_fig = charts.localized(charts.assets_per_broker(t.brokers), loc)
        self.interactions_fig = charts.localized(
            charts.interactions_by_month(t.interactions_by_month, "Team interactions per month"),
            loc,
        )
        self.allowed = True
        return None

    @rx.event
    async def set_broker_filter(self, value: Any) -> Any:
        if not isinstance(value, str) or (
            value != "team" and value not in {b["id"] for b in self.brokers}
        ):
            return rx.toast.error("Not one of your brokers.")
        broker_id = None if value == "team" else int(value)

        def fetch(db: Session, *, actor: Actor) -> list[reports.MonthCount]:
            return reports.team_interactions(db, actor=actor, broker_id=broker_id)

        try:
            counts = await self._call(fetch)
        except DomainError as exc:
            return self._error_event(exc)
        self.broker_filter = value
        name = next((b["name"] for b in self.brokers if b["id"] == value), "Team")
        self.interactions_fig = charts.localized(
            charts.interactions_by_month(counts, f"{name}: interactions per month"),
            await self._number_locale(),
        )
        return None

    @rx.event
    async def export_csv(self) -> Any:
        try:
            name, text = await self._call(reports.download_team_csv)
        except DomainError as exc:
            return self._error_event(exc)
        return rx.download(data=text, filename=name)
