"""Worked examples for every performance figure, computed by hand here (a deposit mid-period, a
2-for-1 split, a sell at a loss, a withdrawal), to the cent and to 1e-6."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal as D

import pytest

from brm_app.services import performance_math as pm
from brm_app.services.ledger import Tx
from brm_app.services.valuation_series import Closes, FlowTx, value_series, weekdays

A, B = 1, 2
MON, TUE, WED, THU, FRI = (date(2026, 3, d) for d in (2, 3, 4, 5, 6))
NEXT_MON = date(2026, 3, 9)


def tx(i, kind, day, settle=None, **kw):
    return FlowTx(Tx(id=i, kind=kind, trade_date=day, currency="USD", **kw), settle or day)


BOOK = [
    tx(1, "deposit", MON, amount=D(1000)),
    tx(2, "buy", MON, instrument_id=A, quantity=D(10), price=D(100)),
    tx(3, "deposit", WED, amount=D(500)),
    tx(4, "split", THU, instrument_id=A, quantity=D(2)),
    tx(5, "sell", FRI, instrument_id=A, quantity=D(20), price=D(45)),
    tx(6, "withdrawal", NEXT_MON, amount=D(400)),
]
CLOSES = Closes({A: [(MON, D(100)), (TUE, D(110)), (WED, D(105)), (THU, D(54)), (FRI, D(45))]})


def same(amount, currency):
    return amount


@pytest.fixture
def series():
    return value_series(BOOK, CLOSES, same, through=NEXT_MON)


def test_values_flows_and_daily_returns_by_hand(series):
    assert [p.day for p in series] == [MON, TUE, WED, THU, FRI, NEXT_MON]
    # Mon: 10 x 100, no cash; Tue: 10 x 110; Wed: 10 x 105 + 500 deposited;
    # Thu: 20 (after the split) x 54 + 500; Fri: all sold at 45 -> 900 + 500; Mon: 400 out.
    assert [p.value for p in series] == [1000, 1100, 1550, 1580, 1400, 1000]
    assert [p.flow for p in series] == [1000, 0, 500, 0, 0, -400]
    expected = [
        1000 / (0 + 1000) - 1,  # 0
        1100 / 1000 - 1,  # 0.1
        1550 / (1100 + 500) - 1,  # -0.03125: the deposit counts at the start of Wednesday
        1580 / 1550 - 1,  # the split changes nothing by itself: 20 x 54 vs 10 x 105
        1400 / 1580 - 1,
        1000 / (1400 - 400) - 1,  # 0
    ]
    for got, want in zip(series, expected, strict=True):
        assert got.daily_return == pytest.approx(want, abs=1e-9)
    # 1 x 1.1 x 0.96875 x (1580/1550) x (1400/1580) x 1 = 0.9625
    assert series[-1].twr_index == pytest.approx(0.9625, abs=1e-9)
    # Below the peak of 1.1 (Tuesday) since Wednesday.
    assert [round(p.drawdown, 6) for p in series] == [
        0,
        0,
        round(1.065625 / 1.1 - 1, 6),
        round(1.08625 / 1.1 - 1, 6),
        -0.125,
        -0.125,
    ]
    # The sell at a loss: cost 1,000 (10 x 100, unchanged by the split), proceeds 20 x 45 = 900.
    assert series[-1].realized == D(-100)
    assert series[-1].market_value == 0 and series[-1].cost == 0


def test_since_inception_metrics(series):
    w = pm.window(series, None, NEXT_MON)
    m = pm.metrics(w)
    assert m.start_value == 0 and m.end_value == D("1000")
    assert m.net_flows == D(1100)  # 1,000 + 500 - 400
    assert m.gain == D(-100)  # 1,000 - 0 - 1,100
    assert round(m.twr, 6) == -0.0375
    assert m.realized_pnl == D(-100) and m.unrealized_pnl == 0
    # Drawdown on the TWR index: peak 1.1 on Tuesday, trough 0.9625 on Friday.
    assert round(m.max_drawdown, 6) == round(0.9625 / 1.1 - 1, 6) == -0.125
    returns = [0.0, 0.1, -0.03125, 1580 / 1550 - 1, 1400 / 1580 - 1, 0.0]
    mean = sum(returns) / 6
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / 5)
    assert m.volatility == pytest.approx(sd * math.sqrt(252), abs=1e-6)
    # XIRR: -1,000 on Mon, -500 on Wed, +400 and +1,000 on the next Monday; its NPV is zero.
    r = m.xirr
    npv = -1000 - 500 / (1 + r) ** (2 / 365) + 1400 / (1 + r) ** (7 / 365)
    assert abs(npv) < 1e-6
    assert r < 0


def test_a_custom_period_starts_from_the_close_before_it(series):
    base, end = pm.period_bounds(pm.Period.CUSTOM, FRI, date_from=WED, date_to=FRI)
    assert base == TUE
    w = pm.window(series, base, end)
    m = pm.metrics(w)
    assert m.start_value == 1100 and m.end_value == 1400 and m.net_flows == 500
    assert m.gain == D(-200)
    assert round(m.twr, 6) == round(0.9625 / 1.1 - 1, 6) == -0.125
    assert m.realized_pnl == D(-100)
    assert round(m.max_drawdown, 6) == -0.125


def test_xirr_on_actual_365():
    pts = [
        _pt(date(2025, 1, 1), value=D(1000), flow=D(1000)),
        _pt(date(2026, 1, 1), value=D(1100), flow=D(0)),
    ]
    # 365 days: (1100 / 1000) ^ (365/365) - 1 = 10%.
    assert round(pm.money_weighted(pm.Window(None, pts)), 6) == 0.1


def test_period_bounds():
    end = date(2026, 3, 31)
    assert pm.period_bounds(pm.Period.M1, end) == (date(2026, 2, 28), end)
    assert pm.period_bounds(pm.Period.M3, end) == (date(2025, 12, 31), end)
    assert pm.period_bounds(pm.Period.YTD, end) == (date(2025, 12, 31), end)
    assert pm.period_bounds(pm.Period.Y1, end) == (date(2025, 3, 31), end)
    assert pm.period_bounds(pm.Period.INCEPTION, end) == (None, end)
    with pytest.raises(ValueError):
        pm.period_bounds(pm.Period.CUSTOM, end)


def test_benchmark_from_the_base_close():
    closes = [(MON, D(200)), (TUE, D(200)), (THU, D(210)), (FRI, D(220))]
    got = pm.benchmark_series([WED, THU, FRI], closes, TUE)
    assert got == pytest.approx([0.0, 0.05, 0.1], abs=1e-9)


def test_flows_on_settlement_day_weekends_and_other_currencies():
    sat = date(2026, 3, 7)
    book = [
        # Traded Friday, settled Saturday: counts at the start of Monday.
        tx(1, "deposit", FRI, settle=sat, amount=D(1000)),
        FlowTx(
            Tx(
                id=2,
                kind="buy",
                trade_date=NEXT_MON,
                currency="EUR",
                instrument_id=B,
                quantity=D(5),
                price=D(100),
            ),
            NEXT_MON,
        ),
        FlowTx(
            Tx(id=3, kind="deposit", trade_date=NEXT_MON, currency="EUR", amount=D(500)),
            NEXT_MON,
        ),
    ]
    closes = Closes({B: [(NEXT_MON, D(110))]})

    def eur_usd(amount, currency):
        return amount * D("1.2") if currency == "EUR" else amount

    s = value_series(book, closes, eur_usd, through=NEXT_MON)
    assert [p.day for p in s] == [NEXT_MON]
    # Flows: 1,000 USD + 500 EUR x 1.2; value: 1,000 USD + (500 - 500 + 550) EUR x 1.2.
    assert s[0].flow == D("1600.0")
    assert s[0].value == D("1660.0")
    assert s[0].daily_return == pytest.approx(1660 / 1600 - 1, abs=1e-12)


def test_reversed_transactions_count_for_nothing():
    book = [
        *BOOK[:2],
        tx(9, "deposit", TUE, amount=D(5000)),
        FlowTx(
            Tx(
                id=10,
                kind="deposit",
                trade_date=TUE,
                currency="USD",
                amount=D(-5000),
                reverses_id=9,
            ),
            TUE,
        ),
    ]
    s = value_series(book, CLOSES, same, through=TUE)
    assert [p.value for p in s] == [1000, 1100]


def test_continuing_a_stored_series_gives_the_same_days(series):
    tail = value_series(BOOK, CLOSES, same, through=NEXT_MON, start=THU, before=series[2])
    assert tail == series[3:]


def test_downsample_keeps_ends():
    assert pm.downsample(5, 10) == [0, 1, 2, 3, 4]
    idx = pm.downsample(10_000, 2_000)
    assert len(idx) <= 2_000 and idx[0] == 0 and idx[-1] == 9_999
    assert len(weekdays(date(2026, 1, 1), date(2026, 12, 31))) == 261


def _pt(day, value, flow):
    from brm_app.services.valuation_series import DayValue

    return DayValue(day, value, value, D(0), value, D(0), flow, 0.0, 1.0, 0.0)


def test_fx_history_each_day_at_its_rate_and_a_rate_move_is_no_flow():
    """A EUR portfolio reported in USD, EUR/USD 1.10, 1.20, (none on Wednesday: Tuesday's),
    1.00, 1.05: by hand, each day converted at its own rate; the EUR deposit of Monday is a flow
    once, at Monday's rate (Tuesday's move of the rate is a gain, not a flow)."""
    from brm_app.services.market_data import FxHistory

    rates = [(MON, "1.10"), (TUE, "1.20"), (THU, "1.00"), (FRI, "1.05")]
    # The latest rate (1.3) only counts for pairs without history.
    history = FxHistory({("EUR", "USD"): D("1.3")}, [("EUR", "USD", d, D(r)) for d, r in rates]).to(
        "USD"
    )
    assert history.on(WED)(D(100), "EUR") == D("120.00")
    assert history.on(date(2026, 3, 1))(D(100), "EUR") == D("110.00")  # before: the first
    assert history.on(MON)(D(100), "USD") == D(100)
    eur = [
        FlowTx(Tx(id=1, kind="deposit", trade_date=MON, currency="EUR", amount=D(1000)), MON),
        FlowTx(
            Tx(
                id=2,
                kind="buy",
                trade_date=MON,
                currency="EUR",
                instrument_id=B,
                quantity=D(10),
                price=D(100),
            ),
            MON,
        ),
        tx(3, "deposit", WED, amount=D(200)),
        FlowTx(Tx(id=4, kind="deposit", trade_date=THU, currency="EUR", amount=D(100)), THU),
    ]
    closes = Closes(
        {B: [(MON, D(100)), (TUE, D(100)), (WED, D(110)), (THU, D(110)), (FRI, D(100))]}
    )
    s = value_series(eur, closes, history, through=FRI)
    # Mon 1,000 EUR x 1.1; Tue 1,000 x 1.2; Wed 1,100 x 1.2 + 200 USD;
    # Thu (1,100 + 100) x 1.0 + 200; Fri (1,000 + 100) x 1.05 + 200.
    assert [p.value for p in s] == [1100, 1200, 1520, 1400, 1355]
    assert [p.flow for p in s] == [1100, 0, 200, 100, 0]
    expected = [0.0, 1200 / 1100 - 1, 1520 / 1400 - 1, 1400 / 1620 - 1, 1355 / 1400 - 1]
    for got, want in zip(s, expected, strict=True):
        assert got.daily_return == pytest.approx(want, abs=1e-12)
    twr = (1200 / 1100) * (1520 / 1400) * (1400 / 1620) * (1355 / 1400) - 1
    assert round(s[-1].twr_index - 1, 6) == round(twr, 6) == -0.009331
    assert s[-1].cost == D("1050.00")  # 1,000 EUR of cost at Friday's 1.05


def test_fx_history_crosses_usd_and_inverts():
    from brm_app.services.market_data import FxHistory

    h = FxHistory(
        {("GBP", "USD"): D("1.25")},
        [("EUR", "USD", MON, D("1.10")), ("USD", "JPY", MON, D("150"))],
    )
    assert h.rate("USD", "EUR", TUE) == D(1) / D("1.10")
    assert h.rate("EUR", "JPY", TUE) == D("1.10") * D(150)
    assert h.rate("GBP", "EUR", TUE) == D("1.25") * (D(1) / D("1.10"))
