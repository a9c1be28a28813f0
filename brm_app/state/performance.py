"""/firms/[firm_id]/performance: a portfolio's performance over a period against a benchmark,
in charts; its activity report downloaded (PDF, CSV) or emailed to a trader.

Every rule is in services.performance and services.reports; handlers take plain values, check
them against what the page offers, and call the services as the signed-in user.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from brm_app.auth.actor import Actor
from brm_app.components import charts
from brm_app.models.performance import PerformancePublic
from brm_app.services import number_format as nf
from brm_app.services import performance, reports
from brm_app.services.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from brm_app.state.base import ServiceMixin, as_id
from brm_app.state.firm_detail import route_id

PERIODS = ["1M", "3M", "YTD", "1Y", "inception", "custom"]
PERIOD_LABELS = {"inception": "Since inception", "custom": "Custom"}


def _pct(v: float | None, loc: str) -> str:
    return nf.percent(v, loc)


def _money(v: Any, loc: str) -> str:
    return nf.number(v, loc)


def _sign(v: Any) -> str:
    if v is None or v == 0:
        return ""
    return "up" if v > 0 else "down"


def figures_of(p: PerformancePublic, loc: str = nf.DEFAULT_LOCALE) -> dict[str, str]:
    """The figures as the user's locale writes them."""
    f = p.figures
    return {
        "currency": p.reporting_currency,
        "twr": _pct(f.twr, loc),
        "twr_sign": _sign(f.twr),
        "xirr": _pct(f.xirr, loc),
        "volatility": _pct(f.volatility, loc),
        "max_drawdown": _pct(f.max_drawdown, loc),
        "benchmark": _pct(f.benchmark_return, loc),
        "start_value": _money(f.start_value, loc),
        "end_value": _money(f.end_value, loc),
        "net_flows": _money(f.net_flows, loc),
        "gain": _money(f.gain, loc),
        "gain_sign": _sign(f.gain),
        "realized": _money(f.realized_pnl, loc),
        "unrealized": _money(f.unrealized_pnl, loc),
        "span": (
            f"{p.base_day.isoformat() if p.base_day else 'inception'} to "
            f"{p.end_day.isoformat() if p.end_day else '—'}"
        ),
        "points": f"{nf.count(len(p.points), loc)} of {nf.count(p.points_total, loc)} days",
    }


class PerformanceState(ServiceMixin, rx.State):
    firm_id: int = 0
    firm_name: str = ""
    found: bool = False
    not_found: bool = False
    loading: bool = False
    period: str = "1Y"
    benchmark: str = ""
    date_from: str = ""
    date_to: str = ""
    benchmarks: list[str] = []
    trader_options: list[dict[str, str]] = []
    can_email: bool = False
    email_open: bool = False
    figures: dict[str, str] = {}
    value_fig: go.Figure = go.Figure()
    return_fig: go.Figure = go.Figure()
    drawdown_fig: go.Figure = go.Figure()
    class_fig: go.Figure = go.Figure()
    currency_fig: go.Figure = go.Figure()
    pnl_fig: go.Figure = go.Figure()
    interactions_fig: go.Figure = go.Figure()

    @rx.var
    def period_options(self) -> list[dict[str, str]]:
        return [{"value": p, "label": PERIOD_LABELS.get(p, p)} for p in PERIODS]

    @rx.event
    async def load(self) -> Any:
        self.found = self.not_found = self.email_open = False
        self.period, self.benchmark, self.date_from, self.date_to = "1Y", "", "", ""
        firm_id = route_id(self.router.url.path, "/firms")
        if firm_id is None:
            self.not_found = True
            return None
        self.firm_id = firm_id

        def options(db: Session, *, actor: Actor) -> reports.ReportOptions:
            return reports.report_options(db, actor=actor, firm_id=firm_id)

        try:
            opts = await self._call(options)
        except NotFound:
            self.not_found = True
            return None
        except DomainError as exc:
            return self._error_event(exc)
        self.benchmarks = opts.benchmarks
        self.can_email = opts.can_email
        self.trader_options = [{"id": str(i), "name": n} for i, n in opts.traders]
        self.found = True
        return await self._refresh(with_interactions=True)

    def _query(self) -> dict[str, Any]:
        q: dict[str, Any] = {"period": self.period, "benchmark": self.benchmark or None}
        if self.period == "custom":
            q["date_from"], q["date_to"] = self.date_from, self.date_to
        return q

    async def _refresh(self, *, with_interactions: bool = False) -> Any:
        firm_id, query = self.firm_id, self._query()

        def fetch(db: Session, *, actor: Actor) -> tuple[PerformancePublic, list[Any] | None]:
            p = performance.get_performance(db, actor=actor, firm_id=firm_id, **query)
            counts = None
            if with_interactions:
                try:
                    counts = reports.interactions_by_month(db, actor=actor, firm_id=firm_id)
                except PermissionDenied:  # a portal trader: no interaction history
                    counts = []
            return p, counts

        self.loading = True
        try:
            p, counts = await self._call(fetch)
        except DomainError as exc:
            self.loading = False
            return self._error_event(exc)
        self.loading = False
        self.firm_name = p.firm_name
        loc = await self._number_locale()
        self.figures = figures_of(p, loc)
        self.value_fig = charts.value_over_time(p, loc)
        self.return_fig = charts.localized(charts.cumulative_return(p), loc)
        self.drawdown_fig = charts.localized(charts.drawdown(p), loc)
        self.class_fig = charts.localized(
            charts.allocation(p.by_asset_class, "Allocation by asset class"), loc
        )
        self.currency_fig = charts.localized(
            charts.allocation(p.by_currency, "Allocation by currency"), loc
        )
        self.pnl_fig = charts.localized(charts.pnl_by_holding(p), loc)
        if counts is not None:
            self.interactions_fig = charts.localized(charts.interactions_by_month(counts), loc)
        return None

    @rx.event
    async def set_period(self, value: Any) -> Any:
        if not isinstance(value, str) or value not in PERIODS:
            return rx.toast.error("Unknown period.")
        self.period = value
        if value == "custom" and (not self.date_from or not self.date_to):
            return None  # the dates first
        return await self._refresh()

    @rx.event
    async def set_benchmark(self, value: Any) -> Any:
        if not isinstance(value, str | None):
            return rx.toast.error("Unknown benchmark.")
        value = "" if value in (None, "", "none") else value
        if value and value not in self.benchmarks:
            return rx.toast.error("Unknown benchmark.")
        self.benchmark = value
        return await self._refresh()

    @rx.event
    async def apply_custom(self, form: dict[str, Any]) -> Any:
        if not isinstance(form, dict):
            return rx.toast.error("Give both dates of the custom period.")
        days = []
        for name in ("date_from", "date_to"):
            raw = form.get(name)
            try:
                days.append(date.fromisoformat(str(raw)))
            except ValueError:
                return rx.toast.error("Give both dates of the custom period.")
        if days[0] > days[1]:
            return rx.toast.error("The period ends before it starts.")
        self.date_from, self.date_to = days[0].isoformat(), days[1].isoformat()
        self.period = "custom"
        return await self._refresh()

    async def _report(self) -> reports.ActivityReport:
        firm_id, query = self.firm_id, self._query()

        def build(db: Session, *, actor: Actor) -> reports.ActivityReport:
            return reports.activity_report(db, actor=actor, firm_id=firm_id, **query)

        return await self._call(build)

    async def _download(self, kind: str) -> tuple[str, bytes]:
        firm_id, query = self.firm_id, self._query()

        def build(db: Session, *, actor: Actor) -> tuple[str, bytes]:
            return reports.download_activity(db, actor=actor, firm_id=firm_id, kind=kind, **query)

        result: tuple[str, bytes] = await self._call(build)
        return result

    @rx.event
    async def download_pdf(self) -> Any:
        try:
            name, body = await self._download("pdf")
        except DomainError as exc:
            return self._error_event(exc)
        return rx.download(data=body, filename=name)

    @rx.event
    async def download_csv(self) -> Any:
        try:
            name, body = await self._download("csv")
        except DomainError as exc:
            return self._error_event(exc)
        return rx.download(data=body.decode("utf-8"), filename=name)

    @rx.event
    def set_email_open(self, value: bool) -> None:
        self.email_open = bool(value) and self.can_email

    @rx.event
    async def email_pdf(self, form: dict[str, Any]) -> Any:
        raw = form.get("trader_id") if isinstance(form, dict) else None
        trader_id = as_id(int(raw)) if isinstance(raw, str) and raw.isdigit() else None
        if trader_id is None or str(trader_id) not in {t["id"] for t in self.trader_options}:
            return rx.toast.error("Choose a trader of this firm.")
        firm_id, query = self.firm_id, self._query()

        def send(db: Session, *, actor: Actor) -> Any:
            return reports.email_activity_pdf(
                db, actor=actor, firm_id=firm_id, trader_id=trader_id, **query
            )

        try:
            await self._call(send, write=True)
        except ValidationFailed as exc:
            return rx.toast.error(exc.message, close_button=True)
        except DomainError as exc:
            return self._error_event(exc)
        self.email_open = False
        return rx.toast.success("The report is on its way (see the trader's messages).")
