"""The team report's figures on a hand-made book (written before its queries became set-based,
and passing on both): firms and assets per broker (a firm covered by two brokers counts for
each; an archived firm for none), portfolios with a valuation on the latest day, the month's
movers and the drawdowns, and interactions per broker (30 days) and per month
and type (voided ones and brokers outside the team left out)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from brm_app.db import unit_of_work
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.interaction import Interaction
from brm_app.models.performance import PortfolioValuation
from brm_app.models.portfolio import Portfolio
from brm_app.models.user import Role
from brm_app.services import reports
from tests.factories import make_firm, make_user

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
AS_OF, MONTH_AGO = date(2026, 3, 9), date(2026, 2, 6)  # a month before: Saturday 7 Feb


def call(fn, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, **kw)


@pytest.fixture
def team(database_url, monkeypatch):
    monkeypatch.setattr(reports, "utcnow", lambda: NOW)
    manager = make_user(Role.MANAGER)
    b1 = make_user(Role.BROKER, name="Ann One", manager_id=manager.user_id)
    b2 = make_user(Role.BROKER, name="Bob Two", manager_id=manager.user_id)
    outsider = make_user(Role.BROKER, name="Cid Three")
    shared = make_firm(b1, name="Shared Co").firm_id  # b1 and b2
    archived = make_firm(b1, name="Gone Co").firm_id
    make_firm(b2, name="Empty Co")  # no portfolio
    rising = make_firm(b2, name="Rising Co").firm_id
    flat = make_firm(b2, name="Flat Co").firm_id  # no valuation a month ago
    theirs = make_firm(outsider, name="Other Co").firm_id
    with unit_of_work(write=True) as db:
        db.add(FirmCoverage(firm_id=shared, broker_id=b2.user_id, role="secondary"))
        db.get(Firm, archived).archived_at = NOW
        rows = {
            # firm: (value today, index today, drawdown today, index a month ago)
            shared: ("1000.505", 0.9, -0.1, 1.0),
            archived: ("5", 1.5, 0.0, 1.0),
            rising: ("200.25", 1.32, 0.0, 1.2),
            flat: ("70", 1.0, -0.25, None),
            theirs: ("9", 2.0, -0.5, 1.0),
        }
        for fid, (value, index, dd, before) in rows.items():
            p = Portfolio(firm_id=fid)
            db.add(p)
            db.flush()
            days = [(AS_OF, value, index, dd), (MONTH_AGO, "1", before, 0.0)]
            for day, v, i, d in days if before is not None else days[:1]:
                db.add(
                    PortfolioValuation(
                        portfolio_id=p.id,
                        day=day,
                        value=D(v),
                        market_value=D(v),
                        cash=D(0),
                        cost=D(v),
                        realized=D(0),
                        flow=D(0),
                        daily_return=0.0,
                        twr_index=i,
                        drawdown=d,
                    )
                )
        for broker, fid, kind, at, voided in (
            (b1, shared, "call", datetime(2026, 3, 2, 9, tzinfo=UTC), False),
            (b1, shared, "call", datetime(2026, 3, 1, 0, 30, tzinfo=UTC), False),
            (b1, shared, "meeting", datetime(2026, 2, 28, 23, 59, tzinfo=UTC), False),
            (b1, shared, "call", datetime(2026, 3, 3, 9, tzinfo=UTC), True),
            (b2, rising, "call", datetime(2026, 1, 15, 9, tzinfo=UTC), False),
            (b2, rising, "email", datetime(2025, 3, 31, 23, 0, tzinfo=UTC), False),  # too old
            (outsider, theirs, "call", datetime(2026, 3, 2, 9, tzinfo=UTC), False),
        ):
            db.add(
                Interaction(
                    firm_id=fid,
                    broker_id=broker.user_id,
                    interaction_type=kind,
                    occurred_at=at,
                    time_zone="UTC",
                    subject="Catch-up",
                    voided_at=NOW if voided else None,
                )
            )
    return manager, b1, b2, outsider


def test_the_managers_team_book(team):
    manager = team[0]
    t = call(reports.team_report, actor=manager)
    assert t.as_of == AS_OF
    assert [
        (b.broker_name, b.firms, b.portfolios, b.assets, b.interactions) for b in t.brokers
    ] == [
        ("Ann One", 1, 1, D("1000.50"), 3),  # Gone Co archived; its interactions still count
        ("Bob Two", 4, 3, D("1270.76"), 0),
    ]
    assert [(m.firm_name, m.value, round(m.return_1m or 0, 9)) for m in t.top_movers] == [
        ("Rising Co", D("200.25"), 0.1),
        ("Shared Co", D("1000.50"), -0.1),
    ]
    assert [(m.firm_name, m.drawdown, m.return_1m) for m in t.largest_drawdowns] == [
        ("Flat Co", -0.25, None),
        ("Shared Co", -0.1, pytest.approx(-0.1)),
    ]
    assert [(c.month, c.interaction_type, c.count) for c in t.interactions_by_month] == [
        ("2026-01", "call", 1),
        ("2026-02", "meeting", 1),
        ("2026-03", "call", 2),
    ]


def test_admins_see_every_broker_and_the_top_few(team):
    admin = make_user(Role.ADMIN)
    t = call(reports.team_report, actor=admin, top=2)
    by_name = {b.broker_name: b for b in t.brokers}
    assert (by_name["Cid Three"].firms, by_name["Cid Three"].assets) == (1, D("9.00"))
    assert [m.firm_name for m in t.top_movers] == ["Other Co", "Rising Co"]
    assert [m.firm_name for m in t.largest_drawdowns] == ["Other Co", "Flat Co"]
    # Admins see voided interactions too.
    assert ("2026-03", "call", 4) in [
        (c.month, c.interaction_type, c.count) for c in t.interactions_by_month
    ]
