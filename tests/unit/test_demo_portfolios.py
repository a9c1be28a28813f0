"""Every demo firm has a portfolio with two years of history, valued at stored prices."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import func, select

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work, utcnow
from brm_app.models.firm import Firm
from brm_app.models.portfolio import DailyClose, Portfolio, PortfolioTransaction
from brm_app.services import demo, portfolios


def test_every_demo_firm_has_a_portfolio_with_two_years_of_history(sqlite_url):
    with unit_of_work(write=True) as db:
        demo.load(db)
    with unit_of_work() as db:
        firm_ids = db.exec(select(Firm.id).where(Firm.archived_at.is_(None))).all()
        assert db.exec(select(func.count()).select_from(Portfolio)).one() == len(firm_ids)
        first = db.exec(select(func.min(PortfolioTransaction.trade_date))).one()
        assert first <= utcnow().date() - timedelta(days=700)
        assert db.exec(select(func.count()).select_from(DailyClose)).one() > 12 * 500
        for firm_id in firm_ids:
            p = portfolios.get_portfolio(db, actor=SystemActor(), firm_id=firm_id)
            assert len(p.assets) >= 3, firm_id
            assert all(a.last_price is not None for a in p.assets)
            assert p.total_value > 0 and not p.missing_fx
