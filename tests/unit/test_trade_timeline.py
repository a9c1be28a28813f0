"""Fills and other transactions appear in the firm's and the trader's timeline."""

from __future__ import annotations

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.models.user import Role
from brm_app.services import instruments, oms, portfolios, relationship
from brm_app.state.timeline import timeline_rows
from tests.factories import make_firm, make_trader, make_user

SYSTEM = SystemActor(label="system:test")


def test_fills_show_in_firm_and_trader_timelines(database_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Timeline Capital")
    tess = make_trader(broker, firm.firm_id, name="Tess", email="tess@tl.example")
    other = make_trader(broker, firm.firm_id, name="Otto", email="otto@tl.example")
    with unit_of_work(write=True) as db:
        instruments.create_instrument(
            db,
            actor=SYSTEM,
            data={
                "symbol": "MSFT",
                "name": "Microsoft",
                "asset_class": "equity",
                "currency": "USD",
            },
        )
        oms.post_executions(
            db,
            actor=SYSTEM,
            executions=[
                {
                    "exec_id": "T1",
                    "order_id": "ORD-9",
                    "exec_type": "F",
                    "symbol": "MSFT",
                    "side": "1",
                    "last_qty": "1500",
                    "last_px": "400.5",
                    "currency": "USD",
                    "transact_time": "2026-03-02T15:00:00Z",
                    "account": str(firm.firm_id),
                    "trader": "tess@tl.example",
                }
            ],
        )
        portfolios.book_transaction(
            db,
            actor=broker,
            firm_id=firm.firm_id,
            data={
                "kind": "deposit",
                "amount": "400000",
                "currency": "USD",
                "trade_date": "2026-03-01",
            },
        )
    with unit_of_work() as db:
        firm_line = relationship.timeline(db, actor=broker, firm_id=firm.firm_id)
        tess_line = relationship.timeline(db, actor=broker, trader_id=tess.trader_id)
        otto_line = relationship.timeline(db, actor=broker, trader_id=other.trader_id)
    rows = timeline_rows(firm_line.entries)
    assert [r["title"] for r in rows] == ["Bought 1,500 MSFT @ 400.5 USD", "Deposit 400,000.00 USD"]
    # Numbers are written in the viewer's locale, as on the portfolio page.
    german = timeline_rows(firm_line.entries, "de-DE")
    assert [r["title"] for r in german] == [
        "Bought 1.500 MSFT @ 400,5 USD",
        "Deposit 400.000,00 USD",
    ]
    assert rows[0]["type"] == "OMS fill" and "order ORD-9" in rows[0]["notes"]
    assert rows[0]["traders"] == "Tess"
    # A trade is shown on its trade date as it is, not as a time converted to the viewer's zone
    # (midnight UTC was the day before for a broker in New York).
    assert [r["day"] for r in rows] == ["2026-03-02", "2026-03-01"]
    assert [e.kind for e in tess_line.entries] == ["trade"]
    assert otto_line.entries == []
