"""Performance through the services on a real database: the daily valuation table kept by its
job (and rebuilt from the day a backdated transaction counts), the figures and chart series the
service gives for the worked example of test_performance_math, the benchmark in the reporting
currency, bad input refused, and who may read it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from sqlmodel import select

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.performance import PortfolioValuation
from brm_app.models.portfolio import Portfolio
from brm_app.models.user import Role
from brm_app.providers.market_data import Close, DailyRate, Rate
from brm_app.services import instruments, market_data, performance, portfolios, valuations
from brm_app.services.errors import NotFound, ValidationFailed
from tests.factories import make_firm, make_user

SYSTEM = SystemActor(label="system:test")
MON, TUE, WED, THU, FRI = (date(2026, 3, d) for d in (2, 3, 4, 5, 6))
NEXT_MON = date(2026, 3, 9)


def call(fn, actor=SYSTEM, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, actor=actor, **kw)


@pytest.fixture
def book(database_url, monkeypatch):
    monkeypatch.setattr(valuations, "today", lambda: NEXT_MON)
    for symbol, ccy in (("AAA", "USD"), ("IDX", "EUR")):
        call(
            instruments.create_instrument,
            data={"symbol": symbol, "name": symbol, "asset_class": "equity", "currency": ccy},
        )
    closes = [(MON, 100), (TUE, 110), (WED, 105), (THU, 54), (FRI, 45)]
    with unit_of_work(write=True) as db:
        market_data.record_closes(db, [Close("AAA", d, D(c)) for d, c in closes])
        market_data.record_closes(
            db, [Close("IDX", d, D(c)) for d, c in [(TUE, 200), (THU, 210), (FRI, 220)]]
        )
        market_data.record_rates(db, [Rate("EUR", "USD", D("1.1"))])

    class Book:
        broker = make_user(Role.BROKER)
        stranger = make_user(Role.BROKER)
        manager = make_user(Role.MANAGER)
        firm = make_firm(broker, name="Perf Co")

    def tx(**data):
        return call(
            portfolios.book_transaction, actor=Book.broker, firm_id=Book.firm.firm_id, data=data
        )

    tx(kind="deposit", amount="1000", trade_date="2026-03-02", currency="USD")
    tx(kind="buy", symbol="AAA", quantity="10", price="100", trade_date="2026-03-02")
    tx(kind="deposit", amount="500", trade_date="2026-03-04", currency="USD")
    tx(kind="split", symbol="AAA", quantity="2", trade_date="2026-03-05")
    tx(kind="sell", symbol="AAA", quantity="20", price="45", trade_date="2026-03-06")
    tx(kind="withdrawal", amount="400", trade_date="2026-03-09", currency="USD")
    Book.tx = staticmethod(tx)
    return Book


def stored(firm_id):
    with unit_of_work() as db:
        pid = db.exec(select(Portfolio.id).where(Portfolio.firm_id == firm_id)).one()
        return db.exec(
            select(PortfolioValuation)
            .where(PortfolioValuation.portfolio_id == pid)
            .order_by(PortfolioValuation.day)
        ).all()


def run_jobs():
    with unit_of_work(write=True) as db:
        queued = valuations.enqueue_stale(db)
    Runner(handlers(), periodic_seconds=0).run_round()
    return queued


def test_the_job_keeps_the_table_and_a_backdated_transaction_rebuilds_from_its_day(book):
    assert run_jobs() == 1
    rows = stored(book.firm.firm_id)
    assert [(r.day, r.value, r.flow) for r in rows] == [
        (MON, 1000, 1000),
        (TUE, 1100, 0),
        (WED, 1550, 500),
        (THU, 1580, 0),
        (FRI, 1400, 0),
        (NEXT_MON, 1000, -400),
    ]
    assert rows[-1].twr_index == pytest.approx(0.9625, abs=1e-9)
    assert run_jobs() == 0  # current: nothing to do
    # A fee booked back on Wednesday: Monday and Tuesday stay, the rest is rewritten.
    before = {r.day: r for r in rows}
    book.tx(kind="fee", amount="50", trade_date="2026-03-04", currency="USD")
    with unit_of_work() as db:
        portfolio = db.exec(select(Portfolio).where(Portfolio.firm_id == book.firm.firm_id)).one()
        assert valuations.rebuild_from(db, portfolio) == WED
    assert run_jobs() == 1
    after = stored(book.firm.firm_id)
    assert [r.value for r in after] == [1000, 1100, 1500, 1530, 1350, 950]
    assert after[0].twr_index == before[MON].twr_index and after[1].twr_index == 1.1
    assert after[2].daily_return == pytest.approx(1500 / 1600 - 1, abs=1e-12)


def test_figures_and_series_for_a_period_against_a_benchmark(book):
    run_jobs()
    out = call(
        performance.get_performance,
        actor=book.broker,
        firm_id=book.firm.firm_id,
        period="custom",
        date_from="2026-03-04",
        date_to="2026-03-06",
        benchmark="IDX",
    )
    f = out.figures
    assert (out.base_day, out.end_day) == (TUE, FRI)
    assert (f.start_value, f.end_value, f.net_flows, f.gain) == (
        D("1100.00"),
        D("1400.00"),
        D("500.00"),
        D("-200.00"),
    )
    assert round(f.twr, 6) == -0.125 and round(f.max_drawdown, 6) == -0.125
    assert f.realized_pnl == D("-100.00")
    # IDX in EUR, converted at 1.1: 200 -> 220 is +10% either way, from Tuesday's close.
    assert round(f.benchmark_return, 6) == 0.1
    # The chart series carry the same figures.
    assert [p.day for p in out.points] == [WED, THU, FRI]
    assert out.points[-1].cumulative_return == pytest.approx(f.twr, abs=1e-12)
    assert min(p.drawdown for p in out.points) == pytest.approx(f.max_drawdown, abs=1e-12)
    assert [p.flow for p in out.points] == [D("500.00"), 0, 0]
    assert [round(p.benchmark_return, 6) for p in out.points] == [0.0, 0.05, 0.1]
    since = call(
        performance.get_performance,
        actor=book.manager,
        firm_id=book.firm.firm_id,
        period="inception",
    )
    assert round(since.figures.twr, 6) == -0.0375 and since.figures.gain == D("-100.00")
    assert since.points_total == 6 and since.benchmark is None
    # Cash only at the end: all of it in the cash slice.
    assert [(s.label, s.value) for s in since.by_asset_class] == [("cash", D("1000.00"))]


def test_the_benchmark_is_converted_at_each_days_rate_from_the_fx_history(book):
    """EUR/USD 1.1 on Tuesday, 1.2 on Wednesday, 1.0 on Thursday, 1.05 on Friday (imported
    history); IDX closes 200 (Tue), 210 (Thu), 220 (Fri) in EUR. In USD, by hand: 220 on the base
    day, Wednesday 200 x 1.2 = 240 (no close, but the rate moved), Thursday 210 x 1.0 = 210,
    Friday 220 x 1.05 = 231."""
    run_jobs()
    rates = [(TUE, "1.1"), (WED, "1.2"), (THU, "1.0"), (FRI, "1.05")]
    with unit_of_work(write=True) as db:
        written = market_data.record_daily_rates(
            db, [DailyRate("EUR", "USD", d, D(r)) for d, r in rates]
        )
    assert written == 4
    out = call(
        performance.get_performance,
        actor=book.broker,
        firm_id=book.firm.firm_id,
        period="custom",
        date_from="2026-03-04",
        date_to="2026-03-06",
        benchmark="IDX",
    )
    got = [p.benchmark_return for p in out.points]
    want = [240 / 220 - 1, 210 / 220 - 1, 231 / 220 - 1]
    assert [round(g, 6) for g in got] == [round(w, 6) for w in want] == [0.090909, -0.045455, 0.05]
    assert round(out.figures.benchmark_return, 6) == 0.05
    # The portfolio holds USD only: its figures do not move with the rate.
    assert round(out.figures.twr, 6) == -0.125


def test_fx_history_for_a_past_day_makes_the_stored_valuations_stale_from_it(book):
    run_jobs()
    with unit_of_work() as db:
        portfolio = db.exec(select(Portfolio).where(Portfolio.firm_id == book.firm.firm_id)).one()
        assert valuations.rebuild_from(db, portfolio) is False
    with unit_of_work(write=True) as db:
        market_data.record_daily_rates(db, [DailyRate("EUR", "USD", WED, D("1.2"))])
        # The same rate again changes nothing.
        assert market_data.record_daily_rates(db, [DailyRate("EUR", "USD", WED, D("1.2"))]) == 0
    with unit_of_work() as db:
        portfolio = db.exec(select(Portfolio).where(Portfolio.firm_id == book.firm.firm_id)).one()
        # Built through Tuesday now: the next build redoes Tuesday (as always) and what follows.
        assert valuations.rebuild_from(db, portfolio) == TUE
    assert run_jobs() == 1
    assert [r.value for r in stored(book.firm.firm_id)] == [1000, 1100, 1550, 1580, 1400, 1000]


def test_the_next_days_build_redoes_the_last_day_with_its_closing_fx_rate(book, monkeypatch):
    """100 EUR deposited on Monday, valued at 1.1 when Monday was built; the day's later ticks
    move EUR/USD to 1.2 (no rebuild for a tick); Tuesday's build redoes Monday at 1.2."""
    book.tx(kind="deposit", amount="100", trade_date="2026-03-09", currency="EUR")
    run_jobs()
    assert stored(book.firm.firm_id)[-1].value == D("1110.0")
    with unit_of_work(write=True) as db:
        market_data.record_rates(
            db, [Rate("EUR", "USD", D("1.2"))], at=datetime(2026, 3, 9, 21, tzinfo=UTC)
        )
    monkeypatch.setattr(valuations, "today", lambda: date(2026, 3, 10))
    assert run_jobs() == 1
    rows = stored(book.firm.firm_id)
    assert [(r.day, r.value) for r in rows[-2:]] == [
        (NEXT_MON, D("1120.0")),
        (date(2026, 3, 10), D("1120.0")),
    ]


def test_a_tick_writes_the_days_fx_history(book):
    at = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    with unit_of_work(write=True) as db:
        market_data.record_rates(db, [Rate("EUR", "USD", D("1.15"))], at=at)
        market_data.record_rates(db, [Rate("EUR", "USD", D("1.16"))], at=at)
        h = market_data.fx_history(db, {"EUR"})
    assert h.rate("EUR", "USD", date(2026, 3, 10)) == D("1.16")
    # Before it: the first rate the history has.
    assert h.rate("EUR", "USD", MON) == D("1.16")


def test_the_service_reads_current_figures_before_the_job_ran(book):
    out = call(
        performance.get_performance,
        actor=book.broker,
        firm_id=book.firm.firm_id,
        period="inception",
        max_points=3,
    )
    assert round(out.figures.twr, 6) == -0.0375
    # Downsampled to 3 spread points (the days with flows are kept: they are marked).
    assert [p.day for p in out.points] == [MON, WED, NEXT_MON]


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"period": "2Y"}, "period"),
        ({"period": "custom"}, "date_from"),
        ({"period": "custom", "date_from": "2026-03-06", "date_to": "2026-03-02"}, "date_from"),
        ({"period": "custom", "date_from": "x", "date_to": "2026-03-02"}, "date_from"),
        ({"benchmark": "NOPE"}, "benchmark"),
        ({"benchmark": "999999"}, "benchmark"),
    ],
)
def test_bad_input_is_refused(book, kw, field):
    with pytest.raises(ValidationFailed) as exc:
        call(performance.get_performance, actor=book.broker, firm_id=book.firm.firm_id, **kw)
    assert field in exc.value.errors


def test_a_broker_not_covering_the_firm_sees_nothing(book):
    with pytest.raises(NotFound):
        call(performance.get_performance, actor=book.stranger, firm_id=book.firm.firm_id)
