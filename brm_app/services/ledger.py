"""Holdings from transactions: a pure computation (no database), so it can be checked by hand.

Average cost, signed positions:
- a buy (or a transfer in) that opens or adds to a position adds quantity x price (+ a buy's
  fees) to its cost; a sell (or transfer out) that reduces it removes the average cost of what
  it closes; a sell realizes proceeds - fees - average cost of what it sold; a transfer out
  realizes nothing. With shorting enabled, a sell past zero opens a short at the sell price.
- a split multiplies the quantity by its ratio and keeps the cost (the average cost divides).
- dividends/coupons add cash (and count as realized income of the instrument when named); fees
  take cash (and count against the instrument when named); deposits and withdrawals move cash;
  transfers without an instrument move cash.
- cash is kept per currency; buys take, sells give, in the instrument's currency.
- within a day, buys and other incoming transactions count before sells and transfers out.
- an opening entry (written by the retention purge for the transactions it removes) adds the
  state they left: a position's quantity, cost and realized P&L, or a currency's cash and
  contributions, as they were (no price or average applied).
- a reversed transaction and its reversing entry both count for nothing (the history is then
  computed as if the original had never been booked, so later average costs are right too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from brm_app.models.portfolio import TxKind

ZERO = Decimal(0)


class Oversold(ValueError):
    """A sell (or transfer out) of more than was held at its date, with shorting disabled."""

    def __init__(self, instrument_id: int, held: Decimal, day: date) -> None:
        super().__init__(f"sells more than is held ({held.normalize():f} on {day.isoformat()})")
        self.instrument_id = instrument_id
        self.held = held
        self.day = day


@dataclass(frozen=True)
class Tx:
    id: int
    kind: str
    trade_date: date
    currency: str
    instrument_id: int | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    amount: Decimal | None = None
    fees: Decimal = ZERO
    reverses_id: int | None = None


@dataclass
class Position:
    instrument_id: int
    currency: str
    quantity: Decimal = ZERO
    cost: Decimal = ZERO  # signed: negative for a short
    realized: Decimal = ZERO

    @property
    def average_cost(self) -> Decimal:
        return self.cost / self.quantity if self.quantity else ZERO

    def trade(self, dq: Decimal, price: Decimal, fees: Decimal, *, realize: bool) -> None:
        """Move the quantity by dq (signed) at price. `realize`: a sale (P&L) rather than a
        transfer (leaves at cost)."""
        qty = self.quantity
        if qty == 0 or (qty > 0) == (dq > 0):
            self.cost += dq * price
            if dq > 0:
                self.cost += fees
            else:
                self.realized -= fees
            self.quantity = qty + dq
            return
        close = min(abs(dq), abs(qty))
        portion = self.cost * close / abs(qty)
        if realize:
            sign = 1 if qty > 0 else -1
            self.realized += sign * price * close - portion
        self.realized -= fees
        self.cost -= portion
        self.quantity = qty + (close if dq > 0 else -close)
        rest = abs(dq) - close
        if rest > 0:
            self.quantity = rest if dq > 0 else -rest
            self.cost = self.quantity * price
        if self.quantity == 0:
            self.cost = ZERO


@dataclass
class Ledger:
    positions: dict[int, Position] = field(default_factory=dict)
    cash: dict[str, Decimal] = field(default_factory=dict)
    # Money brought in less money taken out, per currency (transfers in at their cost).
    contributions: dict[str, Decimal] = field(default_factory=dict)

    def _cash(self, currency: str, delta: Decimal) -> None:
        self.cash[currency] = self.cash.get(currency, ZERO) + delta

    def _contrib(self, currency: str, delta: Decimal) -> None:
        self.contributions[currency] = self.contributions.get(currency, ZERO) + delta

    def position(self, instrument_id: int, currency: str) -> Position:
        pos = self.positions.get(instrument_id)
        if pos is None:
            pos = self.positions[instrument_id] = Position(instrument_id, currency)
        return pos


def effective(transactions: Iterable[Tx]) -> list[Tx]:
    """The transactions that count: reversed originals and reversing entries left out, in
    trade-date order (then booking order)."""
    txs = list(transactions)
    reversed_ids = {t.reverses_id for t in txs if t.reverses_id is not None}
    keep = [t for t in txs if t.reverses_id is None and t.id not in reversed_ids]
    # Within a day (the ledger knows dates, not times) what comes in before what goes out, so
    # a same-day buy always covers a same-day sell, whatever order they were booked in.
    outgoing = (TxKind.SELL.value, TxKind.TRANSFER_OUT.value)
    return sorted(keep, key=lambda t: (t.trade_date, t.kind in outgoing, t.id))


def compute(
    transactions: Iterable[Tx], *, allow_short: bool = False, start: Ledger | None = None
) -> Ledger:
    """The ledger after these transactions (applied onto `start`, changed in place, when given:
    only right when they all come after what `start` holds); raises Oversold when a position
    would go below zero at any date (unless shorting is allowed)."""
    ledger = start if start is not None else Ledger()
    for t in effective(transactions):
        kind = TxKind(t.kind)
        qty, price, amount, fees = t.quantity or ZERO, t.price or ZERO, t.amount or ZERO, t.fees
        if kind == TxKind.OPENING:
            if t.instrument_id is not None:
                pos = ledger.position(t.instrument_id, t.currency)
                pos.quantity += qty
                pos.cost += amount
                pos.realized += price
            else:
                ledger._cash(t.currency, amount)
                ledger._contrib(t.currency, price)
        elif kind in (TxKind.BUY, TxKind.SELL) and t.instrument_id is not None:
            pos = ledger.position(t.instrument_id, t.currency)
            if kind == TxKind.BUY:
                pos.trade(qty, price, fees, realize=True)
                ledger._cash(t.currency, -(qty * price + fees))
            else:
                if not allow_short and pos.quantity - qty < 0:
                    raise Oversold(t.instrument_id, pos.quantity, t.trade_date)
                pos.trade(-qty, price, fees, realize=True)
                ledger._cash(t.currency, qty * price - fees)
        elif kind == TxKind.SPLIT and t.instrument_id is not None:
            pos = ledger.position(t.instrument_id, t.currency)
            pos.quantity *= qty
        elif kind in (TxKind.TRANSFER_IN, TxKind.TRANSFER_OUT) and t.instrument_id is not None:
            pos = ledger.position(t.instrument_id, t.currency)
            if kind == TxKind.TRANSFER_IN:
                pos.trade(qty, price, ZERO, realize=False)
                ledger._contrib(t.currency, qty * price)
            else:
                if not allow_short and pos.quantity - qty < 0:
                    raise Oversold(t.instrument_id, pos.quantity, t.trade_date)
                before = pos.cost
                pos.trade(-qty, pos.average_cost, ZERO, realize=False)
                ledger._contrib(t.currency, -(before - pos.cost))
            if fees:
                pos.realized -= fees
                ledger._cash(t.currency, -fees)
        elif kind in (TxKind.DEPOSIT, TxKind.TRANSFER_IN):
            ledger._cash(t.currency, amount)
            ledger._contrib(t.currency, amount)
        elif kind in (TxKind.WITHDRAWAL, TxKind.TRANSFER_OUT):
            ledger._cash(t.currency, -amount)
            ledger._contrib(t.currency, -amount)
        elif kind == TxKind.DIVIDEND:
            ledger._cash(t.currency, amount - fees)
            if t.instrument_id is not None:
                ledger.position(t.instrument_id, t.currency).realized += amount - fees
        elif kind == TxKind.FEE:
            ledger._cash(t.currency, -amount)
            if t.instrument_id is not None:
                ledger.position(t.instrument_id, t.currency).realized -= amount
    return ledger
