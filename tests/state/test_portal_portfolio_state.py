"""A portal trader's home shows their firm's portfolio (value, today's change, holdings, a link
to the read-only page) when their brokers gave them `view_portfolio`, and says so when not;
staff pages carry none of it."""

from __future__ import annotations

from decimal import Decimal as D

from brm_app.auth import passwords
from brm_app.db import unit_of_work
from brm_app.models.trader import Trader, TraderPermission
from brm_app.models.user import Role, User
from brm_app.providers.market_data import Quote
from brm_app.services import instruments, market_data, portfolios
from brm_app.state.communications import CommsState
from tests.factories import PASSWORD, make_firm, make_trader, make_user
from tests.state.conftest import Browser, session_token_for


def _portal_user(trader_id: int) -> str:
    with unit_of_work(write=True) as db:
        user = db.get(User, db.get(Trader, trader_id).user_id)
        user.password_hash = passwords.hash_password(PASSWORD)
        user.must_change_password = False
        db.add(user)
        return user.email


def test_the_portal_shows_the_firms_portfolio_only_when_shared(database_url):
    admin = make_user(Role.ADMIN)
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    firm = make_firm(broker, name="Portal Capital")
    with unit_of_work(write=True) as db:
        instruments.create_instrument(
            db,
            actor=admin,
            data={"symbol": "PRTL", "name": "Portal plc", "asset_class": "equity",
                  "currency": "USD"},
        )  # fmt: skip
        market_data.record_quotes(db, [Quote("PRTL", D(12), D(10))])
    with unit_of_work(write=True) as db:
        for row in (
            {"kind": "deposit", "trade_date": "2026-01-05", "amount": "5000", "currency": "USD"},
            {"kind": "buy", "trade_date": "2026-01-06", "symbol": "PRTL", "quantity": "100",
             "price": "10"},
        ):  # fmt: skip
            portfolios.book_transaction(db, actor=broker, firm_id=firm.firm_id, data=row)
    sees = make_trader(
        manager,
        firm.firm_id,
        name="Vera Viewer",
        permissions=[TraderPermission.PORTAL_ACCESS, TraderPermission.VIEW_PORTFOLIO],
    )
    blind = make_trader(
        manager, firm.firm_id, name="Nico Noview", permissions=[TraderPermission.PORTAL_ACCESS]
    )

    tab = Browser(session_token_for(_portal_user(sees.trader_id)), "/portal")
    tab.fire(CommsState, "load")
    card = tab.state(CommsState).portal
    assert card["firm"] == "Portal Capital" and card["shared"] and card["has_portfolio"]
    # 4,000 cash + 100 at 12; today 100 x (12 - 10).
    assert card["value"].replace(",", "") == "5200.00 USD" and card["holdings"] == "1"
    assert card["today"].replace(",", "") == "+200.00 USD" and card["up"]
    assert card["href"] == f"/firms/{firm.firm_id}/portfolio"

    tab = Browser(session_token_for(_portal_user(blind.trader_id)), "/portal")
    sent = tab.fire(CommsState, "load")
    card = tab.state(CommsState).portal
    assert card["firm"] == "Portal Capital" and not card["shared"] and card["value"] == ""
    assert "5200" not in sent.text.replace(",", "")

    staff = Browser(session_token_for(broker.email), "/communications")
    staff.fire(CommsState, "load")
    assert staff.state(CommsState).portal == {}
