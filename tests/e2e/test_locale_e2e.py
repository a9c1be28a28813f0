"""Numbers in the user's locale, in Chromium: the portfolio page writes money as My account's
locale says (de-DE: 1.234,56; en-US: 1,234.56), and with none chosen as the browser's own; the
numbers the browser writes itself (a list's pager) follow the same locale."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Server, create_user_via_api, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "e2e locale password"


def _token(server: Server, email: str) -> dict[str, str]:
    with server.api() as api:
        r = api.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def book(server: Server) -> dict[str, int]:
    """Three brokers, each with a firm whose portfolio holds 1,234.56 USD in cash; Dora chose
    de-DE on My account, Ursula en-US, Bea nothing (her browser's)."""
    firms = {}
    for who, locale in (("dora", "de-DE"), ("ursula", "en-US"), ("bea", "")):
        email = f"{who}.locale@e2e.example"
        create_user_via_api(server, email, "broker", who.title() + " Locale", PASSWORD)
        auth = _token(server, email)
        with server.api() as api:
            r = api.patch("/api/v1/users/me", headers=auth, json={"locale": locale})
            assert r.status_code == 200, r.text
            firm_id = api.post(
                "/api/v1/firms", headers=auth, json={"name": f"{who.title()} Locale Capital"}
            ).json()["firm_id"]
            r = api.post(
                f"/api/v1/firms/{firm_id}/portfolio/transactions",
                headers=auth,
                json={"kind": "deposit", "amount": "1234.56", "currency": "USD",
                      "trade_date": "2026-03-02"},
            )  # fmt: skip
            assert r.status_code == 201, r.text
        firms[who] = firm_id
    return firms


@pytest.mark.parametrize(
    ("who", "browser_locale", "cash", "pager"),
    [
        ("dora", "en-US", "1.234,56", "1–1 of 1"),
        ("ursula", "de-DE", "1,234.56", "1–1 of 1"),
        ("bea", "de-DE", "1.234,56", "1–1 of 1"),
        ("bea", "en-US", "1,234.56", "1–1 of 1"),
    ],
)
def test_money_on_the_portfolio_page_in_the_users_locale(
    browser: Browser, server: Server, book, who, browser_locale, cash, pager
):
    context = browser.new_context(locale=browser_locale, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, server.url, f"{who}.locale@e2e.example", PASSWORD)
        page.goto(f"{server.url}/firms/{book[who]}/portfolio")
        expect(page.locator("#cash-value")).to_have_text(cash, timeout=20_000)
        expect(page.locator("#total-value")).to_have_text(cash)
        expect(page.get_by_text(pager)).to_be_visible()
    finally:
        context.close()
