"""Bulk portfolios for the benchmark: instruments with two years of daily closes, portfolios for
every tenth firm with their transactions, and the holdings and cash kept from their ledgers.

Written straight into the tables (executemany in batches, like services.seed), not through the
booking service: two million transactions through one service call each would take hours. Every
portfolio's holdings and cash come from services.ledger over its own transactions, so what the
app reads is what it would have computed; no transaction sells more than is held.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from brm_app.encryption.columns import new_row_key
from brm_app.models.portfolio import (
    DailyClose,
    FxRate,
    Instrument,
    InstrumentPrice,
    Portfolio,
    PortfolioCash,
    PortfolioHolding,
    PortfolioTransaction,
)
from brm_app.providers.market_data import SimulatedMarketData
from brm_app.services.ledger import Tx, compute

CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP", "CHF", "JPY")
CLASSES = ("equity", "equity", "equity", "fund", "bond", "commodity")
BATCH = 20_000
# After explicit ids on PostgreSQL: each table's id sequence continues after its largest id.
_SETVAL = "SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"


@dataclass(frozen=True)
class PortfolioPlan:
    portfolios: int = 10_000
    instruments: int = 5_000
    holdings_per_portfolio: int = 20
    # Per holding: buys, then sells of part of them, then a dividend (10 transactions).
    buys: int = 7
    sells: int = 2
    days: int = 731
    seed: int = 1
    anchor: date = date(2026, 3, 2)


@dataclass
class PortfolioSeedResult:
    instruments: int = 0
    daily_closes: int = 0
    portfolios: int = 0
    transactions: int = 0
    holdings: int = 0
    first_portfolio_firm_id: int = 0
    steps: dict[str, float] = field(default_factory=dict)


def _converter(
    table: sa.Table, columns: Sequence[str], dialect: sa.Dialect
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """The columns' own bind conversions (exact decimals as canonical text on SQLite, UTC
    times naive, ...), each value converted once: the seed repeats the same prices, dates and
    times many times over, and converting them row by row was most of the seed's time."""
    procs = [
        (i, table.c[name].type._cached_bind_processor(dialect)) for i, name in enumerate(columns)
    ]
    convert: list[tuple[int, Any, dict[Any, Any]]] = [(i, p, {}) for i, p in procs if p is not None]

    def row_of(values: tuple[Any, ...]) -> tuple[Any, ...]:
        if not convert:
            return values
        out = list(values)
        for i, proc, seen in convert:
            value = out[i]
            if value is None:
                continue
            try:
                out[i] = seen[value]
            except KeyError:
                out[i] = seen[value] = proc(value)
                if len(seen) > 500_000:
                    seen.clear()
        return tuple(out)

    return row_of


def _insert(
    db: Session, model: type[SQLModel], columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    """Rows straight to the driver in batches, the column types' conversions applied once per
    distinct value: executemany on SQLite, COPY on PostgreSQL (psycopg)."""
    table = model.__table__  # type: ignore[attr-defined]
    conn = db.connection()
    row_of = _converter(table, columns, conn.dialect)
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        n = 0
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row_of(row))
                n += 1
        return n
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join([mark] * len(columns))})"  # noqa: S608
    batch: list[tuple[Any, ...]] = []
    n = 0
    for row in rows:
        batch.append(row_of(row))
        if len(batch) >= BATCH:
            conn.exec_driver_sql(sql, batch)
            n += len(batch)
            batch = []
    if batch:
        conn.exec_driver_sql(sql, batch)
        n += len(batch)
    return n


def bulk_load_portfolios(
    db: Session,
    plan: PortfolioPlan,
    *,
    firm_ids: Sequence[int],
    progress: Callable[[str], None] = lambda _: None,
) -> PortfolioSeedResult:
    """Seed `plan` onto the given firms (one portfolio each, in order, up to plan.portfolios)."""
    rng = random.Random(plan.seed)
    result = PortfolioSeedResult()
    now = datetime.combine(plan.anchor, datetime.min.time(), tzinfo=UTC)
    t = time.perf_counter()

    # Instruments and their history.
    instruments = []
    for i in range(plan.instruments):
        instruments.append(
            (
                i + 1,
                f"B{i + 1:05d}",
                f"Bench Instrument {i + 1}",
                CLASSES[i % len(CLASSES)],
                CURRENCIES[i % len(CURRENCIES)],
                True,
                now,
                now,
            )
        )
    result.instruments = _insert(
        db,
        Instrument,
        ("id", "symbol", "name", "asset_class", "currency", "active", "created_at", "updated_at"),
        instruments,
    )
    feed = SimulatedMarketData(seed=plan.seed, today=plan.anchor)
    start = plan.anchor - timedelta(days=plan.days)
    closes: dict[int, list[tuple[date, Decimal]]] = {}

    def close_rows() -> Iterable[tuple[Any, ...]]:
        for iid, symbol, *_ in instruments:
            series = [(c.day, c.close) for c in feed.daily_closes(symbol, start, plan.anchor)]
            closes[iid] = series
            for day, close in series:
                yield (iid, day, (close))

    result.daily_closes = _insert(db, DailyClose, ("instrument_id", "day", "close"), close_rows())
    _insert(
        db,
        InstrumentPrice,
        ("instrument_id", "price", "prev_close", "as_of"),
        ((iid, (s[-1][1]), (s[-2][1]), now) for iid, s in closes.items()),
    )
    rates = feed.fx_rates([(c, "USD") for c in sorted(set(CURRENCIES)) if c != "USD"])
    _insert(
        db,
        FxRate,
        ("base", "quote", "rate", "as_of"),
        ((r.base, r.quote, (r.rate), now) for r in rates),
    )
    result.steps["instruments"] = round(time.perf_counter() - t, 2)
    progress(f"{result.instruments:,} instruments, {result.daily_closes:,} daily closes")

    # Portfolios, their transactions, and the holdings and cash their ledgers give.
    t = time.perf_counter()
    chosen = list(firm_ids[: plan.portfolios])
    result.first_portfolio_firm_id = chosen[0] if chosen else 0
    _insert(
        db,
        Portfolio,
        ("id", "firm_id", "allow_short", "created_at", "updated_at"),
        ((n + 1, fid, False, now, now) for n, fid in enumerate(chosen)),
    )
    result.portfolios = len(chosen)
    tx_cols = (
        "id", "portfolio_id", "kind", "instrument_id", "trade_date", "settlement_date",
        "quantity", "price", "amount", "currency", "fees", "source", "created_at", "row_key",
    )  # fmt: skip
    holdings: list[tuple[Any, ...]] = []
    cash_rows: list[tuple[Any, ...]] = []
    next_id = [1]

    def tx_rows() -> Iterable[tuple[Any, ...]]:
        for n in range(len(chosen)):
            pid = n + 1
            txs: list[Tx] = []
            first = start + timedelta(days=rng.randrange(30))
            rows: list[tuple[Any, ...]] = [(next_id[0], pid, "deposit", None, first, first, None, None,
                     Decimal(50_000_000), "USD", Decimal(0), "import", now)]  # fmt: skip
            next_id[0] += 1
            for iid in rng.sample(range(1, plan.instruments + 1), plan.holdings_per_portfolio):
                series = closes[iid]
                currency = instruments[iid - 1][4]
                days = sorted(rng.sample(range(len(series) - 1), plan.buys + plan.sells + 1))
                held = Decimal(0)
                for k, idx in enumerate(days):
                    day, price = series[idx]
                    if k < plan.buys:
                        kind, qty = "buy", Decimal(rng.randrange(10, 500))
                        held += qty
                    elif k < plan.buys + plan.sells:
                        kind, qty = "sell", (held / 4).to_integral_value()
                        held -= qty
                    else:
                        rows.append((next_id[0], pid, "dividend", iid, day, day, None, None,
                                     Decimal(rng.randrange(10, 900)), currency, Decimal(0),
                                     "import", now))  # fmt: skip
                        next_id[0] += 1
                        continue
                    settle = day + timedelta(days=2)
                    rows.append((next_id[0], pid, kind, iid, day, settle, qty, price, None,
                                 currency, Decimal("1.50"), "import", now))  # fmt: skip
                    next_id[0] += 1
            for r in rows:
                txs.append(Tx(id=r[0], kind=r[2], trade_date=r[4], currency=r[9],
                              instrument_id=r[3], quantity=r[6], price=r[7], amount=r[8],
                              fees=r[10]))  # fmt: skip
            ledger = compute(txs)
            for pos in ledger.positions.values():
                holdings.append((pid, pos.instrument_id, pos.currency, (pos.quantity),
                                 (pos.cost), (pos.realized)))  # fmt: skip
            for currency in sorted(set(ledger.cash) | set(ledger.contributions)):
                cash_rows.append((pid, currency, (ledger.cash.get(currency, Decimal(0))),
                                  (ledger.contributions.get(currency, Decimal(0)))))  # fmt: skip
            for r in rows:
                yield (*r[:6], *(None if v is None else (v) for v in r[6:9]), r[9],
                       (r[10]), r[11], r[12], new_row_key())  # fmt: skip
            if (n + 1) % 1000 == 0:
                progress(f"{n + 1:,} of {len(chosen):,} portfolios")

    result.transactions = _insert(db, PortfolioTransaction, tx_cols, tx_rows())
    result.holdings = _insert(
        db,
        PortfolioHolding,
        ("portfolio_id", "instrument_id", "currency", "quantity", "cost", "realized"),
        holdings,
    )
    _insert(
        db,
        PortfolioCash,
        ("portfolio_id", "currency", "balance", "contributions"),
        cash_rows,
    )
    if db.get_bind().dialect.name == "postgresql":
        for name in ("instruments", "portfolios", "portfolio_transactions"):
            db.connection().execute(sa.text(_SETVAL.format(name=name)))
    result.steps["portfolios"] = round(time.perf_counter() - t, 2)
    return result
