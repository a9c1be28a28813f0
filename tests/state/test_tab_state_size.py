"""One open tab's server-side Reflex state stays small (issue 15: under 100 KB per tab), and a
firm's page shows the firm before its traders and timeline arrive.

The book has many brokers (the coverage pickers' list), a full page of firms and a full page of
traders; the size is every substate pickled as the Redis state manager stores it."""

from __future__ import annotations

from bench.tab_state import tree_bytes
from brm_app.db import unit_of_work
from brm_app.models.firm import FirmCoverage
from brm_app.models.user import Role
from brm_app.state.firm_detail import FirmState
from brm_app.state.firms import FirmsState
from tests.state.conftest import Browser, session_token_for
from tests.state.world import _firm, _trader, _user

MAX_TAB_BYTES = 100_000
BROKERS = 600
FIRMS = 60
TRADERS = 30


def _big_book(world) -> None:
    with unit_of_work(write=True) as db:
        for i in range(BROKERS):
            broker = _user(db, Role.BROKER, f"coverage.broker.number.{i:04d}@w.example")
            if i == 0:
                first = broker
        for i in range(FIRMS):
            _firm(db, f"Fulcrum Capital Markets Partners {i:03d}", first)
        for i in range(TRADERS):
            _trader(db, world.f, f"Trader Number {i:03d}", f"trader.{i:03d}@fulcrum.example")
        db.add(FirmCoverage(firm_id=world.f, broker_id=first.id, role="secondary"))


def test_one_tab_holds_under_100_kb_on_the_firms_and_firm_pages(world):
    _big_book(world)
    browser = Browser(session_token_for(world.users["admin"].email), "/firms")
    browser.fire(FirmsState, "search", "fulcrum")
    assert len(browser.state(FirmsState).rows) == 50
    firms_bytes = tree_bytes(browser.server_state(FirmsState)._get_root_state())
    assert firms_bytes < MAX_TAB_BYTES, f"firms page: {firms_bytes} bytes"

    browser.open(f"/firms/{world.f}")
    firm = browser.state(FirmState)
    assert firm.found and len(firm.traders) == 25
    firm_bytes = tree_bytes(browser.server_state(FirmState)._get_root_state())
    assert firm_bytes < MAX_TAB_BYTES, f"firm page: {firm_bytes} bytes"


def test_the_coverage_brokers_are_loaded_when_the_dialog_opens_not_with_the_page(world):
    _big_book(world)
    browser = Browser(session_token_for(world.users["admin"].email), f"/firms/{world.f}")
    assert browser.server_state(FirmState).brokers == []
    browser.fire(FirmState, "open_coverage")
    state = browser.state(FirmState)
    assert state.coverage_open and len(state.brokers) >= BROKERS


def test_the_firm_shows_before_its_traders_and_timeline(world):
    browser = Browser(session_token_for(world.users["admin"].email), f"/firms/{world.f}")
    sent = browser.fire(FirmState, "load")
    texts = [r.text for r in sent]
    found = next(i for i, t in enumerate(texts) if '"found_rx_state_": true' in t)
    traders = next(i for i, t in enumerate(texts) if '"traders_loaded_rx_state_": true' in t)
    assert found < traders
    assert "Fulcrum Partners" in texts[found] and "Tom Trader" not in texts[found]
    assert "Tom Trader" in browser.tab.text
