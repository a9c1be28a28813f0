"""Prices and FX rates as they arrive, and conversion between currencies.

Rules: the latest price of each instrument is kept (one row each, updated in place); daily closes
are history (one row per instrument and day, never duplicated); FX rates are kept per pair and
converted directly, inverted, or across USD. FX history (`fx_daily_rates`) keeps one rate per
pair and day: the feed's history on first start, each day's latest tick, CSV imports; a day is
converted at the pair's rate of the last day on or before it (before its first: the first). Each batch of new prices publishes one "prices" event
naming the instruments (after commit), so open portfolio pages revalue; no portfolio is written.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from brm_app import events
from brm_app.db import UTCDateTime, utcnow
from brm_app.models.performance import ValuationState
from brm_app.models.portfolio import (
    DailyClose,
    ExactDecimal,
    FxDailyRate,
    FxRate,
    Instrument,
    InstrumentPrice,
    PortfolioTransaction,
)
from brm_app.providers.market_data import Close, DailyRate, MarketDataProvider, Quote, Rate

TOPIC = "prices"
HISTORY_DAYS = 731  # two years of daily closes on first start

FxTable = dict[tuple[str, str], Decimal]


def held_instruments(db: Session) -> list[Instrument]:
    """Instruments that appear in any portfolio's transactions (the feed covers these)."""
    ids = (
        select(PortfolioTransaction.instrument_id)
        .where(col(PortfolioTransaction.instrument_id).is_not(None))
        .distinct()
    )
    return list(db.exec(select(Instrument).where(col(Instrument.id).in_(ids))).all())


def record_quotes(db: Session, quotes: Iterable[Quote], *, at: datetime | None = None) -> list[int]:
    """Store the latest price of each known symbol; returns the ids of instruments whose price
    changed, and publishes them as one "prices" event. In bulk (a tick may carry every
    instrument): one UPDATE executed for many rows, one INSERT for the new ones."""
    quotes = [q for q in quotes if q.price.is_finite() and q.price > 0]
    if not quotes:
        return []
    at = at or utcnow()
    p = InstrumentPrice
    by_symbol: dict[str, int] = {}
    existing: dict[int, tuple[Decimal, Decimal | None]] = {}
    symbols = sorted({q.symbol for q in quotes})
    for start in range(0, len(symbols), 500):
        chunk = dict(
            db.exec(
                select(col(Instrument.symbol), col(Instrument.id)).where(
                    col(Instrument.symbol).in_(symbols[start : start + 500])
                )
            ).all()
        )
        by_symbol.update({k: v for k, v in chunk.items() if v is not None})
        for iid, price, prev in db.exec(
            select(col(p.instrument_id), col(p.price), col(p.prev_close)).where(
                col(p.instrument_id).in_(list(chunk.values()))
            )
        ).all():
            existing[iid] = (price, prev)
    changed: list[int] = []
    updates: list[dict[str, object]] = []
    inserts: list[dict[str, object]] = []
    for q in quotes:
        instrument_id = by_symbol.get(q.symbol)
        if instrument_id is None:
            continue
        if instrument_id not in existing:
            inserts.append(
                {
                    "instrument_id": instrument_id,
                    "price": q.price,
                    "prev_close": q.prev_close,
                    "as_of": at,
                }
            )
            existing[instrument_id] = (q.price, q.prev_close)
            changed.append(instrument_id)
            continue
        price, prev = existing[instrument_id]
        if price != q.price:
            changed.append(instrument_id)
        updates.append(
            {
                "b_id": instrument_id,
                "b_price": q.price,
                "b_prev": q.prev_close if q.prev_close is not None else prev,
                "b_as_of": at,
            }
        )
    conn = db.connection()
    if inserts:
        conn.execute(sa.insert(p), inserts)
    if updates:
        conn.execute(
            sa.update(p)
            .where(col(p.instrument_id) == sa.bindparam("b_id"))
            .values(
                price=sa.bindparam("b_price", type_=ExactDecimal()),
                prev_close=sa.bindparam("b_prev", type_=ExactDecimal()),
                as_of=sa.bindparam("b_as_of", type_=UTCDateTime()),
            ),
            updates,
        )
    # Rows the session may hold are stale now.
    for obj in list(db.identity_map.values()):
        if isinstance(obj, InstrumentPrice):
            db.expire(obj)
    if changed:
        events.publish(db, TOPIC, (), *changed)
    return changed


def record_closes(db: Session, closes: Iterable[Close]) -> int:
    """Add daily closes not yet stored; returns how many were added."""
    closes = list(closes)
    if not closes:
        return 0
    ids = {
        i.symbol: i.id
        for i in db.exec(
            select(Instrument).where(col(Instrument.symbol).in_({c.symbol for c in closes}))
        )
    }
    have = {
        (r.instrument_id, r.day)
        for r in db.exec(
            select(DailyClose).where(
                col(DailyClose.instrument_id).in_(ids.values()),
                DailyClose.day >= min(c.day for c in closes),
            )
        )
    }
    added = 0
    for c in closes:
        instrument_id = ids.get(c.symbol)
        if instrument_id is None or (instrument_id, c.day) in have:
            continue
        db.add(DailyClose(instrument_id=instrument_id, day=c.day, close=c.close))
        have.add((instrument_id, c.day))
        added += 1
    db.flush()
    return added


def record_rates(db: Session, rates: Iterable[Rate], *, at: datetime | None = None) -> None:
    """The latest rate of each pair, and the same as that day's rate in the FX history (the
    day's last tick is its close)."""
    at = at or utcnow()
    for r in rates:
        if not r.rate.is_finite() or r.rate <= 0 or r.base == r.quote:
            continue
        row = db.get(FxRate, (r.base, r.quote))
        # The day's history row already holds this rate (the simulated rates are steady).
        steady = row is not None and row.rate == r.rate and row.as_of.date() == at.date()
        if row is None:
            row = FxRate(base=r.base, quote=r.quote, rate=r.rate, as_of=at)
        else:
            row.rate, row.as_of = r.rate, at
        db.add(row)
        if steady:
            continue
        daily = db.get(FxDailyRate, (r.base, r.quote, at.date()))
        if daily is None:
            db.add(FxDailyRate(base=r.base, quote=r.quote, day=at.date(), rate=r.rate))
        else:
            daily.rate = r.rate
            db.add(daily)
    db.flush()


def record_daily_rates(db: Session, rates: Iterable[DailyRate]) -> int:
    """Store FX history (a day's rate replaces what that day had); returns the rows written.
    Valuations from the earliest past day that changed are rebuilt by their job (a new rate for
    an earlier day changes every day after it until the pair's next rate)."""
    written, earliest = 0, None
    for r in rates:
        if not r.rate.is_finite() or r.rate <= 0 or r.base == r.quote:
            continue
        row = db.get(FxDailyRate, (r.base, r.quote, r.day))
        if row is not None and row.rate == r.rate:
            continue
        if row is None:
            row = FxDailyRate(base=r.base, quote=r.quote, day=r.day, rate=r.rate)
        else:
            row.rate = r.rate
        db.add(row)
        written += 1
        earliest = r.day if earliest is None else min(earliest, r.day)
    db.flush()
    if earliest is not None:
        stale_valuations_from(db, earliest)
    return written


def stale_valuations_from(db: Session, day: date) -> None:
    """Mark every portfolio's stored valuations from `day` on as out of date: readers compute
    them afresh until the valuation job (which rebuilds from `day`) has run."""
    s = ValuationState
    db.exec(
        sa.update(s)
        .where(col(s.built_through) >= day)
        .values(built_through=day - timedelta(days=1))
    )


def fx_table(db: Session) -> FxTable:
    return {
        (base, quote): rate
        for base, quote, rate in db.exec(
            select(col(FxRate.base), col(FxRate.quote), col(FxRate.rate))
        )
    }


def rate(table: FxTable, base: str, quote: str) -> Decimal | None:
    """Units of `quote` for one unit of `base`: direct, inverted, or across USD."""
    if base == quote:
        return Decimal(1)
    if (base, quote) in table:
        return table[(base, quote)]
    if (quote, base) in table:
        return Decimal(1) / table[(quote, base)]
    if "USD" not in (base, quote):
        to_usd, from_usd = rate(table, base, "USD"), rate(table, "USD", quote)
        if to_usd is not None and from_usd is not None:
            return to_usd * from_usd
    return None


def convert(table: FxTable, amount: Decimal, base: str, quote: str) -> Decimal | None:
    r = rate(table, base, quote)
    return None if r is None else amount * r


Converter = Callable[[Decimal, str], Decimal | None]


class FxHistory:
    """FX rates by day: each pair at its rate of the last day on or before the day asked (the
    first day it has, for a day before it), pairs without history at their latest rate; then
    direct, inverted or across USD as `rate` does."""

    def __init__(self, latest: FxTable, daily: Iterable[tuple[str, str, date, Decimal]]) -> None:
        self._latest = latest
        by_pair: dict[tuple[str, str], list[tuple[date, Decimal]]] = {}
        for base, quote, day, value in daily:
            by_pair.setdefault((base, quote), []).append((day, value))
        self._days = {p: [d for d, _ in sorted(rows)] for p, rows in by_pair.items()}
        self._rates = {p: [v for _, v in sorted(rows)] for p, rows in by_pair.items()}
        self._tables: dict[date, FxTable] = {}

    def table_on(self, day: date) -> FxTable:
        table = self._tables.get(day)
        if table is None:
            table = dict(self._latest)
            for pair, days in self._days.items():
                k = bisect.bisect_right(days, day)
                table[pair] = self._rates[pair][k - 1 if k else 0]
            self._tables[day] = table
        return table

    def rate(self, base: str, quote: str, day: date) -> Decimal | None:
        return rate(self.table_on(day), base, quote)

    def to(self, quote: str) -> DatedConverter:
        return DatedConverter(self, quote)


class DatedConverter:
    """Amounts into one currency at a given day's rates: `.on(day)` is that day's converter."""

    def __init__(self, history: FxHistory, quote: str) -> None:
        self.history, self.quote = history, quote
        self._by_day: dict[date, Converter] = {}

    def on(self, day: date) -> Converter:
        fn = self._by_day.get(day)
        if fn is None:
            table, quote = self.history.table_on(day), self.quote

            def fn(amount: Decimal, ccy: str) -> Decimal | None:
                return convert(table, amount, ccy, quote)

            self._by_day[day] = fn
        return fn


def fx_history(db: Session, currencies: Iterable[str] | None = None) -> FxHistory:
    """The FX history of the pairs between these currencies and USD (all pairs: None)."""
    d = FxDailyRate
    stmt = select(col(d.base), col(d.quote), col(d.day), col(d.rate))
    if currencies is not None:
        wanted = sorted({*currencies, "USD"})
        stmt = stmt.where(col(d.base).in_(wanted), col(d.quote).in_(wanted))
    return FxHistory(fx_table(db), db.exec(stmt).all())


def latest_prices(db: Session, instrument_ids: Iterable[int]) -> dict[int, InstrumentPrice]:
    ids = list(instrument_ids)
    if not ids:
        return {}
    return {
        p.instrument_id: p
        for p in db.exec(select(InstrumentPrice).where(col(InstrumentPrice.instrument_id).in_(ids)))
    }


def fetch(
    db: Session,
    provider: MarketDataProvider,
    instruments: list[Instrument],
    reporting: Iterable[str] = ("USD",),
) -> list[int]:
    """One tick: the provider's latest quotes for these instruments and the FX rates their
    currencies need; returns the instruments whose price changed."""
    if not instruments:
        return []
    changed = record_quotes(db, provider.latest([i.symbol for i in instruments]))
    pairs = fx_pairs(instruments, reporting)
    if pairs:
        record_rates(db, provider.fx_rates(sorted(pairs)))
    return changed


def fx_pairs(instruments: Iterable[Instrument], reporting: Iterable[str]) -> set[tuple[str, str]]:
    """The FX pairs these instruments' currencies need: into each reporting currency, and USD."""
    reporting = tuple(reporting)
    pairs = {(i.currency, r) for i in instruments for r in reporting if i.currency != r}
    return pairs | {(c, "USD") for c, _ in pairs if c != "USD"}


def backfill_fx_history(
    db: Session,
    provider: MarketDataProvider,
    pairs: Iterable[tuple[str, str]],
    *,
    today: date | None = None,
) -> int:
    """Two years of FX history for the pairs that have none yet but today's (first start)."""
    today = today or utcnow().date()
    d = FxDailyRate
    todo = []
    for base, quote in sorted(set(pairs)):
        older = db.exec(
            select(col(d.day)).where(d.base == base, d.quote == quote, col(d.day) < today).limit(1)
        ).first()
        if older is None:
            todo.append((base, quote))
    if not todo:
        return 0
    return record_daily_rates(
        db, provider.fx_history(todo, today - timedelta(days=HISTORY_DAYS), today)
    )


def backfill_history(
    db: Session,
    provider: MarketDataProvider,
    instruments: list[Instrument],
    *,
    today: date | None = None,
) -> int:
    """Daily closes for the past two years for instruments that have none yet (first start)."""
    today = today or utcnow().date()
    with_history = set(
        db.exec(
            select(DailyClose.instrument_id)
            .where(col(DailyClose.instrument_id).in_([i.id for i in instruments]))
            .distinct()
        ).all()
    )
    added = 0
    for i in instruments:
        if i.id in with_history:
            continue
        added += record_closes(
            db, provider.daily_closes(i.symbol, today - timedelta(days=HISTORY_DAYS), today)
        )
    return added
