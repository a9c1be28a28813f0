"""Saved views of the trader list in Chromium, on a phone and a laptop: a broker saves a view
that hides a column with the keyboard; the column is gone from the table and from the phone's
cards; applying the view again brings back its search."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Server, create_user_via_api, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "e2e saved views password"
EMAIL = "vic.views@e2e.example"


@pytest.fixture(scope="module")
def book(server: Server) -> None:
    create_user_via_api(server, EMAIL, "broker", "Vic Views", PASSWORD)
    with server.api() as api:
        r = api.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        firm_id = api.post("/api/v1/firms", headers=auth, json={"name": "Views Partners"}).json()[
            "firm_id"
        ]
        for name in ("Hal Viewer", "Ada Viewer"):
            r = api.post(
                f"/api/v1/firms/{firm_id}/traders",
                headers=auth,
                json={"name": name, "email": name.split()[0].lower() + "@views.example",
                      "role": "Analyst"},
            )  # fmt: skip
            assert r.status_code == 201, r.text


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_a_saved_view_hides_a_column_and_brings_back_its_search(
    browser: Browser, server: Server, book, width, height
):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        sign_in(page, server.url, EMAIL, PASSWORD)
        page.goto(server.url + "/traders")
        page.wait_for_selector("#trader-search")
        page.fill("#trader-search", "hal")
        expect(page.get_by_text("a•••@views.example")).to_have_count(0, timeout=15_000)
        role_cells = page.locator("tbody td", has_text="Analyst")
        expect(role_cells.first).to_be_visible()
        page.focus("#save-view")
        page.keyboard.press("Enter")
        page.wait_for_selector("#view-name")
        page.keyboard.type(f"Hal {width}")
        page.get_by_role("checkbox", name="Role").focus()
        page.keyboard.press("Space")
        page.focus("#view-name")
        page.keyboard.press("Enter")
        expect(page.locator("#view-name")).to_have_count(0)
        expect(role_cells.first).to_be_hidden()
        expect(page.get_by_role("button", name="Sort by Role")).to_be_hidden()
        # Another search, then the view again: its search is back, in the box too.
        page.fill("#trader-search", "ada")
        expect(page.get_by_text("a•••@views.example")).to_be_visible(timeout=15_000)
        page.click("#views")
        page.get_by_role("option", name=f"Hal {width}").click()
        expect(page.locator("#trader-search")).to_have_value("hal")
        expect(page.get_by_text("a•••@views.example")).to_have_count(0)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1
    finally:
        context.close()
