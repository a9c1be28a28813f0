"""Portfolios through the services, on a real database: booking, valuation in two currencies,
reversals, every bad input refused with nothing changed, and who may see and trade."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlmodel import func, select

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.models.audit import AuditEvent
from brm_app.models.portfolio import PortfolioTransaction
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role
from brm_app.providers.market_data import Quote, Rate
from brm_app.services import instruments, market_data, portfolios
from brm_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from tests.factories import make_firm, make_trader, make_user

SYSTEM = SystemActor(label="system:test")


def call(fn, actor=SYSTEM, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, actor=actor, **kw)


def instrument(symbol, currency="USD", **kw):
    return call(
        instruments.create_instrument,
        data={
            "symbol": symbol,
            "name": f"{symbol} Corp",
            "asset_class": "equity",
            "currency": currency,
            **kw,
        },
    )


def prices(quotes, rates=()):
    with unit_of_work(write=True) as db:
        market_data.record_quotes(db, quotes)
        market_data.record_rates(db, rates)


def count(model=PortfolioTransaction):
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(model)).one()


@pytest.fixture
def book(database_url):
    class Book:
        broker = make_user(Role.BROKER)
        stranger = make_user(Role.BROKER)
        firm = make_firm(broker, name="Holdings Co")

    return Book


def book_tx(book, actor=None, **data):
    data.setdefault("trade_date", "2026-03-02")
    return call(
        portfolios.book_transaction,
        actor=actor or book.broker,
        firm_id=book.firm.firm_id,
        data=data,
    )


def test_two_currencies_valued_in_the_reporting_currency(book):
    instrument("EURX", "EUR")
    instrument("USDX")
    book_tx(book, kind="deposit", amount="1000", currency="EUR")
    book_tx(book, kind="deposit", amount="1000", currency="USD")
    book_tx(book, kind="buy", symbol="EURX", quantity="10", price="50")
    book_tx(book, kind="buy", symbol="USDX", quantity="5", price="100")
    prices(
        [Quote("EURX", D(60), D(58)), Quote("USDX", D(90), D(91))],
        [Rate("EUR", "USD", D("1.1"))],
    )
    p = call(portfolios.get_portfolio, actor=book.broker, firm_id=book.firm.firm_id)
    assert p.reporting_currency == "USD"
    eurx, usdx = p.assets
    # EURX: 10 x 60 = 600 EUR = 660 USD, unrealized 100 EUR; USDX: 5 x 90 = 450, unrealized -50
    assert (eurx.symbol, eurx.market_value, eurx.market_value_reporting) == ("EURX", 600, 660)
    assert (eurx.unrealized_pnl, eurx.average_cost, eurx.day_change) == (100, 50, 20)
    assert (usdx.market_value, usdx.unrealized_pnl, usdx.day_change) == (450, -50, -5)
    assert {c.currency: c.balance for c in p.cash} == {"EUR": 500, "USD": 500}
    # 660 + 450 + 550 (500 EUR) + 500
    assert p.market_value == D("1110.00")
    assert p.cash_value == D("1050.00")
    assert p.total_value == D("2160.00")
    m = p.performance_metrics
    assert m.unrealized_pnl == D("60.00")  # 110 - 50
    assert m.today_change == D("17.00")  # 20 EUR = 22 USD, -5 USD
    assert m.net_contributions == D("2100.00")  # 1100 + 1000
    assert m.simple_return == D("0.0286")  # 60 / 2100
    assert eurx.weight == D("0.3056")  # 660 / 2160
    # A firm reporting in EUR sees the same in EUR.
    with unit_of_work(write=True) as db:
        from brm_app.models.firm import Firm

        db.get(Firm, book.firm.firm_id).reporting_currency = "EUR"
    p = call(portfolios.get_portfolio, actor=book.broker, firm_id=book.firm.firm_id)
    assert p.total_value == (D(2160) / D("1.1")).quantize(D("0.01"))


def test_a_reversal_books_a_reversing_entry_and_deletes_nothing(book):
    instrument("AAA")
    first = book_tx(book, kind="buy", symbol="AAA", quantity="10", price="100")
    second = book_tx(book, kind="buy", symbol="AAA", quantity="10", price="200")
    rev = call(
        portfolios.reverse_transaction,
        actor=book.broker,
        firm_id=book.firm.firm_id,
        transaction_id=second.transaction_id,
        reason="wrong price",
    )
    assert rev.reverses_id == second.transaction_id and rev.quantity == -10
    p = call(portfolios.get_portfolio, actor=book.broker, firm_id=book.firm.firm_id)
    assert [(a.quantity, a.average_cost) for a in p.assets] == [(10, 100)]
    assert count() == 3
    # Reversing twice, or reversing the reversal, is refused.
    for tx_id in (second.transaction_id, rev.transaction_id):
        with pytest.raises(ValidationFailed):
            call(
                portfolios.reverse_transaction,
                actor=book.broker,
                firm_id=book.firm.firm_id,
                transaction_id=tx_id,
            )
    # Reversing a buy whose units were since sold would oversell: refused.
    book_tx(book, kind="sell", symbol="AAA", quantity="10", price="120", trade_date="2026-03-03")
    with pytest.raises(ValidationFailed, match="sells more AAA"):
        call(
            portfolios.reverse_transaction,
            actor=book.broker,
            firm_id=book.firm.firm_id,
            transaction_id=first.transaction_id,
        )
    assert count() == 4


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "sell", "symbol": "AAA", "quantity": "11", "price": "100"}, "quantity"),
        ({"kind": "buy", "symbol": "AAA", "quantity": "1", "price": "0"}, "price"),
        ({"kind": "buy", "symbol": "AAA", "quantity": "1", "price": "-5"}, "price"),
        ({"kind": "buy", "symbol": "AAA", "quantity": "0", "price": "5"}, "quantity"),
        (
            {
                "kind": "buy",
                "symbol": "AAA",
                "quantity": "1",
                "price": "5",
                "settlement_date": "2026-03-01",
            },
            "settlement_date",
        ),
        ({"kind": "buy", "symbol": "NOPE", "quantity": "1", "price": "5"}, "symbol"),
        ({"kind": "buy", "symbol": "OLD", "quantity": "1", "price": "5"}, "symbol"),
        (
            {"kind": "buy", "symbol": "AAA", "quantity": "1", "price": "5", "currency": "EUR"},
            "currency",
        ),
        ({"kind": "deposit", "amount": "-1", "currency": "USD"}, "amount"),
        ({"kind": "buy", "symbol": "AAA", "quantity": "1", "price": "NaN"}, "price"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(book, data, field):
    instrument("AAA")
    instrument("OLD", active=False)
    book_tx(book, kind="buy", symbol="AAA", quantity="10", price="100")
    before, audits = count(), count(AuditEvent)
    with pytest.raises(ValidationFailed) as err:
        book_tx(book, **data)
    assert field in err.value.errors, err.value.errors
    assert (count(), count(AuditEvent)) == (before, audits)


def test_invalid_isin_is_refused_and_a_valid_one_kept():
    assert instruments.isin_check_digit_ok("US0378331005")  # Apple
    assert instruments.isin_check_digit_ok("GB0002634946")  # BAE Systems
    assert not instruments.isin_check_digit_ok("US0378331006")


def test_isin_checked_by_the_service(book):
    with pytest.raises(ValidationFailed) as err:
        instrument("AAPL", isin="US0378331006")
    assert "isin" in err.value.errors
    assert instrument("AAPL", isin="us0378331005").isin == "US0378331005"


def test_access_follows_coverage_and_traders_need_view_portfolio(book):
    instrument("AAA")
    book_tx(book, kind="buy", symbol="AAA", quantity="1", price="10")
    fid = book.firm.firm_id
    with pytest.raises(NotFound):
        call(portfolios.get_portfolio, actor=book.stranger, firm_id=fid)
    with pytest.raises(NotFound):
        book_tx(book, actor=book.stranger, kind="buy", symbol="AAA", quantity="1", price="10")
    compliance = make_user(Role.COMPLIANCE)
    assert call(portfolios.get_portfolio, actor=compliance, firm_id=fid).assets
    with pytest.raises(PermissionDenied):
        book_tx(book, actor=compliance, kind="buy", symbol="AAA", quantity="1", price="10")
    # A portal trader of the firm: only with view_portfolio, and read-only.
    from brm_app.models.user import User
    from brm_app.services.authentication import actor_of

    def portal(permissions):
        t = make_trader(SYSTEM, fid, permissions=permissions)
        with unit_of_work() as db:
            return actor_of(db.get(User, t.portal_user_id), ip="127.0.0.1")

    without = portal([TraderPermission.PORTAL_ACCESS])
    with pytest.raises(NotFound):
        call(portfolios.get_portfolio, actor=without, firm_id=fid)
    viewer = portal([TraderPermission.PORTAL_ACCESS, TraderPermission.VIEW_PORTFOLIO])
    assert call(portfolios.get_portfolio, actor=viewer, firm_id=fid).assets
    with pytest.raises(PermissionDenied):
        book_tx(book, actor=viewer, kind="buy", symbol="AAA", quantity="1", price="10")


def test_the_portfolio_is_created_with_the_first_transaction(book):
    p = call(portfolios.get_portfolio, actor=book.broker, firm_id=book.firm.firm_id)
    assert p.portfolio_id is None and p.total_value == 0
    tx = book_tx(book, kind="deposit", amount="250.50", currency="USD")
    p = call(portfolios.get_portfolio, actor=book.broker, firm_id=book.firm.firm_id)
    assert p.portfolio_id == tx.portfolio_id
    assert p.cash_value == D("250.50")
    assert date.fromisoformat("2026-03-02") == tx.settlement_date


def test_kept_holdings_follow_every_change_and_revalue_all_matches(book):
    from brm_app.models.portfolio import PortfolioCash, PortfolioHolding
    from brm_app.services import oms

    instrument("EURX", "EUR")
    instrument("USDX")
    book_tx(book, kind="deposit", amount="1000", currency="EUR")
    book_tx(book, kind="buy", symbol="EURX", quantity="10", price="50")
    second = book_tx(book, kind="buy", symbol="EURX", quantity="5", price="70")
    call(
        portfolios.reverse_transaction,
        actor=book.broker,
        firm_id=book.firm.firm_id,
        transaction_id=second.transaction_id,
    )
    call(
        oms.post_executions,
        executions=[
            {
                "exec_id": "K1",
                "order_id": "O",
                "exec_type": "F",
                "symbol": "USDX",
                "side": "buy",
                "last_qty": "3",
                "last_px": "100",
                "transact_time": "2026-03-03T10:00:00Z",
                "account": str(book.firm.firm_id),
            }
        ],
    )
    prices([Quote("EURX", D(60)), Quote("USDX", D(90))], [Rate("EUR", "USD", D("1.1"))])
    with unit_of_work() as db:
        held = {(h.instrument_id, h.quantity, h.cost) for h in db.exec(select(PortfolioHolding))}
        cash = {(c.currency, c.balance) for c in db.exec(select(PortfolioCash))}
        totals = portfolios.revalue_all(db)
    assert {(q, c) for _, q, c in held} == {(D(10), D(500)), (D(3), D(300))}
    assert cash == {("EUR", D(500)), ("USD", D(-300))}
    p = call(portfolios.get_portfolio, actor=book.broker, firm_id=book.firm.firm_id)
    # 10 x 60 x 1.1 + 3 x 90 + 500 x 1.1 - 300
    assert p.total_value == D("1180.00")
    assert totals == {p.portfolio_id: pytest.approx(1180.0)}
