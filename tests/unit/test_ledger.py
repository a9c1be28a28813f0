"""Holdings from transactions, against worked examples computed by hand (services/ledger.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from brm_app.services.ledger import Oversold, Tx, compute

AAA, BBB = 1, 2


def tx(id, kind, day, **kw):
    kw.setdefault("currency", "USD")
    return Tx(id=id, kind=kind, trade_date=date(2026, 1, day), **kw)


def test_a_sell_at_a_loss_realizes_proceeds_less_fees_less_average_cost():
    ledger = compute(
        [
            tx(1, "deposit", 1, amount=D("10000")),
            # cost 100 x 50 + 10 fees = 5010, average 50.10
            tx(2, "buy", 2, instrument_id=AAA, quantity=D(100), price=D(50), fees=D(10)),
            # proceeds 40 x 45 = 1800; average cost of 40 = 2004; less 5 fees: -209
            tx(3, "sell", 3, instrument_id=AAA, quantity=D(40), price=D(45), fees=D(5)),
        ]
    )
    pos = ledger.positions[AAA]
    assert pos.quantity == 60
    assert pos.cost == D("3006")
    assert pos.average_cost == D("50.1")
    assert pos.realized == D("-209")
    assert ledger.cash == {"USD": D("6785")}  # 10000 - 5010 + 1795
    assert ledger.contributions == {"USD": D("10000")}


def test_a_split_multiplies_the_quantity_and_keeps_the_cost():
    ledger = compute(
        [
            tx(1, "buy", 1, instrument_id=AAA, quantity=D(10), price=D(300)),
            tx(2, "split", 2, instrument_id=AAA, quantity=D(3)),  # 3-for-1
        ]
    )
    pos = ledger.positions[AAA]
    assert (pos.quantity, pos.cost, pos.average_cost) == (30, 3000, 100)
    ledger = compute(
        [
            tx(1, "buy", 1, instrument_id=AAA, quantity=D(10), price=D(300)),
            tx(2, "split", 2, instrument_id=AAA, quantity=D(3)),
            tx(3, "sell", 3, instrument_id=AAA, quantity=D(30), price=D(110)),
        ]
    )
    assert ledger.positions[AAA].realized == D(300)  # 3300 - 3000
    assert ledger.positions[AAA].quantity == 0
    assert ledger.cash["USD"] == D(300)


def test_transfers_move_holdings_at_cost_and_realize_nothing():
    ledger = compute(
        [
            tx(1, "transfer_in", 1, instrument_id=BBB, quantity=D(50), price=D(20)),  # cost 1000
            tx(2, "buy", 2, instrument_id=BBB, quantity=D(50), price=D(30)),  # cost 2500, avg 25
            tx(3, "transfer_out", 3, instrument_id=BBB, quantity=D(20)),  # leaves at 25 each
        ]
    )
    pos = ledger.positions[BBB]
    assert (pos.quantity, pos.cost, pos.average_cost, pos.realized) == (80, 2000, 25, 0)
    assert ledger.cash == {"USD": D(-1500)}
    assert ledger.contributions == {"USD": D(500)}  # 1000 in, 500 out (at cost)


def test_a_reversal_counts_as_if_the_original_was_never_booked():
    ledger = compute(
        [
            tx(1, "buy", 1, instrument_id=AAA, quantity=D(10), price=D(100)),
            tx(2, "buy", 2, instrument_id=AAA, quantity=D(10), price=D(200)),
            tx(4, "sell", 4, instrument_id=AAA, quantity=D(5), price=D(150)),
            tx(3, "buy", 3, instrument_id=AAA, quantity=D(-10), price=D(200), reverses_id=2),
        ]
    )
    pos = ledger.positions[AAA]
    assert pos.quantity == 5
    assert pos.realized == D(250)  # 5 x (150 - 100): the reversed buy at 200 is out of the average
    assert ledger.cash["USD"] == D(-250)  # -1000 + 750


def test_cash_is_kept_per_currency_with_dividends_and_fees():
    ledger = compute(
        [
            tx(1, "deposit", 1, amount=D(1000), currency="EUR"),
            tx(2, "deposit", 1, amount=D(1000)),
            tx(3, "buy", 2, instrument_id=AAA, quantity=D(10), price=D(50), currency="EUR"),
            tx(4, "dividend", 3, instrument_id=AAA, amount=D("12.5"), currency="EUR"),
            tx(5, "fee", 3, amount=D(20)),
            tx(6, "withdrawal", 4, amount=D(100)),
        ]
    )
    assert ledger.cash == {"EUR": D("512.5"), "USD": D(880)}
    assert ledger.positions[AAA].realized == D("12.5")
    assert ledger.contributions == {"EUR": D(1000), "USD": D(900)}


def test_a_sell_of_more_than_is_held_is_refused_unless_shorting():
    txs = [
        tx(1, "buy", 2, instrument_id=AAA, quantity=D(10), price=D(100)),
        tx(2, "sell", 3, instrument_id=AAA, quantity=D(11), price=D(100)),
    ]
    with pytest.raises(Oversold):
        compute(txs)
    # A backdated sell before the buy is oversold at its own date.
    with pytest.raises(Oversold):
        compute([txs[0], tx(3, "sell", 1, instrument_id=AAA, quantity=D(5), price=D(90))])
    # Shorting: sell 10 at 100, buy back at 90: +100.
    ledger = compute(
        [
            tx(1, "sell", 1, instrument_id=AAA, quantity=D(10), price=D(100)),
            tx(2, "buy", 2, instrument_id=AAA, quantity=D(10), price=D(90)),
        ],
        allow_short=True,
    )
    assert ledger.positions[AAA].quantity == 0
    assert ledger.positions[AAA].realized == D(100)
