"""My account's "Create a feed address": the address shown comes from BRM_PUBLIC_URL, not from
what the browser says its address is."""

from __future__ import annotations

import reflex as rx

from brm_app.models.user import Role
from brm_app.settings import get_settings
from brm_app.state.account import AccountState
from tests.factories import make_user


def test_new_feed_address_uses_the_public_url(browser_for, monkeypatch):
    monkeypatch.setenv("BRM_PUBLIC_URL", "https://brm.example.com")
    get_settings.cache_clear()
    broker = make_user(Role.BROKER)
    browser = browser_for(broker.email, "/account")
    # The socket connects with the address the browser claims.
    browser.set_cookie(
        browser.cookie_token, {"host": "attacker.example", "origin": "http://attacker.example"}
    )
    browser.fire(AccountState, "create_feed")
    url = browser.state(AccountState).new_feed_url
    assert browser.held(rx.State)["rx_router_headers"]["host"] == "attacker.example"  # it came
    assert url.startswith("https://brm.example.com/api/calendar/") and url.endswith(".ics")
