"""The benchmark's bulk portfolios, at a small scale: what the app reads back matches the
ledger of the seeded transactions, and the holdings kept for revalue_all agree with it."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work
from brm_app.models.portfolio import DailyClose, Portfolio, PortfolioHolding, PortfolioTransaction
from brm_app.services import portfolios
from brm_app.services.seed_portfolios import PortfolioPlan, bulk_load_portfolios
from tests.factories import make_firm, make_user


def test_bulk_portfolios_read_back_like_booked_ones(database_url):
    broker = make_user()
    firm_ids = [make_firm(broker).firm_id for _ in range(3)]
    plan = PortfolioPlan(portfolios=3, instruments=12, holdings_per_portfolio=4, days=60)
    with unit_of_work(write=True) as db:
        result = bulk_load_portfolios(db, plan, firm_ids=firm_ids)
    assert (result.portfolios, result.transactions, result.holdings) == (3, 3 * (1 + 4 * 10), 12)
    with unit_of_work() as db:
        assert db.exec(select(func.count()).select_from(DailyClose)).one() == result.daily_closes
        totals = portfolios.revalue_all(db)
        for firm_id in firm_ids:
            p = portfolios.get_portfolio(db, actor=broker, firm_id=firm_id)
            assert len(p.assets) == 4 and p.total_value > 0
            assert totals[p.portfolio_id] == pytest.approx(float(p.total_value), rel=1e-6)
            kept = {
                h.instrument_id: h.quantity
                for h in db.exec(
                    select(PortfolioHolding).where(PortfolioHolding.portfolio_id == p.portfolio_id)
                )
            }
            assert kept == {a.instrument_id: a.quantity for a in p.assets}
    # The sequences continue after the seeded ids: booking works.
    with unit_of_work(write=True) as db:
        tx = portfolios.book_transaction(
            db,
            actor=SystemActor(),
            firm_id=firm_ids[0],
            data={"kind": "deposit", "amount": "1", "currency": "USD", "trade_date": "2026-03-02"},
        )
        assert tx.transaction_id > result.transactions
        assert db.exec(select(func.count()).select_from(Portfolio)).one() == 3
        assert db.exec(select(func.count()).select_from(PortfolioTransaction)).one() == (
            result.transactions + 1
        )
