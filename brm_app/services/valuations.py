"""The daily valuation table: each portfolio's close per weekday, kept up to date by a job.

- After a booking (the portfolio's `updated_at` moves past the last build) or when a new weekday
  begins, the periodic chore `enqueue_stale` enqueues a `valuation.rebuild` job per portfolio
  (an idempotency key per portfolio and state, a bounded number per pass).
- The job (`rebuild_job`) compares the transactions with what the last build saw: new ones
  (a larger id) rebuild from the earliest day they count on, so a backdated transaction rewrites
  the days after it and only those; a different count (a firm merge moved transactions in) or
  reporting currency rebuilds from the start; otherwise the series is extended to today from
  the last day built (redone: its closes and FX rates may have moved after it was built).
- Readers (`series`) use the stored rows when they are current and otherwise compute the series
  in memory from the same function, so a chart never shows stale figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from brm_app.db import unit_of_work, utcnow
from brm_app.jobs import enqueue
from brm_app.jobs.queue import ClaimedJob
from brm_app.models.firm import Firm
from brm_app.models.performance import PortfolioValuation, ValuationState
from brm_app.models.portfolio import DailyClose, Instrument, Portfolio, PortfolioTransaction
from brm_app.services import market_data
from brm_app.services.ledger import Tx
from brm_app.services.valuation_series import (
    Closes,
    Converter,
    DayValue,
    FlowTx,
    value_series,
    weekday_on_or_after,
)

REBUILD_KIND = "valuation.rebuild"
# Jobs enqueued per periodic pass at most (the rest on the next passes).
PER_PASS = 200


def today() -> date:
    return utcnow().date()


def last_weekday(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def converter(db: Session, currency: str) -> Converter:
    table = market_data.fx_table(db)

    def convert(amount: Decimal, ccy: str) -> Decimal | None:
        return market_data.convert(table, amount, ccy, currency)

    return convert


def dated_converter(db: Session, currency: str, currencies: set[str]) -> market_data.DatedConverter:
    """Amounts in `currencies` into `currency` at each day's rates (the FX history)."""
    return market_data.fx_history(db, {*currencies, currency}).to(currency)


def flow_txs(db: Session, portfolio_id: int) -> list[FlowTx]:
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
            t.settlement_date,
        ).where(t.portfolio_id == portfolio_id)
    ).all()
    return [FlowTx(Tx(*row[:10]), row[10]) for row in rows]


def closes_of(db: Session, instrument_ids: set[int]) -> Closes:
    out: dict[int, Sequence[tuple[date, Decimal]]] = defaultdict(list)
    if instrument_ids:
        for iid, day, close in db.exec(
            select(col(DailyClose.instrument_id), col(DailyClose.day), col(DailyClose.close)).where(
                col(DailyClose.instrument_id).in_(instrument_ids)
            )
        ):
            out[iid].append((day, close))  # type: ignore[attr-defined]
    return Closes(out)


def _reporting(db: Session, portfolio: Portfolio) -> str:
    from brm_app.services.portfolios import reporting_currency

    firm = db.get(Firm, portfolio.firm_id)
    assert firm is not None
    return reporting_currency(firm)


def compute(
    db: Session, portfolio: Portfolio, *, through: date | None = None, start: date | None = None
) -> list[DayValue]:
    """The series from the transactions (from `start`, continuing the stored row before it)."""
    pid = portfolio.id
    assert pid is not None
    txs = flow_txs(db, pid)
    closes = closes_of(db, {f.tx.instrument_id for f in txs if f.tx.instrument_id})
    convert = dated_converter(db, _reporting(db, portfolio), {f.tx.currency for f in txs})
    before = None
    if start is not None:
        row = db.exec(
            select(PortfolioValuation)
            .where(PortfolioValuation.portfolio_id == pid, col(PortfolioValuation.day) < start)
            .order_by(col(PortfolioValuation.day).desc())
            .limit(1)
        ).first()
        if row is None:
            start = None
        else:
            before = _day_value(row)
            start = row.day + timedelta(days=1)
    return value_series(
        txs, closes, convert, through=through or today(), start=start, before=before
    )


def _day_value(r: PortfolioValuation) -> DayValue:
    return DayValue(
        r.day,
        r.value,
        r.market_value,
        r.cash,
        r.cost,
        r.realized,
        r.flow,
        r.daily_return,
        r.twr_index,
        r.drawdown,
    )


def _tx_facts(db: Session, portfolio_id: int) -> tuple[int, int]:
    t = PortfolioTransaction
    max_id, count = db.exec(
        select(func.coalesce(func.max(col(t.id)), 0), func.count()).where(
            t.portfolio_id == portfolio_id
        )
    ).one()
    return int(max_id or 0), int(count or 0)


def rebuild_from(db: Session, portfolio: Portfolio) -> date | bool | None:
    """What a rebuild must redo: False (nothing, current), None (everything) or the first day."""
    pid = portfolio.id
    state = db.get(ValuationState, pid)
    max_id, count = _tx_facts(db, pid)  # type: ignore[arg-type]
    if state is None or state.currency != _reporting(db, portfolio):
        return None
    if max_id > state.last_tx_id:
        t = PortfolioTransaction
        first_trade, first_settle = db.exec(
            select(func.min(col(t.trade_date)), func.min(col(t.settlement_date))).where(
                t.portfolio_id == pid, col(t.id) > state.last_tx_id
            )
        ).one()
        # Reversals of older transactions count from the original's day (the same dates).
        return weekday_on_or_after(min(first_trade, first_settle))
    if count != state.tx_count:
        return None
    through = last_weekday(today())
    if state.built_through is None or state.built_through < through:
        # From the last day built, again: its closes and FX rates may have moved since (a day's
        # last tick is its close).
        return state.built_through
    return False


def rebuild(db: Session, portfolio: Portfolio, *, force: bool = False) -> int:
    """Bring the stored series up to date (from the first day that changed); returns the
    number of days written."""
    pid = portfolio.id
    assert pid is not None
    start: date | bool | None = None if force else rebuild_from(db, portfolio)
    v = PortfolioValuation
    if (
        isinstance(start, date)
        and not db.exec(
            select(col(v.day)).where(v.portfolio_id == pid, col(v.day) < start).limit(1)
        ).first()
    ):
        start = None  # nothing stored before it: from the start
    # False: current (nothing to redo); never True.
    points = compute(db, portfolio, start=start) if not isinstance(start, bool) else []
    if start is not False:
        stmt = sa.delete(v).where(col(v.portfolio_id) == pid)
        if isinstance(start, date):
            stmt = stmt.where(col(v.day) >= start)
        db.exec(stmt)
    if points:
        db.connection().execute(
            sa.insert(v),
            [
                {
                    "portfolio_id": pid,
                    "day": p.day,
                    "value": p.value,
                    "market_value": p.market_value,
                    "cash": p.cash,
                    "cost": p.cost,
                    "realized": p.realized,
                    "flow": p.flow,
                    "daily_return": p.daily_return,
                    "twr_index": p.twr_index,
                    "drawdown": p.drawdown,
                }
                for p in points
            ],
        )
    max_id, count = _tx_facts(db, pid)
    state = db.get(ValuationState, pid) or ValuationState(portfolio_id=pid, currency="")
    state.currency = _reporting(db, portfolio)
    state.last_tx_id, state.tx_count = max_id, count
    state.built_through = last_weekday(today())
    state.built_at = utcnow()
    db.add(state)
    db.flush()
    return len(points)


def series(db: Session, portfolio: Portfolio, *, since: date | None = None) -> list[DayValue]:
    """The portfolio's daily valuations (from the last one before `since`, when given): the
    stored rows when current, else computed now."""
    if rebuild_from(db, portfolio) is not False:
        return compute(db, portfolio)
    v = PortfolioValuation
    conds: list[Any] = [col(v.portfolio_id) == portfolio.id]
    if since is not None:
        # One weekday row at least before `since` (a weekend and a day).
        conds.append(col(v.day) >= since - timedelta(days=4))
    # Amounts as the database holds them (text on SQLite, NUMERIC elsewhere) and turned into
    # Decimals here: ExactDecimal's normalising costs more than the rest of a chart's request.
    t = PortfolioValuation.__table__  # type: ignore[attr-defined]
    raw = [sa.type_coerce(t.c[name], sa.String()) for name in _AMOUNTS]
    stmt = (
        sa.select(t.c.day, *raw, t.c.daily_return, t.c.twr_index, t.c.drawdown)
        .where(*conds)
        .order_by(t.c.day)
    )
    out = []
    for day, value, mv, cash, cost, realized, flow, r, index, dd in db.connection().execute(stmt):
        out.append(
            DayValue(
                day if isinstance(day, date) else date.fromisoformat(day),
                _dec(value),
                _dec(mv),
                _dec(cash),
                _dec(cost),
                _dec(realized),
                _dec(flow),
                r,
                index,
                dd,
            )
        )
    return out


_AMOUNTS = ("value", "market_value", "cash", "cost", "realized", "flow")


def _dec(raw: Any) -> Decimal:
    return raw if isinstance(raw, Decimal) else Decimal(raw)


# ---- the job ---------------------------------------------------------------------------------


def enqueue_stale(db: Session, *, limit: int = PER_PASS) -> int:
    """The periodic chore: a rebuild job for each portfolio changed since its last build (or
    never built, or built before today's weekday). Cheap: one pass over portfolios."""
    s, p = ValuationState, Portfolio
    through = last_weekday(today())
    rows = db.exec(
        select(col(p.id), col(s.built_at))
        .join(s, col(s.portfolio_id) == col(p.id), isouter=True)
        .where(
            sa.or_(
                col(s.portfolio_id).is_(None),
                col(p.updated_at) > col(s.built_at),
                col(s.built_through) < through,
            )
        )
        .limit(limit)
    ).all()
    for pid, built_at in rows:
        assert pid is not None
        stamp = built_at.isoformat() if built_at else "never"
        enqueue(db, REBUILD_KIND, {"portfolio_id": pid}, key=f"{REBUILD_KIND}:{pid}:{stamp}")
    gone = db.exec(
        select(col(s.portfolio_id))
        .join(p, col(p.id) == col(s.portfolio_id), isouter=True)
        .where(col(p.id).is_(None))
    ).all()
    if gone:  # portfolios dropped by a firm merge
        for model in (PortfolioValuation, ValuationState):
            db.exec(sa.delete(model).where(col(model.portfolio_id).in_(gone)))
    return len(rows)


def keep_valuations(db: Session) -> None:
    """The runner's periodic chore (see enqueue_stale)."""
    enqueue_stale(db)


def rebuild_job(job: ClaimedJob) -> None:
    with unit_of_work(write=True) as db:
        portfolio = db.get(Portfolio, job.payload.get("portfolio_id"))
        if portfolio is not None:
            rebuild(db, portfolio)


def instruments_of(db: Session, portfolio_id: int) -> dict[int, Instrument]:
    ids = select(PortfolioTransaction.instrument_id).where(
        PortfolioTransaction.portfolio_id == portfolio_id
    )
    return {i.id: i for i in db.exec(select(Instrument).where(col(Instrument.id).in_(ids)))}  # type: ignore[misc]
