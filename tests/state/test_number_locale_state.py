"""Numbers the server writes for display follow the user's locale (My account), else the
browser's (the Accept-Language its socket sent): the portfolio page's figures,
through Reflex's event path (tests/state/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D

import pytest

from brm_app.auth.actor import Actor, SystemActor
from brm_app.db import unit_of_work
from brm_app.models.user import Role
from brm_app.providers.market_data import Quote
from brm_app.services import instruments, market_data, portfolios, users
from brm_app.state.portfolio import PortfolioState
from tests.factories import make_firm, make_user
from tests.state.conftest import session_token_for
from tests.state.harness import Server, Tab

SYSTEM = SystemActor(label="system:test")


@pytest.fixture
def server(database_url) -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def book():
    broker = make_user(Role.BROKER)
    firm = make_firm(broker, name="Locale Capital")
    with unit_of_work(write=True) as db:
        instruments.create_instrument(
            db,
            actor=SYSTEM,
            data={"symbol": "LOCL", "name": "Locale", "asset_class": "equity", "currency": "USD"},
        )
        market_data.record_quotes(db, [Quote("LOCL", D("12.3456"), D("12.00"))])
        portfolios.book_transaction(
            db,
            actor=SYSTEM,
            firm_id=firm.firm_id,
            data={"kind": "buy", "symbol": "LOCL", "quantity": "1000.5", "price": "10",
                  "trade_date": "2026-03-02"},
        )  # fmt: skip
    return broker, firm.firm_id


def _open(server: Server, email: str, path: str, accept_language: str) -> Tab:
    tab = server.tab(session_token_for(email), None)
    tab.connect(session_token_for(email), {"accept-language": accept_language})
    tab.open(path)
    return tab


def _set_locale(user, locale: str) -> None:
    with unit_of_work(write=True) as db:
        actor = Actor(user_id=user.user_id, role=Role(user.role), email=user.email, name=user.name)
        users.update_profile(db, actor=actor, name=user.name, locale=locale)


@pytest.mark.parametrize(
    ("locale", "browser", "market", "quantity", "price"),
    [
        ("de-DE", "en-US,en;q=0.9", "12.351,77", "1.000,5", "12,3456"),
        ("en-US", "de-DE,de;q=0.9", "12,351.77", "1,000.5", "12.3456"),
        ("", "de-DE,de;q=0.9", "12.351,77", "1.000,5", "12,3456"),  # the browser's
        ("", "fr-FR", "12\u202f351,77", "1\u202f000,5", "12,3456"),
        ("", "", "12,351.77", "1,000.5", "12.3456"),  # nothing said: en-US
    ],
)
def test_portfolio_figures_in_the_users_locale(server, book, locale, browser, market, quantity,
                                                price):  # fmt: skip
    broker, firm_id = book
    if locale:
        _set_locale(broker, locale)
    tab = _open(server, broker.email, f"/firms/{firm_id}/portfolio", browser)
    shown = tab.state(PortfolioState)
    assert shown.summary["market"] == market
    asset = shown.assets[0]
    assert (asset["quantity"], asset["price"]) == (quantity, price)
    assert shown.txs[0]["quantity"] == quantity
