"""Market data: the simulated feed is reproducible by seed, the CSV provider reads what a market
data module publishes, FX converts directly, inverted and across USD, and one process holds the
feed lease and stores ticks and two years of closes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from sqlmodel import func, select

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work, utcnow
from brm_app.market_feed import Feed
from brm_app.models.portfolio import DailyClose, FxDailyRate, InstrumentPrice
from brm_app.providers.market_data import CsvMarketData, Quote, SimulatedMarketData
from brm_app.services import instruments, market_data, portfolios
from tests.factories import make_firm, make_user

SYSTEM = SystemActor(label="system:test")


def test_the_simulated_feed_is_reproducible_by_seed():
    day = date(2026, 3, 2)
    a, b, c = (SimulatedMarketData(seed=s, today=day) for s in (7, 7, 8))
    closes_a = a.daily_closes("AAPL", day - timedelta(days=731), day)
    assert closes_a == b.daily_closes("AAPL", day - timedelta(days=731), day)
    assert closes_a != c.daily_closes("AAPL", day - timedelta(days=731), day)
    assert 500 <= len(closes_a) <= 530  # business days of two years
    assert all(x.day.weekday() < 5 and x.close > 0 for x in closes_a)
    ticks_a = [a.latest(["AAPL", "MSFT"]) for _ in range(5)]
    ticks_b = [b.latest(["AAPL", "MSFT"]) for _ in range(5)]
    assert ticks_a == ticks_b
    assert len({t[0].price for t in ticks_a}) > 1  # it moves
    # A symbol's path does not depend on which others are asked for.
    alone = SimulatedMarketData(seed=7, today=day)
    assert [alone.latest(["MSFT"])[0] for _ in range(5)] == [t[1] for t in ticks_a]
    # Ticks start from the last close before today.
    assert (
        ticks_a[0][0].prev_close
        == a.daily_closes("AAPL", day - timedelta(days=5), day - timedelta(days=1))[-1].close
    )


def test_csv_provider_reads_quotes_closes_and_fx(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(
        "symbol,price,prev_close,date\n"
        "AAPL,190.25,188.00,\n"
        "AAPL,188.00,,2026-03-02\n"
        "EUR/USD,1.0850,,\n"
        "BAD,-1,,\n"
    )
    p = CsvMarketData(str(path))
    assert p.latest(["AAPL", "BAD"]) == [Quote("AAPL", D("190.25"), D("188.00"))]
    assert [c.close for c in p.daily_closes("AAPL", date(2026, 1, 1), date(2026, 12, 31))] == [
        D("188.00")
    ]
    assert [r.rate for r in p.fx_rates([("EUR", "USD")])] == [D("1.0850")]


def test_fx_direct_inverse_and_cross():
    table = {("EUR", "USD"): D("1.25"), ("USD", "JPY"): D("150")}
    assert market_data.rate(table, "EUR", "USD") == D("1.25")
    assert market_data.rate(table, "USD", "EUR") == D("0.8")
    assert market_data.rate(table, "EUR", "JPY") == D("187.5")
    assert market_data.rate(table, "GBP", "USD") is None


def test_one_feed_holds_the_lease_and_stores_ticks_and_history(database_url):
    broker = make_user()
    firm = make_firm(broker)
    with unit_of_work(write=True) as db:
        instruments.create_instrument(
            db,
            actor=SYSTEM,
            data={"symbol": "SAP", "name": "SAP", "asset_class": "equity", "currency": "EUR"},
        )
        portfolios.book_transaction(
            db,
            actor=broker,
            firm_id=firm.firm_id,
            data={
                "kind": "buy",
                "symbol": "SAP",
                "quantity": "3",
                "price": "100",
                "trade_date": "2026-03-02",
            },
        )
    first, second = Feed(SimulatedMarketData(seed=1)), Feed(SimulatedMarketData(seed=1))
    assert first.tick()  # holds the lease, stores a price
    assert second.tick() == []  # the lease is held: it fetches nothing
    assert second.take_lease() is False
    with unit_of_work() as db:
        closes = db.exec(select(func.count()).select_from(DailyClose)).one()
        price = db.exec(select(InstrumentPrice)).one()
        assert market_data.rate(market_data.fx_table(db), "EUR", "USD") is not None
    assert closes > 500
    # The holder stops renewing: after the lease runs out the other takes over.
    later = utcnow() + timedelta(seconds=30)
    assert second.take_lease(now=later) is True
    assert first.take_lease(now=later + timedelta(seconds=1)) is False
    p = None
    with unit_of_work() as db:
        p = portfolios.get_portfolio(db, actor=broker, firm_id=firm.firm_id)
    assert p.assets[0].last_price == price.price


def test_simulated_fx_history_meets_the_latest_rate_and_is_reproducible():
    day = date(2026, 3, 2)  # a Monday
    a, b = SimulatedMarketData(seed=7, today=day), SimulatedMarketData(seed=7, today=day)
    start = day - timedelta(days=731)
    hist = a.fx_history([("EUR", "USD"), ("USD", "JPY")], start, day)
    assert hist == b.fx_history([("EUR", "USD"), ("USD", "JPY")], start, day)
    eur = [r for r in hist if r.base == "EUR"]
    assert 500 <= len(eur) <= 530 and all(r.day.weekday() < 5 for r in eur)
    assert len({r.rate for r in eur}) > 100  # it moves
    # The last day is the latest rate the feed gives.
    assert eur[-1].day == day
    assert eur[-1].rate == a.fx_rates([("EUR", "USD")])[0].rate == D("1.08")
    jpy = [r for r in hist if r.quote == "JPY"]
    assert jpy[-1].rate == a.fx_rates([("USD", "JPY")])[0].rate


def test_csv_provider_reads_fx_history(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(
        "symbol,price,prev_close,date\n"
        "EUR/USD,1.0850,,\n"
        "EUR/USD,1.0800,,2026-03-03\n"
        "EUR/USD,1.0700,,2026-03-02\n"
        "GBP/USD,1.2700,,2026-03-02\n"
    )
    got = CsvMarketData(str(path)).fx_history(
        [("EUR", "USD")], date(2026, 1, 1), date(2026, 12, 31)
    )
    assert [(r.day, r.rate) for r in got] == [
        (date(2026, 3, 2), D("1.0700")),
        (date(2026, 3, 3), D("1.0800")),
    ]


def test_the_feed_backfills_two_years_of_fx_history_once(database_url):
    broker = make_user()
    firm = make_firm(broker)
    with unit_of_work(write=True) as db:
        instruments.create_instrument(
            db,
            actor=SYSTEM,
            data={"symbol": "SAP", "name": "SAP", "asset_class": "equity", "currency": "EUR"},
        )
        portfolios.book_transaction(
            db,
            actor=broker,
            firm_id=firm.firm_id,
            data={"kind": "buy", "symbol": "SAP", "quantity": "3", "price": "100",
                  "trade_date": "2026-03-02"},
        )  # fmt: skip
    feed = Feed(SimulatedMarketData(seed=1))
    feed.tick()
    with unit_of_work() as db:
        rows = db.exec(select(func.count()).select_from(FxDailyRate)).one()
        h = market_data.fx_history(db, {"EUR"})
        old = utcnow().date() - timedelta(days=365)
        assert h.rate("EUR", "USD", old) != h.rate("EUR", "USD", utcnow().date())
    assert rows > 500
    feed.tick()
    with unit_of_work(write=True) as db:
        assert db.exec(select(func.count()).select_from(FxDailyRate)).one() == rows
        assert market_data.backfill_fx_history(db, feed.provider, {("EUR", "USD")}) == 0
