"""Performance figures over a period from a daily valuation series: pure functions, checked by
hand in tests/unit/test_performance_math.py.

- TWR: the daily returns linked geometrically, I_end / I_base - 1 (flows neutralised: each day's
  return is measured after the flows at its start, see services.valuation_series);
- XIRR (money-weighted, `pyxirr`, actual/365): the value at the base day invested on that day,
  every external flow on its day, the end value taken out on the last day;
- volatility: the sample standard deviation of the period's daily returns x sqrt(252);
- maximum drawdown: the deepest fall of the TWR index below its running peak (the base day's
  index counts as a peak), as a negative fraction;
- P&L: realized over the period (end minus base of the realized total), unrealized at the end
  (market value - cost), and the change in value not explained by flows (value_end -
  value_base - flows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pyxirr import xirr

ZERO = Decimal(0)


class Period(StrEnum):
    M1 = "1M"
    M3 = "3M"
    YTD = "YTD"
    Y1 = "1Y"
    INCEPTION = "inception"
    CUSTOM = "custom"


class Point(Protocol):
    @property
    def day(self) -> date: ...
    @property
    def value(self) -> Decimal: ...
    @property
    def flow(self) -> Decimal: ...
    @property
    def twr_index(self) -> float: ...
    @property
    def realized(self) -> Decimal: ...
    @property
    def market_value(self) -> Decimal: ...
    @property
    def cost(self) -> Decimal: ...


def _months_back(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(y, m, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def period_bounds(
    period: Period, end: date, *, date_from: date | None = None, date_to: date | None = None
) -> tuple[date | None, date]:
    """(base day, end day): the returns run from the close of the base day (None: since
    inception, from nothing) to the close of the end day. 1M/3M/1Y: the same date a month,
    three months or a year before; YTD: the last day of the previous year; custom: the day
    before `date_from` to `date_to`."""
    if period == Period.CUSTOM:
        if date_from is None or date_to is None:
            raise ValueError("a custom period needs date_from and date_to")
        return date_from - timedelta(days=1), date_to
    if period == Period.M1:
        return _months_back(end, 1), end
    if period == Period.M3:
        return _months_back(end, 3), end
    if period == Period.Y1:
        return _months_back(end, 12), end
    if period == Period.YTD:
        return date(end.year - 1, 12, 31), end
    return None, end


@dataclass(frozen=True)
class Window:
    """The points of a period: `base` (the last point on or before the base day, None when the
    portfolio started inside the period) and the points after it through the end."""

    base: Point | None
    points: list[Point]


def window(series: Sequence[Point], base_day: date | None, end: date) -> Window:
    base = None
    points: list[Point] = []
    for p in series:
        if p.day > end:
            break
        if base_day is not None and p.day <= base_day:
            base = p
        else:
            points.append(p)
    return Window(base, points)


@dataclass(frozen=True)
class Metrics:
    start_value: Decimal
    end_value: Decimal
    net_flows: Decimal
    gain: Decimal  # end - start - flows
    twr: float | None
    xirr: float | None
    volatility: float | None
    max_drawdown: float | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    benchmark_return: float | None = None


def twr(w: Window) -> float | None:
    if not w.points:
        return None
    base_index = w.base.twr_index if w.base else 1.0
    return w.points[-1].twr_index / base_index - 1.0


def daily_returns(w: Window) -> list[float]:
    prev = w.base.twr_index if w.base else 1.0
    out = []
    for p in w.points:
        out.append(p.twr_index / prev - 1.0)
        prev = p.twr_index
    return out


def volatility(returns: Sequence[float]) -> float | None:
    n = len(returns)
    if n < 2:
        return None
    mean = sum(returns) / n
    var = sum((r - mean) ** 2 for r in returns) / (n - 1)
    return math.sqrt(var) * math.sqrt(252)


def drawdowns(w: Window) -> list[float]:
    """Each point's fall below the running peak of the TWR index (0 at a new peak)."""
    peak = w.base.twr_index if w.base else 1.0
    out = []
    for p in w.points:
        peak = max(peak, p.twr_index)
        out.append(p.twr_index / peak - 1.0)
    return out


def max_drawdown(w: Window) -> float | None:
    dd = drawdowns(w)
    return min(0.0, *dd) if dd else None


def money_weighted(w: Window) -> float | None:
    """XIRR on actual/365; None when it has no answer (no flows, all on one day, or no sign
    change)."""
    if not w.points:
        return None
    dates: list[date] = []
    amounts: list[float] = []
    if w.base is not None and w.base.value:
        dates.append(w.base.day)
        amounts.append(-float(w.base.value))
    for p in w.points:
        if p.flow:
            dates.append(p.day)
            amounts.append(-float(p.flow))
    end = w.points[-1]
    dates.append(end.day)
    amounts.append(float(end.value))
    if len({d for d in dates}) < 2 or not (min(amounts) < 0 < max(amounts)):
        return None
    try:
        result = xirr(dates, amounts, day_count="ACT/365F")
    except Exception:  # pyxirr raises when it does not converge
        return None
    return None if result is None or not math.isfinite(result) else float(result)


def metrics(w: Window) -> Metrics:
    start = w.base.value if w.base else ZERO
    end = w.points[-1] if w.points else w.base
    end_value = end.value if end else ZERO
    flows = sum((p.flow for p in w.points), start=ZERO)
    realized_base = w.base.realized if w.base else ZERO
    return Metrics(
        start_value=start,
        end_value=end_value,
        net_flows=flows,
        gain=end_value - start - flows,
        twr=twr(w),
        xirr=money_weighted(w),
        volatility=volatility(daily_returns(w)),
        max_drawdown=max_drawdown(w),
        realized_pnl=(end.realized - realized_base) if end else ZERO,
        unrealized_pnl=(end.market_value - end.cost) if end else ZERO,
    )


def benchmark_series(
    days: Sequence[date], closes: Sequence[tuple[date, Decimal]], base_day: date | None
) -> list[float | None]:
    """The benchmark's cumulative return on each day, from its last close on or before the base
    day (or, without one, the first day's) to its last close on or before each day; None before
    it has one."""
    rows = sorted(closes)
    out: list[float | None] = []
    if not days:
        return out
    start_day = base_day if base_day is not None else days[0]
    # No close yet on the base day: from the first day's close.
    base = close_on(rows, start_day) or close_on(rows, days[0])
    for d in days:
        c = close_on(rows, d)
        out.append(float(c / base - 1) if (c is not None and base) else None)
    return out


def close_on(rows: Sequence[tuple[date, Decimal]], day: date) -> Decimal | None:
    import bisect

    k = bisect.bisect_right(rows, (day, Decimal("Infinity")))
    return rows[k - 1][1] if k else None


def downsample(n: int, limit: int) -> list[int]:
    """At most `limit` indexes of n points, evenly spread, the first and last always kept."""
    if n <= limit:
        return list(range(n))
    step = (n - 1) / (limit - 1)
    return sorted({round(i * step) for i in range(limit)})
