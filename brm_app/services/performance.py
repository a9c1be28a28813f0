"""A portfolio's performance over a period, against a benchmark: the figures, the series the
charts draw, the allocation and P&L by holding.

Rules: who may read it is who may see the firm's portfolio (services.portfolios.load_firm,
`portfolios.view`): coverage for brokers, everything for managers and admins, a portal trader
their own firm's with `view_portfolio`. The figures come from the daily valuation table
(services.valuations) and the pure functions of services.performance_math; the benchmark is an
active instrument, its closes converted to the firm's reporting currency at each day's FX rate.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.models.performance import (
    BenchmarkPublic,
    HoldingPnl,
    PerformanceFigures,
    PerformancePoint,
    PerformancePublic,
    Slice,
)
from brm_app.models.portfolio import DailyClose, Instrument
from brm_app.services import performance_math as pm
from brm_app.services import portfolios, valuations
from brm_app.services.errors import ValidationFailed
from brm_app.services.validation import require_id

AnyActor = Actor | SystemActor
MAX_POINTS = 2000
CENT = Decimal("0.01")


def parse_period(value: object) -> pm.Period:
    try:
        return pm.Period(str(value or "1Y"))
    except ValueError:
        choices = ", ".join(p.value for p in pm.Period)
        raise ValidationFailed(f"must be one of {choices}", field="period") from None


def _day(value: object, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed("must be a date (YYYY-MM-DD)", field=field) from None


def benchmark_of(db: Session, benchmark: object) -> Instrument | None:
    """An instrument by id or symbol (None: no benchmark)."""
    from brm_app.services import instruments

    if benchmark is None or benchmark == "":
        return None
    text = str(benchmark).strip()
    if text.isdigit():
        row = db.get(Instrument, require_id(int(text), "benchmark"))
        if row is None:
            raise ValidationFailed("is not a known instrument", field="benchmark")
        return row
    if len(text) > 20:
        raise ValidationFailed("is not a known instrument", field="benchmark")
    try:
        return instruments.resolve(db, symbol=text)
    except ValidationFailed:
        raise ValidationFailed("is not a known instrument", field="benchmark") from None


def _money(v: Decimal) -> Decimal:
    return v.quantize(CENT)


def get_performance(
    db: Session,
    *,
    actor: AnyActor,
    firm_id: object,
    period: object = "1Y",
    benchmark: object = None,
    date_from: object = None,
    date_to: object = None,
    max_points: int = MAX_POINTS,
) -> PerformancePublic:
    """The firm's portfolio performance over the period (1M, 3M, YTD, 1Y, inception, custom
    with date_from and date_to), against `benchmark` (an instrument id or symbol)."""
    firm, portfolio = portfolios.load_firm(db, actor, firm_id)
    p = parse_period(period)
    d_from, d_to = _day(date_from, "date_from"), _day(date_to, "date_to")
    if p == pm.Period.CUSTOM:
        if d_from is None or d_to is None:
            raise ValidationFailed("a custom period needs date_from and date_to", field="date_from")
        if d_from > d_to:
            raise ValidationFailed("must not be after date_to", field="date_from")
    bench = benchmark_of(db, benchmark)
    rep = portfolios.reporting_currency(firm)
    # The period ends on the last valuation (today's, once the job ran) or the custom end.
    end = valuations.last_weekday(valuations.today())
    if p == pm.Period.CUSTOM and d_to is not None:
        end = d_to
    base_day, end = pm.period_bounds(p, end, date_from=d_from, date_to=d_to)
    series = valuations.series(db, portfolio, since=base_day) if portfolio is not None else []
    w = pm.window(series, base_day, end)
    m = pm.metrics(w)
    days = [pt.day for pt in w.points]
    bench_returns: list[float | None] = [None] * len(days)
    bench_total = None
    if bench is not None and days:
        closes = db.exec(
            select(col(DailyClose.day), col(DailyClose.close)).where(
                DailyClose.instrument_id == bench.id, col(DailyClose.day) <= end
            )
        ).all()
        # From the close before the period's first day (the portfolio's start when it began
        # inside the period).
        start = w.base.day if w.base else days[0] - timedelta(days=1)
        bench_returns = pm.benchmark_series(
            days, _converted_closes(db, closes, bench.currency, rep, [start, *days]), start
        )
        bench_total = bench_returns[-1]
    cumulative = [r for r in _cumulative(w)]
    dd = pm.drawdowns(w)
    keep = set(pm.downsample(len(days), max_points))
    keep |= {i for i, pt in enumerate(w.points) if pt.flow}
    if len(keep) > max_points:  # flows on too many days: the spread wins
        keep = set(pm.downsample(len(days), max_points))
    points = [
        PerformancePoint(
            day=w.points[i].day,
            value=_money(w.points[i].value),
            flow=_money(w.points[i].flow),
            cumulative_return=cumulative[i],
            benchmark_return=bench_returns[i],
            drawdown=dd[i],
        )
        for i in sorted(keep)
    ]
    current = portfolios.value(db, firm, portfolio)
    return PerformancePublic(
        firm_id=firm.id,
        firm_name=firm.name,
        portfolio_id=portfolio.id if portfolio else None,
        reporting_currency=rep,
        period=p.value,
        base_day=w.base.day if w.base else None,
        end_day=days[-1] if days else None,
        benchmark=(
            BenchmarkPublic(
                instrument_id=bench.id,
                symbol=bench.symbol,
                name=bench.name,
                currency=bench.currency,
            )
            if bench is not None and bench.id is not None
            else None
        ),
        figures=PerformanceFigures(
            start_value=_money(m.start_value),
            end_value=_money(m.end_value),
            net_flows=_money(m.net_flows),
            gain=_money(m.gain),
            twr=m.twr,
            xirr=m.xirr,
            volatility=m.volatility,
            max_drawdown=m.max_drawdown,
            realized_pnl=_money(m.realized_pnl),
            unrealized_pnl=_money(m.unrealized_pnl),
            benchmark_return=bench_total,
        ),
        points=points,
        points_total=len(days),
        **_composition(db, current, rep),
    )


def _converted_closes(
    db: Session, closes: Any, currency: str, rep: str, days: list[date]
) -> list[tuple[date, Decimal]]:
    """The benchmark's value on each of `days` in the reporting currency: its last close on or
    before the day, at that day's FX rate (so a day without a close still moves with the
    rate)."""
    rows = sorted((d, c) for d, c in closes)
    if currency == rep:
        return rows
    convert = valuations.dated_converter(db, rep, {currency})
    out = []
    for d in days:
        close = pm.close_on(rows, d)
        value = convert.on(d)(close, currency) if close is not None else None
        if value is not None:
            out.append((d, value))
    return out


def _cumulative(w: pm.Window) -> list[float]:
    base = w.base.twr_index if w.base else 1.0
    return [pt.twr_index / base - 1.0 for pt in w.points]


def _composition(db: Session, current: Any, rep: str) -> dict[str, Any]:
    """Allocation by asset class and currency (cash as its own class) and P&L by holding, from
    the portfolio valued at the latest prices."""
    convert = valuations.converter(db, rep)
    by_class: dict[str, Decimal] = defaultdict(Decimal)
    by_ccy: dict[str, Decimal] = defaultdict(Decimal)
    holdings = []
    for h in current.assets:
        mv = h.market_value_reporting
        if mv is not None:
            by_class[h.asset_class] += mv
            by_ccy[h.currency] += mv
        holdings.append(
            HoldingPnl(
                symbol=h.symbol,
                name=h.name,
                asset_class=h.asset_class,
                currency=rep,
                market_value=mv,
                realized_pnl=_money(convert(h.realized_pnl, h.currency) or Decimal(0)),
                unrealized_pnl=(
                    _money(convert(h.unrealized_pnl, h.currency) or Decimal(0))
                    if h.unrealized_pnl is not None
                    else None
                ),
            )
        )
    for c in current.cash:
        if c.balance_reporting is not None:
            by_class["cash"] += c.balance_reporting
            by_ccy[c.currency] += c.balance_reporting
    total = sum(by_class.values(), start=Decimal(0))

    def slices(d: dict[str, Decimal]) -> list[Slice]:
        return [
            Slice(label=k, value=_money(v), weight=float(v / total) if total else None)
            for k, v in sorted(d.items(), key=lambda kv: -kv[1])
        ]

    return {
        "by_asset_class": slices(by_class),
        "by_currency": slices(by_ccy),
        "holdings": holdings,
    }
