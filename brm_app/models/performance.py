"""The daily valuation of each portfolio, kept by a job (services.valuations) so charts and
reports read it instead of recomputing from transactions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow
from brm_app.models.portfolio import ExactDecimal


class PortfolioValuation(SQLModel, table=True):
    """One weekday's close of a portfolio, in its firm's reporting currency (see
    services.valuation_series for the conventions). Derived data: no foreign key, so a firm
    merge can drop a portfolio; the job forgets the rows of portfolios that are gone."""

    __tablename__ = "portfolio_valuations"
    __table_args__ = (
        # The team report reads every portfolio's row of one day.
        sa.Index("ix_portfolio_valuations_day", "day"),
        {"extend_existing": True},
    )

    portfolio_id: int = Field(primary_key=True)
    day: date = Field(primary_key=True)
    value: Decimal = Field(sa_type=ExactDecimal)
    market_value: Decimal = Field(sa_type=ExactDecimal)
    cash: Decimal = Field(sa_type=ExactDecimal)
    cost: Decimal = Field(sa_type=ExactDecimal)
    realized: Decimal = Field(sa_type=ExactDecimal)
    flow: Decimal = Field(sa_type=ExactDecimal)
    daily_return: float = Field(sa_type=sa.Float(precision=53))
    twr_index: float = Field(sa_type=sa.Float(precision=53))
    drawdown: float = Field(sa_type=sa.Float(precision=53))


class ValuationState(SQLModel, table=True):
    """How far a portfolio's valuations are built: through `built_through`, from the
    transactions up to `last_tx_id` (`tx_count` of them) and in `currency`. A transaction with a
    larger id (booked since, maybe backdated) means a rebuild from its earliest day; another
    count (transactions moved in by a firm merge) or currency a rebuild from the start."""

    __tablename__ = "portfolio_valuation_states"
    __table_args__ = {"extend_existing": True}

    portfolio_id: int = Field(primary_key=True)
    built_through: date | None = None
    last_tx_id: int = Field(default=0)
    tx_count: int = Field(default=0)
    currency: str = Field(max_length=3)
    built_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# ---- schemas ---------------------------------------------------------------------------------


class PerformancePoint(BaseModel):
    day: date
    value: Decimal
    flow: Decimal
    # The TWR since the period's base day, the benchmark's return over the same days (None
    # before its first close), and the fall of the TWR index below its running peak.
    cumulative_return: float
    benchmark_return: float | None
    drawdown: float


class PerformanceFigures(BaseModel):
    start_value: Decimal
    end_value: Decimal
    net_flows: Decimal
    gain: Decimal
    twr: float | None
    xirr: float | None
    volatility: float | None
    max_drawdown: float | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    benchmark_return: float | None


class Slice(BaseModel):
    label: str
    value: Decimal
    weight: float | None


class HoldingPnl(BaseModel):
    symbol: str
    name: str
    asset_class: str
    currency: str
    market_value: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None


class BenchmarkPublic(BaseModel):
    instrument_id: int
    symbol: str
    name: str
    currency: str


class PerformancePublic(BaseModel):
    firm_id: int
    firm_name: str
    portfolio_id: int | None
    reporting_currency: str
    period: str
    base_day: date | None
    end_day: date | None
    benchmark: BenchmarkPublic | None
    figures: PerformanceFigures
    # At most `max_points` points, evenly spread (days with flows always kept); `points_total`
    # is how many days the period has.
    points: list[PerformancePoint]
    points_total: int
    by_asset_class: list[Slice]
    by_currency: list[Slice]
    holdings: list[HoldingPnl]
