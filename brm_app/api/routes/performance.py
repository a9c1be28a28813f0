"""Portfolio performance and reports over REST: a firm's performance series and figures, its
activity report as CSV or PDF (the firm's, or one trader's), emailing the PDF to a trader, and
the manager's team report.

Every rule lives in services.performance / services.reports; these routes parse, call and shape.
A firm the caller may not see answers 404, exactly as the portfolio routes do.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Day, FirmId, NoNul
from brm_app.api.schemas import ERRORS
from brm_app.auth.actor import Actor
from brm_app.models.communication import CommunicationPublic
from brm_app.models.fields import RecordId
from brm_app.models.performance import PerformancePublic
from brm_app.services import performance, reports
from brm_app.services.reports import TeamReport

router = ApiRouter(prefix="/api/v1", tags=["performance"], responses=ERRORS)

PeriodName = Literal["1M", "3M", "YTD", "1Y", "inception", "custom"]
PeriodQ = Annotated[
    PeriodName,
    Query(description="1M, 3M, YTD, 1Y, inception, or custom (with date_from and date_to)"),
]
Benchmark = Annotated[
    str | None,
    Query(max_length=20, description="A benchmark instrument: its symbol or id"),
    NoNul,
]
FromQ = Annotated[Day | None, Query(description="A custom period's first day")]
ToQ = Annotated[Day | None, Query(description="A custom period's last day, inclusive")]
TraderQ = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Only this trader's transactions")
]


@router.get("/firms/{firm_id}/portfolio/performance", response_model=PerformancePublic)
def get_performance(
    firm_id: FirmId,
    db: DB,
    actor: CurrentActor,
    period: PeriodQ = "1Y",
    benchmark: Benchmark = None,
    date_from: FromQ = None,
    date_to: ToQ = None,
) -> PerformancePublic:
    """The portfolio's performance over the period: the figures (TWR linked daily, XIRR on
    actual/365, volatility, maximum drawdown, realized and unrealized P&L, the benchmark's
    return in the reporting currency), the daily series (downsampled to at most 2,000 points;
    days with flows kept), the allocation by asset class and currency and P&L by holding."""
    return performance.get_performance(
        db,
        actor=actor,
        firm_id=firm_id,
        period=period,
        benchmark=benchmark,
        date_from=date_from,
        date_to=date_to,
    )


def _report(
    db: Session,
    actor: Actor,
    firm_id: int,
    period: str,
    benchmark: str | None,
    date_from: date | None,
    date_to: date | None,
    trader_id: int | None,
) -> reports.ActivityReport:
    return reports.activity_report(
        db,
        actor=actor,
        firm_id=firm_id,
        period=period,
        benchmark=benchmark,
        date_from=date_from,
        date_to=date_to,
        trader_id=trader_id,
    )


@router.get(
    "/firms/{firm_id}/reports/activity.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def activity_csv(
    firm_id: FirmId,
    db: DB,
    actor: CurrentActor,
    period: PeriodQ = "1Y",
    benchmark: Benchmark = None,
    date_from: FromQ = None,
    date_to: ToQ = None,
    trader_id: TraderQ = None,
) -> Response:
    """The activity report as CSV: figures, holdings at the start and the end, transactions
    and the daily series. Numbers are numbers; text cells are neutralised against formulas."""
    name, body = reports.download_activity(
        db,
        actor=actor,
        firm_id=firm_id,
        kind="csv",
        period=period,
        benchmark=benchmark,
        date_from=date_from,
        date_to=date_to,
        trader_id=trader_id,
    )
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/firms/{firm_id}/reports/activity.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def activity_pdf(
    firm_id: FirmId,
    db: DB,
    actor: CurrentActor,
    period: PeriodQ = "1Y",
    benchmark: Benchmark = None,
    date_from: FromQ = None,
    date_to: ToQ = None,
    trader_id: TraderQ = None,
) -> Response:
    """The activity report as a PDF a client can be sent (with its charts)."""
    name, body = reports.download_activity(
        db,
        actor=actor,
        firm_id=firm_id,
        kind="pdf",
        period=period,
        benchmark=benchmark,
        date_from=date_from,
        date_to=date_to,
        trader_id=trader_id,
    )
    return Response(
        content=body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class EmailReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trader_id: RecordId
    period: PeriodName = "1Y"
    benchmark: Annotated[str, NoNul] | None = None
    date_from: Day | None = None
    date_to: Day | None = None
    # Only the trader's own transactions (their report) rather than the firm's.
    only_trader: bool = False


@router.post(
    "/firms/{firm_id}/reports/activity/email",
    response_model=CommunicationPublic,
    status_code=201,
)
def email_activity(
    firm_id: FirmId, body: EmailReport, db: DB, actor: CurrentActor
) -> CommunicationPublic:
    """Email the activity report's PDF to a trader of the firm: a message in the trader's email
    conversation with the PDF attached, sent by the outbox's delivery job."""
    sent: CommunicationPublic = reports.email_activity_pdf(
        db,
        actor=actor,
        firm_id=firm_id,
        trader_id=body.trader_id,
        period=body.period,
        benchmark=body.benchmark,
        date_from=body.date_from,
        date_to=body.date_to,
        only_trader=body.only_trader,
    )
    return sent


@router.get("/reports/team", response_model=TeamReport)
def team_report(db: DB, actor: CurrentActor) -> TeamReport:
    """The team's book (managers: their brokers; admins and compliance: every broker): assets
    under coverage per broker, top movers over a month, the largest drawdowns, interactions."""
    return reports.team_report(db, actor=actor)


@router.get(
    "/reports/team.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def team_report_csv(db: DB, actor: CurrentActor) -> Response:
    """The team report as CSV."""
    name, text = reports.download_team_csv(db, actor=actor)
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
