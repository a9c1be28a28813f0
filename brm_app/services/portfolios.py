"""Portfolios: one per firm, created with its first transaction, valued from the latest prices.

Rules: who sees a portfolio follows firm coverage exactly as firms do (access.firm_visible); a
portal trader sees their own firm's portfolio, read-only, only with the `view_portfolio`
permission. Holdings are derived from the transactions (services.ledger), never typed in;
transactions are never changed or deleted: a correction is a reversing entry. Bad input changes
nothing: a sell of more than is held (unless the portfolio allows shorting), a price, quantity or
amount of zero or below, a settlement before the trade date, an unknown or inactive instrument,
a currency other than the instrument's, a trader of another firm. Every booking and reversal is
audited and published ("portfolio" event, after commit) so open pages of the firm refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from brm_app import bootstrap, events
from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import is_postgres, utcnow
from brm_app.models.firm import Firm
from brm_app.models.portfolio import (
    CashPublic,
    HoldingPublic,
    Instrument,
    InstrumentPrice,
    PerformanceMetrics,
    Portfolio,
    PortfolioCash,
    PortfolioHolding,
    PortfolioPublic,
    PortfolioSettings,
    PortfolioTransaction,
    TransactionPublic,
    TransactionWrite,
    TxKind,
    TxSource,
    plain,
)
from brm_app.models.trader import Trader
from brm_app.models.user import Role
from brm_app.services import access, audit, instruments, market_data
from brm_app.services.errors import NotFound, ValidationFailed
from brm_app.services.ledger import ZERO, Ledger, Oversold, Position, Tx, compute
from brm_app.services.pagination import Page, PageRequest
from brm_app.services.validation import parse, require_id
from brm_app.settings import get_settings

AnyActor = Actor | SystemActor
TOPIC = "portfolio"
CENT = Decimal("0.01")
FINE = Decimal("0.000001")
# Kinds that name an instrument; transfers may name one (securities) or not (cash).
INSTRUMENT_KINDS = (TxKind.BUY, TxKind.SELL, TxKind.SPLIT)


def ident(value: int | None) -> int:
    """The id of a stored (flushed) row."""
    if value is None:
        raise ValueError("the row has no id yet (not flushed)")
    return value


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _fine(value: Decimal) -> Decimal:
    return plain(value.quantize(FINE, rounding=ROUND_HALF_EVEN))


# ---- access ------------------------------------------------------------------------------------


def portfolio_visible(
    actor: Actor, permission: Permission, portfolio: Portfolio, db: Session
) -> bool:
    """Firm coverage exactly as for firms; a portal trader only their own firm's, and only with
    `view_portfolio` (and never to change it)."""
    firm = db.get(Firm, portfolio.firm_id)
    if firm is None or not access.firm_visible(actor, permission, firm, db):
        return False
    if actor.role == Role.TRADER:
        if permission != Permission.PORTFOLIOS_VIEW:
            return False
        return (
            db.exec(
                select(Trader.id).where(
                    Trader.user_id == actor.user_id,
                    Trader.firm_id == firm.id,
                    col(Trader.archived_at).is_(None),
                    col(Trader.portal_access).is_(True),
                    col(Trader.view_portfolio).is_(True),
                )
            ).first()
            is not None
        )
    return True


def load_firm(
    db: Session,
    actor: AnyActor,
    firm_id: object,
    permission: Permission = Permission.PORTFOLIOS_VIEW,
) -> tuple[Firm, Portfolio | None]:
    """The firm and its portfolio (None before its first transaction) if the actor may use them
    for `permission`; NotFound ("Firm") otherwise, so ids cannot be probed."""
    firm_id = require_id(firm_id, "firm_id")
    require(actor, permission)
    firm = db.get(Firm, firm_id)
    if firm is None:
        raise NotFound("Firm")
    portfolio = db.exec(select(Portfolio).where(Portfolio.firm_id == firm_id)).first()
    # The rule judges the firm's portfolio, or the one it would have.
    require(actor, permission, portfolio or Portfolio(firm_id=firm_id), db=db, what="Firm")
    return firm, portfolio


def reporting_currency(firm: Firm) -> str:
    return firm.reporting_currency or get_settings().reporting_currency


# ---- valuation ---------------------------------------------------------------------------------


def _txs(db: Session, portfolio_id: int) -> list[Tx]:
    t = PortfolioTransaction
    rows = db.exec(
        select(  # type: ignore[call-overload, misc]
            t.id,
            t.kind,
            t.trade_date,
            t.currency,
            t.instrument_id,
            t.quantity,
            t.price,
            t.amount,
            t.fees,
            t.reverses_id,
        ).where(t.portfolio_id == portfolio_id)
    ).all()
    return [Tx(*row) for row in rows]


def txs_of_many(db: Session, portfolio_ids: list[int]) -> dict[int, list[Tx]]:
    """The transactions of several portfolios, in one query per 500 portfolios."""
    t = PortfolioTransaction
    out: dict[int, list[Tx]] = {pid: [] for pid in portfolio_ids}
    for start in range(0, len(portfolio_ids), 500):
        rows = db.exec(
            select(  # type: ignore[call-overload, misc]
                t.portfolio_id,
                t.id,
                t.kind,
                t.trade_date,
                t.currency,
                t.instrument_id,
                t.quantity,
                t.price,
                t.amount,
                t.fees,
                t.reverses_id,
            ).where(col(t.portfolio_id).in_(portfolio_ids[start : start + 500]))
        ).all()
        for pid, *rest in rows:
            out[pid].append(Tx(*rest))
    return out


def ledger_of(db: Session, portfolio: Portfolio) -> Ledger:
    return compute(_txs(db, ident(portfolio.id)), allow_short=portfolio.allow_short)


def kept_ledger(db: Session, portfolio: Portfolio) -> Ledger:
    """The ledger as kept after the last change (portfolio_holdings, portfolio_cash): what
    `ledger_of` computes, read in two small queries instead of every transaction."""
    pid = ident(portfolio.id)
    return kept_ledgers(db, [pid])[pid]


def kept_ledgers(db: Session, portfolio_ids: list[int]) -> dict[int, Ledger]:
    out = {pid: Ledger() for pid in portfolio_ids}
    for start in range(0, len(portfolio_ids), 500):
        chunk = portfolio_ids[start : start + 500]
        # Columns, not ORM objects: a batch may read thousands of rows.
        h, c = PortfolioHolding, PortfolioCash
        for pid, iid, currency, quantity, cost, realized in db.exec(
            select(  # type: ignore[call-overload]
                col(h.portfolio_id),
                col(h.instrument_id),
                col(h.currency),
                col(h.quantity),
                col(h.cost),
                col(h.realized),
            ).where(col(h.portfolio_id).in_(chunk))
        ):
            out[pid].positions[iid] = Position(iid, currency, quantity, cost, realized)
        for pid, currency, balance, contributions in db.exec(
            select(
                col(c.portfolio_id), col(c.currency), col(c.balance), col(c.contributions)
            ).where(col(c.portfolio_id).in_(chunk))
        ):
            if balance:
                out[pid].cash[currency] = balance
            if contributions:
                out[pid].contributions[currency] = contributions
    return out


def appendable(db: Session, portfolio_ids: list[int], first_new: dict[int, date]) -> set[int]:
    """The portfolios whose new transactions (earliest trade date in `first_new`, not yet
    flushed) come after everything booked before, in the ledger's order: later than the last
    trade date, or on it when nothing went out that day. Those can be applied onto the kept
    ledger instead of recomputing every transaction."""
    t = PortfolioTransaction
    if not portfolio_ids:
        return set()
    last: dict[int, date] = {}
    for start in range(0, len(portfolio_ids), 500):
        chunk = portfolio_ids[start : start + 500]
        last.update(
            db.exec(
                select(col(t.portfolio_id), func.max(col(t.trade_date)))
                .where(col(t.portfolio_id).in_(chunk))
                .group_by(col(t.portfolio_id))
            ).all()
        )
    ok = {pid for pid in portfolio_ids if pid not in last or first_new[pid] > last[pid]}
    same_day = [pid for pid in portfolio_ids if pid in last and first_new[pid] == last[pid]]
    if same_day:
        outflows = (
            set(
                db.exec(
                    select(col(t.portfolio_id))
                    .where(
                        col(t.portfolio_id).in_(same_day),
                        col(t.kind).in_([TxKind.SELL.value, TxKind.TRANSFER_OUT.value]),
                        col(t.trade_date) == first_new[same_day[0]],
                    )
                    .distinct()
                ).all()
            )
            if len({first_new[p] for p in same_day}) == 1
            else set(same_day)
        )
        ok |= {pid for pid in same_day if pid not in outflows}
    return ok


@dataclass
class _Valuer:
    table: market_data.FxTable
    to: str
    missing: set[str]

    def __call__(self, amount: Decimal, currency: str) -> Decimal | None:
        out = market_data.convert(self.table, amount, currency, self.to)
        if out is None:
            self.missing.add(currency)
        return out


def value(db: Session, firm: Firm, portfolio: Portfolio | None) -> PortfolioPublic:
    """The portfolio valued at the latest stored prices (no access check: callers did it)."""
    rep = reporting_currency(firm)
    if portfolio is None:
        zero = Decimal("0.00")
        return PortfolioPublic(
            portfolio_id=None,
            firm_id=firm.id,
            firm_name=firm.name,
            reporting_currency=rep,
            assets=[],
            cash=[],
            market_value=zero,
            cash_value=zero,
            total_value=zero,
            performance_metrics=PerformanceMetrics(
                today_change=zero,
                unrealized_pnl=zero,
                realized_pnl=zero,
                net_contributions=zero,
                simple_return=None,
            ),
            last_updated=None,
        )
    ledger = kept_ledger(db, portfolio)
    ids = list(ledger.positions)
    # Columns, not ORM objects (rows read by attribute all the same): a portfolio's read is
    # the API's hottest path, and building entities was a third of it (py-spy).
    i, p = Instrument, InstrumentPrice
    infos: dict[int, Any] = {}
    prices: dict[int, Any] = {}
    if ids:
        found: Any = db.exec(
            select(col(i.id), col(i.symbol), col(i.name), col(i.asset_class)).where(
                col(i.id).in_(ids)
            )
        )
        infos = {r.id: r for r in found}
        found = db.exec(
            select(col(p.instrument_id), col(p.price), col(p.prev_close), col(p.as_of)).where(
                col(p.instrument_id).in_(ids)
            )
        )
        prices = {r.instrument_id: r for r in found}
    conv = _Valuer(market_data.fx_table(db), rep, set())

    holdings: list[dict[str, Any]] = []
    realized_total = today_total = unrealized_total = mv_total = ZERO
    last_updated: datetime = portfolio.updated_at
    for pos in ledger.positions.values():
        realized_rep = conv(pos.realized, pos.currency) or ZERO
        realized_total += realized_rep
        if pos.quantity == 0:
            continue
        info = infos[pos.instrument_id]
        price = prices.get(pos.instrument_id)
        mv = mv_rep = unrealized = day = None
        if price is not None:
            last_updated = max(last_updated, price.as_of)
            mv = pos.quantity * price.price
            mv_rep = conv(mv, pos.currency)
            unrealized = mv - pos.cost
            if mv_rep is not None:
                mv_total += mv_rep
                unrealized_total += conv(unrealized, pos.currency) or ZERO
            if price.prev_close is not None:
                day = pos.quantity * (price.price - price.prev_close)
                today_total += conv(day, pos.currency) or ZERO
        holdings.append(
            {
                "instrument_id": pos.instrument_id,
                "symbol": info.symbol,
                "name": info.name,
                "asset_class": info.asset_class,
                "currency": pos.currency,
                "quantity": plain(pos.quantity),
                "average_cost": _fine(pos.average_cost),
                "cost_basis": _money(pos.cost),
                "last_price": price.price if price else None,
                "price_as_of": price.as_of if price else None,
                "market_value": _money(mv) if mv is not None else None,
                "market_value_reporting": mv_rep,
                "unrealized_pnl": _money(unrealized) if unrealized is not None else None,
                "realized_pnl": _money(pos.realized),
                "day_change": _money(day) if day is not None else None,
            }
        )
    cash_rows, cash_total = [], ZERO
    for currency, balance in sorted(ledger.cash.items()):
        if balance == 0:
            continue
        rep_balance = conv(balance, currency)
        if rep_balance is not None:
            cash_total += rep_balance
        cash_rows.append(
            CashPublic(
                currency=currency,
                balance=_money(balance),
                balance_reporting=_money(rep_balance) if rep_balance is not None else None,
            )
        )
    total = mv_total + cash_total
    contributions = sum(((conv(v, c) or ZERO) for c, v in ledger.contributions.items()), start=ZERO)
    assets = []
    for h in sorted(holdings, key=lambda h: h["symbol"]):
        mv_rep = h.pop("market_value_reporting")
        weight = (
            (mv_rep / total).quantize(Decimal("0.0001")) if mv_rep is not None and total else None
        )
        assets.append(
            HoldingPublic(
                **h,
                market_value_reporting=_money(mv_rep) if mv_rep is not None else None,
                weight=weight,
            )
        )
    return PortfolioPublic(
        portfolio_id=ident(portfolio.id),
        firm_id=firm.id,
        firm_name=firm.name,
        reporting_currency=rep,
        assets=assets,
        cash=cash_rows,
        market_value=_money(mv_total),
        cash_value=_money(cash_total),
        total_value=_money(total),
        performance_metrics=PerformanceMetrics(
            today_change=_money(today_total),
            unrealized_pnl=_money(unrealized_total),
            realized_pnl=_money(realized_total),
            net_contributions=_money(contributions),
            simple_return=(
                ((total - contributions) / contributions).quantize(Decimal("0.0001"))
                if contributions > 0
                else None
            ),
        ),
        last_updated=last_updated,
        missing_fx=sorted(conv.missing),
        allow_short=portfolio.allow_short,
    )


def refresh_snapshot(db: Session, portfolio: Portfolio, ledger: Ledger | None = None) -> Ledger:
    """Rewrite the portfolio's holdings and cash rows from its ledger (after every change)."""
    ledger = ledger if ledger is not None else ledger_of(db, portfolio)
    refresh_snapshots(db, {ident(portfolio.id): ledger})
    return ledger


def refresh_snapshots(db: Session, ledgers: dict[int, Ledger]) -> None:
    """The same for several portfolios at once (portfolio id -> its ledger), in bulk."""
    if not ledgers:
        return
    db.flush()
    ids = list(ledgers)
    conn = db.connection()
    for model in (PortfolioHolding, PortfolioCash):
        conn.execute(sa.delete(model).where(col(model.portfolio_id).in_(ids)))
    holdings = [
        {
            "portfolio_id": pid,
            "instrument_id": pos.instrument_id,
            "currency": pos.currency,
            "quantity": pos.quantity,
            "cost": pos.cost,
            "realized": pos.realized,
        }
        for pid, ledger in ledgers.items()
        for pos in ledger.positions.values()
    ]
    cash = [
        {
            "portfolio_id": pid,
            "currency": currency,
            "balance": ledger.cash.get(currency, ZERO),
            "contributions": ledger.contributions.get(currency, ZERO),
        }
        for pid, ledger in ledgers.items()
        for currency in sorted(set(ledger.cash) | set(ledger.contributions))
    ]
    if holdings:
        conn.execute(sa.insert(PortfolioHolding), holdings)
    if cash:
        conn.execute(sa.insert(PortfolioCash), cash)
    # What the session may hold of the old rows is stale now.
    for obj in list(db.identity_map.values()):
        if isinstance(obj, PortfolioHolding | PortfolioCash) and obj.portfolio_id in ledgers:
            db.expunge(obj)


def revalue_all(db: Session) -> dict[int, float]:
    """Every portfolio's total value (holdings at the latest prices, plus cash) in its firm's
    reporting currency, from the holdings kept per portfolio: one pass over holdings x prices,
    summed in SQL per portfolio and currency (SQLite: ORDER BY NULL, the groups need no
    sorting), rows read through Core (no ORM row objects). For bulk figures (a tick
    revalues all portfolios in well under a second); a single portfolio's exact figures come
    from `value`."""
    h, p, c = PortfolioHolding.__table__, InstrumentPrice.__table__, PortfolioCash.__table__  # type: ignore[attr-defined]
    real = sa.Float()
    held = (
        sa.select(
            h.c.portfolio_id,
            h.c.currency,
            sa.func.sum(sa.cast(h.c.quantity, real) * sa.cast(p.c.price, real)),
        )
        .join(p, p.c.instrument_id == h.c.instrument_id)
        .group_by(h.c.portfolio_id, h.c.currency)
    )
    if db.get_bind().dialect.name == "sqlite":
        held = held.order_by(sa.null())  # SQLite: skip sorting the groups
    cash = sa.select(c.c.portfolio_id, c.c.currency, sa.cast(c.c.balance, real))
    conn = db.connection()
    amounts = [*conn.execute(held).all(), *conn.execute(cash).all()]
    default = get_settings().reporting_currency
    pt, ft = Portfolio.__table__, Firm.__table__  # type: ignore[attr-defined]
    totals: dict[int, float] = dict.fromkeys(conn.execute(sa.select(pt.c.id)).scalars(), 0.0)
    reporting: dict[int, str] = dict(
        conn.execute(
            sa.select(pt.c.id, ft.c.reporting_currency)
            .join(ft, ft.c.id == pt.c.firm_id)
            .where(ft.c.reporting_currency.is_not(None))
        ).all()
    )
    table = market_data.fx_table(db)
    rates: dict[tuple[str, str], float] = {}
    for pid, currency, amount in amounts:
        to = reporting.get(pid, default)
        key = (currency, to)
        rate = rates.get(key)
        if rate is None:
            r = market_data.rate(table, currency, to)
            rate = rates[key] = float(r) if r is not None else 0.0
        totals[pid] = totals.get(pid, 0.0) + (amount or 0.0) * rate
    return totals


def update_settings(
    db: Session, *, actor: AnyActor, firm_id: object, data: PortfolioSettings | dict[str, Any]
) -> PortfolioPublic:
    """The firm's reporting currency (an ISO 4217 code, or null for the setting's default) and
    whether its portfolio allows short positions (once the portfolio exists; turned off only
    while no position is short). Brokers covering the firm, managers and admins; audited."""
    import pycountry

    firm, portfolio = load_firm(db, actor, firm_id, Permission.PORTFOLIOS_TRADE)
    if isinstance(data, dict):
        data = parse(PortfolioSettings, data)
    sent = data.model_fields_set
    before: dict[str, Any] = {"reporting_currency": firm.reporting_currency, "allow_short": None}
    after = dict(before)
    if "reporting_currency" in sent:
        code = data.reporting_currency
        if code is not None and pycountry.currencies.get(alpha_3=code) is None:
            raise ValidationFailed("is not an ISO 4217 currency code", field="reporting_currency")
        firm.reporting_currency = code
        after["reporting_currency"] = code
        db.add(firm)
    if "allow_short" in sent and data.allow_short is not None:
        if portfolio is None:
            raise ValidationFailed(
                "the portfolio starts with its first transaction: book one first",
                field="allow_short",
            )
        before["allow_short"] = portfolio.allow_short
        if portfolio.allow_short and not data.allow_short:
            # Turning shorting off must leave no short position behind.
            try:
                compute(_txs(db, ident(portfolio.id)), allow_short=False)
            except Oversold:
                raise ValidationFailed(
                    "the portfolio holds short positions: close them first", field="allow_short"
                ) from None
        portfolio.allow_short = data.allow_short
        after["allow_short"] = data.allow_short
        db.add(portfolio)
    db.flush()
    changes = audit.diff(before, after)
    if changes:
        audit.record(
            db,
            actor=actor,
            action="portfolio.settings",
            entity="firm",
            entity_id=firm.id,
            changes=changes,
        )
        events.publish(db, TOPIC, (), ident(firm.id))
    return value(db, firm, portfolio)


def get_portfolio(db: Session, *, actor: AnyActor, firm_id: object) -> PortfolioPublic:
    firm, portfolio = load_firm(db, actor, firm_id)
    return value(db, firm, portfolio)


@dataclass(frozen=True)
class PortalPortfolio:
    """What a portal trader's home says of their firm's portfolio."""

    firm_id: int
    firm_name: str
    # The firm's brokers gave this trader `view_portfolio`.
    shared: bool
    # None while the firm has no portfolio (no transaction yet) or it is not shared.
    portfolio: PortfolioPublic | None = None


def portal_portfolio(db: Session, *, actor: AnyActor) -> PortalPortfolio | None:
    """A portal trader's own firm's portfolio, valued, when they may see it (None for staff and
    for a trader without portal access)."""
    if not isinstance(actor, Actor) or actor.role != Role.TRADER:
        return None
    row = db.exec(
        select(Trader.firm_id, Trader.view_portfolio, Firm.name)
        .join(Firm, col(Firm.id) == col(Trader.firm_id))
        .where(
            Trader.user_id == actor.user_id,
            col(Trader.archived_at).is_(None),
            col(Trader.portal_access).is_(True),
        )
    ).first()
    if row is None:
        return None
    firm_id, shared, firm_name = row
    if not shared:
        return PortalPortfolio(firm_id=firm_id, firm_name=firm_name, shared=False)
    firm, portfolio = load_firm(db, actor, firm_id)
    return PortalPortfolio(
        firm_id=firm_id,
        firm_name=firm_name,
        shared=True,
        portfolio=value(db, firm, portfolio) if portfolio is not None else None,
    )


def revalue(db: Session, *, actor: AnyActor, firm_id: object) -> PortfolioPublic:
    """Fetch the latest prices (and FX rates) of the portfolio's instruments from the market data
    provider now, store them, and return the portfolio valued at them."""
    firm, portfolio = load_firm(db, actor, firm_id)
    if portfolio is not None:
        ids = list(ledger_of(db, portfolio).positions)
        held = list(db.exec(select(Instrument).where(col(Instrument.id).in_(ids)))) if ids else []
        market_data.fetch(db, bootstrap.providers().market_data, held, (reporting_currency(firm),))
    return value(db, firm, portfolio)


# ---- transactions ------------------------------------------------------------------------------


def _business_days_after(day: date, n: int) -> date:
    while n:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def _positive(
    value: Decimal | None, field: str, what: str = "must be greater than zero"
) -> Decimal:
    if value is None:
        raise ValidationFailed("is required for this kind of transaction", field=field)
    if value <= 0:
        raise ValidationFailed(what, field=field)
    return value


@dataclass(frozen=True)
class Checked:
    """A transaction ready to store: every rule but the holdings check passed."""

    kind: TxKind
    instrument: Instrument | None
    trade_date: date
    settlement_date: date
    quantity: Decimal | None
    price: Decimal | None
    amount: Decimal | None
    currency: str
    fees: Decimal
    trader_id: int | None
    note: str | None


Resolver = Callable[..., Instrument]


def _history_start(db: Session, firm: Firm) -> date | None:
    """The day of the firm's opening balances (the retention purge's), if it has any: nothing
    can be booked on or before it, its history is gone. Looked up once per session and firm
    (a batch checks many rows of one firm)."""
    known: dict[int | None, date | None] = db.info.setdefault("brm_history_start", {})
    if firm.id not in known:
        t = PortfolioTransaction
        known[firm.id] = db.exec(
            select(func.max(col(t.trade_date)))
            .join(Portfolio, col(Portfolio.id) == col(t.portfolio_id))
            .where(Portfolio.firm_id == firm.id, t.kind == TxKind.OPENING.value)
        ).one()
    return known[firm.id]


def check_transaction(
    db: Session, firm: Firm, data: TransactionWrite, *, resolve: Resolver | None = None
) -> Checked:
    """Every rule of one transaction but the holdings check. `resolve` finds the instrument
    (default: instruments.resolve; a batch passes one that looks in what it loaded at once)."""
    resolve = resolve or (lambda **kw: instruments.resolve(db, **kw))
    kind = data.kind
    if kind == TxKind.OPENING:
        raise ValidationFailed(
            "opening balances are written by the retention purge only", field="kind"
        )
    if not 1990 <= data.trade_date.year <= 2999:
        raise ValidationFailed("must be between the years 1990 and 2999", field="trade_date")
    if data.fees < 0:
        raise ValidationFailed("must not be negative", field="fees")
    opened = _history_start(db, firm)
    if opened is not None and data.trade_date <= opened:
        raise ValidationFailed(
            f"is on or before {opened.isoformat()}: the history up to that day was replaced by "
            "opening balances when it passed its retention period; book it after that day",
            field="trade_date",
        )
    names_instrument = data.instrument_id is not None or bool(data.symbol)
    instrument = None
    quantity = price = amount = None
    if kind in INSTRUMENT_KINDS or (
        kind in (TxKind.TRANSFER_IN, TxKind.TRANSFER_OUT) and names_instrument
    ):
        instrument = resolve(instrument_id=data.instrument_id, symbol=data.symbol)
        quantity = _positive(data.quantity, "quantity")
        if kind in (TxKind.BUY, TxKind.SELL, TxKind.TRANSFER_IN):
            price = _positive(data.price, "price", "must be greater than zero")
        currency = instrument.currency
        if data.currency and data.currency != currency:
            raise ValidationFailed(
                f"must be the instrument's currency ({currency})", field="currency"
            )
    else:
        if kind in (TxKind.DIVIDEND, TxKind.FEE) and names_instrument:
            instrument = resolve(instrument_id=data.instrument_id, symbol=data.symbol)
        amount = _positive(data.amount, "amount")
        currency = data.currency or (
            instrument.currency if instrument else reporting_currency(firm)
        )
    settlement = data.settlement_date or (
        _business_days_after(data.trade_date, 2)
        if kind in (TxKind.BUY, TxKind.SELL)
        else data.trade_date
    )
    if settlement < data.trade_date:
        raise ValidationFailed("must not be before the trade date", field="settlement_date")
    trader_id = None
    if data.trader_id is not None:
        trader = db.get(Trader, data.trader_id)
        if trader is None or trader.firm_id != firm.id or trader.archived_at is not None:
            raise ValidationFailed("is not a trader of this firm", field="trader_id")
        trader_id = trader.id
    return Checked(
        kind=kind,
        instrument=instrument,
        trade_date=data.trade_date,
        settlement_date=settlement,
        quantity=quantity,
        price=price,
        amount=amount,
        currency=currency,
        fees=data.fees,
        trader_id=trader_id,
        note=data.note or None,
    )


def _portfolio_for_update(db: Session, firm: Firm, portfolio: Portfolio | None) -> Portfolio:
    """The firm's portfolio, locked for this transaction (created now if this is its first)."""
    if portfolio is None:
        try:
            with db.begin_nested():
                portfolio = Portfolio(firm_id=ident(firm.id))
                db.add(portfolio)
                db.flush()
        except sa.exc.IntegrityError:  # created meanwhile by another request
            portfolio = db.exec(select(Portfolio).where(Portfolio.firm_id == firm.id)).one()
    if is_postgres(db):
        db.exec(select(Portfolio.id).where(Portfolio.id == portfolio.id).with_for_update()).one()
    return portfolio


def _assert_holdings(db: Session, portfolio: Portfolio, extra: list[Tx]) -> None:
    try:
        compute([*_txs(db, ident(portfolio.id)), *extra], allow_short=portfolio.allow_short)
    except Oversold as exc:
        symbol = db.exec(select(Instrument.symbol).where(Instrument.id == exc.instrument_id)).one()
        raise ValidationFailed(
            f"sells more {symbol} than the portfolio holds ({exc.held.normalize():f} on "
            f"{exc.day.isoformat()}); shorting is not enabled for this portfolio",
            field="quantity",
        ) from None


def _as_tx(row: PortfolioTransaction) -> Tx:
    return Tx(
        id=row.id or 2**62,
        kind=row.kind,
        trade_date=row.trade_date,
        currency=row.currency,
        instrument_id=row.instrument_id,
        quantity=row.quantity,
        price=row.price,
        amount=row.amount,
        fees=row.fees,
        reverses_id=row.reverses_id,
    )


def _snapshot(row: PortfolioTransaction) -> dict[str, Any]:
    return {
        "firm_id": None,
        "kind": row.kind,
        "instrument_id": row.instrument_id,
        "trade_date": row.trade_date,
        "settlement_date": row.settlement_date,
        "quantity": None if row.quantity is None else str(row.quantity),
        "price": None if row.price is None else str(row.price),
        "amount": None if row.amount is None else str(row.amount),
        "currency": row.currency,
        "fees": str(row.fees),
        "trader_id": row.trader_id,
        "source": row.source,
        "exec_id": row.exec_id,
        "reverses_id": row.reverses_id,
    }


def store(
    db: Session,
    *,
    actor: AnyActor | None,
    portfolio: Portfolio,
    checked: Checked,
    source: TxSource = TxSource.MANUAL,
    order_id: str | None = None,
    exec_id: str | None = None,
    check_holdings: bool = True,
    flush: bool = True,
) -> PortfolioTransaction:
    """Book one checked transaction (the caller audits and publishes). `flush` False: the
    caller flushes a whole batch at once (the row has no id until then)."""
    row = PortfolioTransaction(
        portfolio_id=ident(portfolio.id),
        kind=checked.kind.value,
        instrument_id=checked.instrument.id if checked.instrument else None,
        trade_date=checked.trade_date,
        settlement_date=checked.settlement_date,
        quantity=checked.quantity,
        price=checked.price,
        amount=checked.amount,
        currency=checked.currency,
        fees=checked.fees,
        trader_id=checked.trader_id,
        source=source.value,
        order_id=order_id,
        exec_id=exec_id,
        note=checked.note,
        created_by_id=getattr(actor, "user_id", None),
    )
    if check_holdings and checked.kind in (TxKind.SELL, TxKind.TRANSFER_OUT):
        _assert_holdings(db, portfolio, [_as_tx(row)])
    db.add(row)
    portfolio.updated_at = utcnow()
    db.add(portfolio)
    if flush:
        db.flush()
    return row


def book_transaction(
    db: Session, *, actor: AnyActor, firm_id: object, data: TransactionWrite | dict[str, Any]
) -> TransactionPublic:
    """Book a transaction by hand (the portfolio is created with the firm's first one)."""
    firm, portfolio = load_firm(db, actor, firm_id, Permission.PORTFOLIOS_TRADE)
    if isinstance(data, dict):
        data = parse(TransactionWrite, data)
    checked = check_transaction(db, firm, data)
    portfolio = _portfolio_for_update(db, firm, portfolio)
    row = store(db, actor=actor, portfolio=portfolio, checked=checked)
    refresh_snapshot(db, portfolio)
    changes = _snapshot(row)
    changes["firm_id"] = firm.id
    audit.record(
        db,
        actor=actor,
        action="portfolio.transaction",
        entity="portfolio_transaction",
        entity_id=row.id,
        changes=changes,
    )
    events.publish(db, TOPIC, (), ident(firm.id))
    return to_public(db, [row], ident(firm.id))[0]


def reverse(
    db: Session,
    *,
    actor: AnyActor | None,
    portfolio: Portfolio,
    original: PortfolioTransaction,
    source: TxSource = TxSource.MANUAL,
    exec_id: str | None = None,
    note: str | None = None,
    check_holdings: bool = True,
) -> PortfolioTransaction:
    """The reversing entry of `original` (the pair then counts for nothing). `check_holdings`
    False: the caller checks the holdings after more bookings (an OMS batch)."""
    if original.kind == TxKind.OPENING:
        raise ValidationFailed(
            "is an opening balance of the retention purge: it cannot be reversed",
            field="transaction_id",
        )
    if original.reverses_id is not None:
        raise ValidationFailed(
            "is itself a reversal: book the transaction again instead", field="transaction_id"
        )
    if db.exec(
        select(PortfolioTransaction.id).where(PortfolioTransaction.reverses_id == original.id)
    ).first():
        raise ValidationFailed("was already reversed", field="transaction_id")

    def neg(v: Decimal | None) -> Decimal | None:
        return None if v is None else -v

    row = PortfolioTransaction(
        portfolio_id=ident(portfolio.id),
        kind=original.kind,
        instrument_id=original.instrument_id,
        trade_date=original.trade_date,
        settlement_date=original.settlement_date,
        quantity=original.quantity if original.kind == TxKind.SPLIT else neg(original.quantity),
        price=original.price,
        amount=neg(original.amount),
        currency=original.currency,
        fees=-original.fees,
        trader_id=original.trader_id,
        source=source.value,
        order_id=original.order_id,
        exec_id=exec_id,
        note=note or f"Reversal of #{original.id}",
        reverses_id=original.id,
        created_by_id=getattr(actor, "user_id", None),
    )
    # Without the original, later sells must still be covered.
    if check_holdings:
        _assert_holdings(db, portfolio, [_as_tx(row)])
    db.add(row)
    portfolio.updated_at = utcnow()
    db.add(portfolio)
    db.flush()
    return row


def reverse_transaction(
    db: Session,
    *,
    actor: AnyActor,
    firm_id: object,
    transaction_id: object,
    reason: str | None = None,
) -> TransactionPublic:
    firm, portfolio = load_firm(db, actor, firm_id, Permission.PORTFOLIOS_TRADE)
    transaction_id = require_id(transaction_id, "transaction_id")
    original = db.get(PortfolioTransaction, transaction_id)
    if portfolio is None or original is None or original.portfolio_id != portfolio.id:
        raise NotFound("Transaction")
    portfolio = _portfolio_for_update(db, firm, portfolio)
    row = reverse(db, actor=actor, portfolio=portfolio, original=original, note=reason)
    refresh_snapshot(db, portfolio)
    audit.record(
        db,
        actor=actor,
        action="portfolio.reverse",
        entity="portfolio_transaction",
        entity_id=row.id,
        changes={"firm_id": firm.id, "reverses_id": original.id, "reason": reason},
    )
    events.publish(db, TOPIC, (), ident(firm.id))
    return to_public(db, [row], ident(firm.id))[0]


def to_public(
    db: Session, rows: list[PortfolioTransaction], firm_id: int
) -> list[TransactionPublic]:
    if not rows:
        return []
    inst_ids = {r.instrument_id for r in rows if r.instrument_id}
    symbols = (
        dict(
            db.exec(
                select(Instrument.id, Instrument.symbol).where(col(Instrument.id).in_(inst_ids))
            ).all()
        )
        if inst_ids
        else {}
    )
    trader_ids = {r.trader_id for r in rows if r.trader_id}
    names = (
        dict(db.exec(select(Trader.id, Trader.name).where(col(Trader.id).in_(trader_ids))).all())
        if trader_ids
        else {}
    )
    reversed_by = dict(
        db.exec(
            select(PortfolioTransaction.reverses_id, PortfolioTransaction.id).where(
                col(PortfolioTransaction.reverses_id).in_([r.id for r in rows])
            )
        ).all()
    )
    return [
        TransactionPublic(
            transaction_id=r.id,
            portfolio_id=r.portfolio_id,
            firm_id=firm_id,
            kind=r.kind,
            instrument_id=r.instrument_id,
            symbol=symbols.get(r.instrument_id),
            trade_date=r.trade_date,
            settlement_date=r.settlement_date,
            quantity=r.quantity,
            price=r.price,
            amount=r.amount,
            currency=r.currency,
            fees=r.fees,
            trader_id=r.trader_id,
            trader_name=names.get(r.trader_id),
            source=r.source,
            order_id=r.order_id,
            exec_id=r.exec_id,
            note=r.note,
            reverses_id=r.reverses_id,
            reversed_by_id=reversed_by.get(r.id),
            created_at=r.created_at,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class TransactionQuery:
    kind: str | None = None
    instrument_id: int | None = None
    trader_id: int | None = None
    source: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def list_transactions(
    db: Session,
    *,
    actor: AnyActor,
    firm_id: object,
    page: PageRequest,
    query: TransactionQuery | None = None,
) -> Page[TransactionPublic]:
    """A firm's transactions, newest trade date first, filtered and paged in SQL."""
    firm, portfolio = load_firm(db, actor, firm_id)
    if portfolio is None:
        return Page.build([], page=page, total=0)
    q = query or TransactionQuery()
    t = PortfolioTransaction
    conds: list[Any] = [t.portfolio_id == portfolio.id]
    if q.kind:
        conds.append(t.kind == q.kind)
    if q.instrument_id:
        conds.append(t.instrument_id == q.instrument_id)
    if q.trader_id:
        conds.append(t.trader_id == q.trader_id)
    if q.source:
        conds.append(t.source == q.source)
    if q.date_from:
        conds.append(t.trade_date >= q.date_from)
    if q.date_to:
        conds.append(t.trade_date <= q.date_to)
    total = db.exec(select(func.count()).select_from(t).where(*conds)).one()
    rows = db.exec(
        select(t)
        .where(*conds)
        .order_by(col(t.trade_date).desc(), col(t.id).desc())
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    items = to_public(db, list(rows), ident(firm.id))
    return Page.build(items, page=page, total=total)


def move_to_firm(db: Session, source_id: int, target_id: int) -> dict[str, int]:
    """Firm merge hook: the source firm's portfolio becomes the target's (its transactions join
    the target's portfolio when both have one); OMS executions follow."""
    from brm_app.models.portfolio import OmsExecution

    source = db.exec(select(Portfolio).where(Portfolio.firm_id == source_id)).first()
    db.exec(
        sa.update(OmsExecution)
        .where(col(OmsExecution.firm_id) == source_id)
        .values(firm_id=target_id)
    )
    if source is None:
        return {"portfolio_transactions_moved": 0}
    target = db.exec(select(Portfolio).where(Portfolio.firm_id == target_id)).first()
    if target is None:
        source.firm_id = target_id
        db.add(source)
        db.flush()
        return {"portfolio_transactions_moved": 0}
    moved = db.exec(
        sa.update(PortfolioTransaction)
        .where(col(PortfolioTransaction.portfolio_id) == source.id)
        .values(portfolio_id=target.id)
    ).rowcount
    for model in (PortfolioHolding, PortfolioCash):
        db.exec(sa.delete(model).where(col(model.portfolio_id) == source.id))
    db.delete(source)
    db.flush()
    refresh_snapshot(db, target)
    return {"portfolio_transactions_moved": moved or 0}
