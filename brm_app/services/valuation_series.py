"""A portfolio's value day by day, from its transactions and daily closes: a pure computation.

Conventions (the README's "Portfolio performance" section):
- one valuation per weekday (Monday to Friday), at the close; a transaction dated on a weekend
  counts on the next weekday;
- trades, splits, dividends and fees count on their trade date; external flows (deposits,
  withdrawals, transfers in and out) on their settlement date, at the start of that day: the
  day's return is V_d / (V_{d-1} + F_d) - 1;
- a holding is valued at its instrument's last close on or before the day (as traded, not split
  adjusted: a split multiplies the quantity on its date), or at its average cost before its
  first close;
- everything is converted to the reporting currency at the day's FX rates (services.market_data
  FxHistory; a plain converter means the same rates every day), so a day's figures are in one
  currency; an external flow in another currency counts at its day's rate, and a later move of
  that rate is a gain or loss, not a flow;
- the TWR index starts at 1 and is linked geometrically: I_d = I_{d-1} * (1 + r_d); a day with
  nothing invested (V_{d-1} + F_d <= 0) has r_d = 0.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from brm_app.models.portfolio import TxKind
from brm_app.services.ledger import ZERO, Ledger, Tx, compute

EXTERNAL = (TxKind.DEPOSIT, TxKind.WITHDRAWAL, TxKind.TRANSFER_IN, TxKind.TRANSFER_OUT)
# amount in `currency` -> amount in the reporting currency (None: no rate)
Converter = Callable[[Decimal, str], Decimal | None]


class DayConverter(Protocol):
    """The converter of each day (FX history): market_data.DatedConverter."""

    def on(self, day: date) -> Converter: ...


@dataclass(frozen=True)
class FlowTx:
    """A transaction with the day it counts on: its trade date, or for an external flow its
    settlement date."""

    tx: Tx
    settlement_date: date


@dataclass(frozen=True)
class DayValue:
    day: date
    value: Decimal  # holdings + cash, reporting currency
    market_value: Decimal  # holdings only
    cash: Decimal
    cost: Decimal  # cost basis of the holdings (unrealized P&L = market_value - cost)
    realized: Decimal  # realized P&L since inception (sales, dividends, fees)
    flow: Decimal  # external flows counted at the start of the day (in +, out -)
    daily_return: float
    twr_index: float
    # The fall of the TWR index below its running peak since inception (0 at a new peak).
    drawdown: float = 0.0


def weekday_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def weekdays(first: date, last: date) -> list[date]:
    out, day = [], weekday_on_or_after(first)
    while day <= last:
        out.append(day)
        day += timedelta(days=3 if day.weekday() == 4 else 1)
    return out


class Closes:
    """Each instrument's closes, for "the last close on or before a day"."""

    def __init__(self, closes: dict[int, Sequence[tuple[date, Decimal]]]) -> None:
        self._days = {i: [d for d, _ in sorted(rows)] for i, rows in closes.items()}
        self._prices = {i: [c for _, c in sorted(rows)] for i, rows in closes.items()}

    def on(self, instrument_id: int, day: date) -> Decimal | None:
        days = self._days.get(instrument_id)
        if not days:
            return None
        k = bisect.bisect_right(days, day)
        return self._prices[instrument_id][k - 1] if k else None


def _effective_day(f: FlowTx) -> date:
    day = f.settlement_date if f.tx.kind in EXTERNAL else f.tx.trade_date
    return weekday_on_or_after(day)


def _counting(transactions: Iterable[FlowTx]) -> list[FlowTx]:
    """Reversed originals and their reversing entries count for nothing."""
    txs = list(transactions)
    reversed_ids = {f.tx.reverses_id for f in txs if f.tx.reverses_id is not None}
    return [f for f in txs if f.tx.reverses_id is None and f.tx.id not in reversed_ids]


def _rep(convert: Converter, amounts: dict[str, Decimal]) -> Decimal:
    return sum(((convert(v, c) or ZERO) for c, v in amounts.items() if v), start=ZERO)


def _added(now: dict[str, Decimal], before: dict[str, Decimal]) -> dict[str, Decimal]:
    """What was contributed since `before`, per currency."""
    return {c: v - before.get(c, ZERO) for c, v in now.items() if v != before.get(c, ZERO)}


def value_series(
    transactions: Iterable[FlowTx],
    closes: Closes,
    convert: Converter | DayConverter,
    *,
    through: date,
    start: date | None = None,
    before: DayValue | None = None,
    start_ledger: Ledger | None = None,
) -> list[DayValue]:
    """The valuations from the first day that counts (or `start`) through `through`.

    To continue a stored series from `start`, pass `before` (the stored valuation of the weekday
    before `start`); the ledger is then rebuilt from the transactions counting before `start`
    unless `start_ledger` gives it."""
    txs = sorted(_counting(transactions), key=lambda f: (_effective_day(f), f.tx.id))
    if not txs:
        return []
    first = start or _effective_day(txs[0])
    days = weekdays(first, through)
    if not days:
        return []
    ledger = start_ledger
    k = 0
    if ledger is None:
        ledger = Ledger()
        while k < len(txs) and _effective_day(txs[k]) < days[0]:
            k += 1
        compute([_as_ledger_tx(f) for f in txs[:k]], allow_short=True, start=ledger)
    else:
        while k < len(txs) and _effective_day(txs[k]) < days[0]:
            k += 1
    prev_value = before.value if before else ZERO
    index = before.twr_index if before else 1.0
    peak = max(1.0, index / (1.0 + before.drawdown)) if before else 1.0
    same_rates = convert if not hasattr(convert, "on") else None
    contributed = dict(ledger.contributions)
    out: list[DayValue] = []
    for day in days:
        conv: Converter = same_rates or convert.on(day)  # type: ignore[union-attr]
        todays = []
        while k < len(txs) and _effective_day(txs[k]) <= day:
            todays.append(_as_ledger_tx(txs[k]))
            k += 1
        if todays:
            compute(todays, allow_short=True, start=ledger)
        # Only the day's new contributions, at the day's rates.
        flow = _rep(conv, _added(ledger.contributions, contributed))
        contributed = dict(ledger.contributions)
        mv = cost = realized = ZERO
        for pos in ledger.positions.values():
            realized += conv(pos.realized, pos.currency) or ZERO
            if pos.quantity == 0:
                continue
            price = closes.on(pos.instrument_id, day)
            native = pos.quantity * price if price is not None else pos.cost
            mv += conv(native, pos.currency) or ZERO
            cost += conv(pos.cost, pos.currency) or ZERO
        cash = _rep(conv, ledger.cash)
        value = mv + cash
        base = prev_value + flow
        r = float(value / base - 1) if base > 0 else 0.0
        index *= 1.0 + r
        peak = max(peak, index)
        out.append(DayValue(day, value, mv, cash, cost, realized, flow, r, index, index / peak - 1))
        prev_value = value
    return out


def _as_ledger_tx(f: FlowTx) -> Tx:
    """The ledger orders by trade date: an external flow counts on its settlement day."""
    day = _effective_day(f)
    return f.tx if f.tx.trade_date == day else replace(f.tx, trade_date=day)
