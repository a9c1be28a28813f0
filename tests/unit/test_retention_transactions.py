"""The retention purge of portfolio transactions: those dated before the cut go, replaced first
by opening entries, so holdings, cash and every day's value from the cut on are what they were;
the purge is in the audit trail; a held firm's and a held trader's portfolios keep everything;
an opening entry can be neither booked nor reversed by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from sqlmodel import col, select

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.models.audit import AuditEvent
from brm_app.models.portfolio import Portfolio, PortfolioTransaction, TxKind
from brm_app.models.user import Role
from brm_app.providers.market_data import Quote, Rate
from brm_app.services import instruments, legal_holds, market_data, portfolios, retention
from brm_app.services.errors import ValidationFailed
from brm_app.services.ledger import Tx
from brm_app.services.valuation_series import Closes, FlowTx, value_series
from tests.factories import make_firm, make_trader, make_user

SYSTEM = SystemActor(label="system:test")
NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)
CUT_DAY = date(2024, 6, 15)  # 6 years (transactions) before NOW


def call(fn, actor=SYSTEM, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, actor=actor, **kw)


@pytest.fixture
def world(database_url):
    broker = make_user(Role.BROKER)
    compliance = make_user(Role.COMPLIANCE)
    for symbol, currency in (("AAA", "USD"), ("BBB", "EUR"), ("CCC", "USD")):
        call(
            instruments.create_instrument,
            data={"symbol": symbol, "name": symbol, "asset_class": "equity", "currency": currency},
        )
    with unit_of_work(write=True) as db:
        market_data.record_quotes(
            db, [Quote("AAA", D(7), D(7)), Quote("BBB", D(24), D(23)), Quote("CCC", D(8), D(8))]
        )
        market_data.record_rates(db, [Rate("EUR", "USD", D("1.1"))])
    return {"broker": broker, "compliance": compliance}


def _book(broker, firm_id: int, rows: list[dict]) -> list[int]:
    ids = []
    for row in rows:
        ids.append(
            call(
                portfolios.book_transaction, actor=broker, firm_id=firm_id, data=row
            ).transaction_id
        )
    return ids


OLD = [
    {"kind": "deposit", "trade_date": "2023-01-03", "amount": "10000", "currency": "USD"},
    {"kind": "deposit", "trade_date": "2023-01-04", "amount": "1000", "currency": "EUR"},
    {"kind": "buy", "trade_date": "2023-02-01", "symbol": "AAA", "quantity": "100", "price": "10",
     "fees": "5"},
    {"kind": "sell", "trade_date": "2023-03-01", "symbol": "AAA", "quantity": "40", "price": "12",
     "fees": "2"},
    {"kind": "dividend", "trade_date": "2023-04-03", "symbol": "AAA", "amount": "50"},
    {"kind": "buy", "trade_date": "2023-05-02", "symbol": "BBB", "quantity": "10", "price": "20"},
    {"kind": "buy", "trade_date": "2023-06-01", "symbol": "CCC", "quantity": "3", "price": "7"},
    {"kind": "split", "trade_date": "2023-07-03", "symbol": "AAA", "quantity": "2"},
    {"kind": "fee", "trade_date": "2024-06-14", "amount": "3", "currency": "USD"},
]  # fmt: skip
KEPT = [
    {"kind": "fee", "trade_date": "2024-06-17", "amount": "1", "currency": "USD"},
    {"kind": "buy", "trade_date": "2025-01-06", "symbol": "AAA", "quantity": "10", "price": "6"},
    {"kind": "sell", "trade_date": "2025-02-03", "symbol": "BBB", "quantity": "5", "price": "25"},
    {"kind": "withdrawal", "trade_date": "2025-03-03", "amount": "100", "currency": "USD"},
    {"kind": "sell", "trade_date": "2025-04-01", "symbol": "AAA", "quantity": "130", "price": "6.5"},
]  # fmt: skip


def _ledger_rows(portfolio_id: int) -> list[PortfolioTransaction]:
    with unit_of_work() as db:
        return list(
            db.exec(
                select(PortfolioTransaction)
                .where(PortfolioTransaction.portfolio_id == portfolio_id)
                .order_by(col(PortfolioTransaction.id))
            ).all()
        )


def _series(portfolio_id: int) -> dict[date, tuple]:
    flows = [
        FlowTx(
            Tx(r.id, r.kind, r.trade_date, r.currency, r.instrument_id, r.quantity, r.price,
               r.amount, r.fees, r.reverses_id),
            r.settlement_date,
        )
        for r in _ledger_rows(portfolio_id)
    ]  # fmt: skip
    with unit_of_work() as db:
        ids = {
            s: db.exec(
                select(instruments.Instrument.id).where(instruments.Instrument.symbol == s)
            ).one()
            for s in ("AAA", "BBB", "CCC")
        }
    closes = Closes(
        {
            ids["AAA"]: [(date(2023, 1, 2), D(11)), (date(2024, 1, 2), D(5)), (date(2025, 1, 2), D(7))],
            ids["BBB"]: [(date(2023, 1, 2), D(21)), (date(2024, 9, 2), D(26))],
            ids["CCC"]: [(date(2023, 1, 2), D(8))],
        }
    )  # fmt: skip
    rate = {"USD": D(1), "EUR": D("1.1")}
    days = value_series(
        flows, closes, lambda amount, cur: amount * rate[cur], through=date(2025, 6, 30)
    )
    return {
        d.day: (d.value, d.market_value, d.cash, d.cost, d.realized, d.flow, round(d.daily_return, 12))
        for d in days
        if d.day >= CUT_DAY
    }  # fmt: skip


def _state(firm_id: int, broker) -> tuple:
    p = call(portfolios.get_portfolio, actor=broker, firm_id=firm_id)
    return (
        [(a.symbol, a.quantity, a.average_cost, a.market_value, a.realized_pnl) for a in p.assets],
        sorted((c.currency, c.balance) for c in p.cash),
        p.total_value,
        p.performance_metrics.net_contributions,
        p.performance_metrics.realized_pnl,
    )


def _portfolio_id(firm_id: int) -> int:
    with unit_of_work() as db:
        return db.exec(select(Portfolio.id).where(Portfolio.firm_id == firm_id)).one()


def test_old_transactions_go_and_holdings_cash_and_values_stay(world):
    broker = world["broker"]
    firm = make_firm(broker, name="Ledger Kept")
    old_ids = _book(broker, firm.firm_id, OLD)
    # A reversed pair, both old: it goes too (it counts for nothing).
    wrong = _book(broker, firm.firm_id, [OLD[6]])[0]
    call(portfolios.reverse_transaction, actor=broker, firm_id=firm.firm_id, transaction_id=wrong)
    kept_ids = _book(broker, firm.firm_id, KEPT)
    # A held firm's portfolio keeps everything, and so does one with an old held trader's trade.
    held_firm = make_firm(broker, name="Ledger Held")
    held_ids = _book(broker, held_firm.firm_id, OLD[:3])
    call(legal_holds.place_hold, actor=world["compliance"], scope="firm",
         subject_id=held_firm.firm_id, reason="Litigation")  # fmt: skip
    trader_firm = make_firm(broker, name="Ledger Trader Held")
    tina = make_trader(broker, trader_firm.firm_id, name="Tina Held")
    trader_ids = _book(
        broker, trader_firm.firm_id, [OLD[0], {**OLD[2], "trader_id": tina.trader_id}]
    )
    call(legal_holds.place_hold, actor=world["compliance"], scope="trader",
         subject_id=tina.trader_id, reason="Inquiry")  # fmt: skip

    pid = _portfolio_id(firm.firm_id)
    state_before, series_before = _state(firm.firm_id, broker), _series(pid)
    assert len(series_before) > 200

    report = retention.run_purge(now=NOW)
    assert report.counts["transactions"] == len(OLD) + 2

    rows = _ledger_rows(pid)
    left = {r.id for r in rows}
    assert not left & {*old_ids, wrong} and set(kept_ids) <= left
    openings = [r for r in rows if r.kind == TxKind.OPENING.value]
    assert openings and {r.trade_date for r in openings} == {date(2024, 6, 14)}
    # AAA, BBB and CCC positions (the reversed CCC buy adds nothing), USD and EUR cash.
    assert len(openings) == 5
    assert _state(firm.firm_id, broker) == state_before
    assert _series(pid) == series_before
    # The held portfolios are whole.
    for fid, ids in ((held_firm.firm_id, held_ids), (trader_firm.firm_id, trader_ids)):
        assert [r.id for r in _ledger_rows(_portfolio_id(fid))] == ids
    # Recorded like every purge: the kind, how many, their ids and hashes.
    with unit_of_work() as db:
        ev = db.exec(
            select(AuditEvent).where(
                AuditEvent.action == retention.PURGED_ACTION, AuditEvent.entity_id == "transactions"
            )
        ).one()
    changes = json.loads(ev.changes) if isinstance(ev.changes, str) else ev.changes
    assert changes["count"] == len(OLD) + 2 and sorted(changes["ids"]) == sorted(
        [*old_ids, wrong, wrong + 1]
    )
    assert len(changes["hashes"]) == len(OLD) + 2

    # The next day's purge has nothing new to fold (openings alone are not purged again).
    again = retention.run_purge(now=NOW.replace(day=16))
    assert again.counts["transactions"] == 0
    assert {r.id for r in _ledger_rows(pid)} == left

    # Openings are the purge's own: never booked or reversed by hand.
    with pytest.raises(ValidationFailed, match="retention purge"):
        call(portfolios.book_transaction, actor=broker, firm_id=firm.firm_id,
             data={"kind": "opening", "trade_date": "2026-01-05", "amount": "5", "currency": "USD"})  # fmt: skip
    with pytest.raises(ValidationFailed, match="opening balance"):
        call(portfolios.reverse_transaction, actor=broker, firm_id=firm.firm_id,
             transaction_id=openings[0].id)  # fmt: skip


def test_nothing_can_be_booked_into_the_purged_history(world):
    """After a purge the history up to the openings' day is gone: a trade dated on or before it
    is refused (by hand, by a blotter import, from an OMS); the day after is booked."""
    broker = world["broker"]
    firm = make_firm(broker, name="Ledger Closed")
    _book(broker, firm.firm_id, OLD[:3])
    retention.run_purge(now=NOW)
    late = {"kind": "deposit", "amount": "5", "currency": "USD"}
    for day in ("2024-06-14", "2023-01-03"):
        with pytest.raises(ValidationFailed, match="on or before 2024-06-14") as err:
            call(portfolios.book_transaction, actor=broker, firm_id=firm.firm_id,
                 data={**late, "trade_date": day})  # fmt: skip
        assert "trade_date" in err.value.errors
    assert _book(broker, firm.firm_id, [{**late, "trade_date": "2024-06-17"}])
    # Another firm without a purge books its old trades as before.
    other = make_firm(broker, name="Ledger Open")
    assert _book(broker, other.firm_id, [{**late, "trade_date": "2023-01-03"}])
