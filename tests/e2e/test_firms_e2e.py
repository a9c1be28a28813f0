"""Firms and traders in a real browser: a broker manages a firm; coverage decides who sees it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import create_user_via_api, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "e2e firms password"


def _search(page: Page, base: str, text: str) -> None:
    page.goto(base + "/firms")
    page.wait_for_selector("#firm-search")
    page.fill("#firm-search", text)


def test_broker_manages_a_firm_and_coverage_limits_who_sees_it(page: Page, base, server, browser):
    create_user_via_api(server, "fiona.broker@e2e.example", "broker", "Fiona Broker", PASSWORD)
    create_user_via_api(server, "gary.broker@e2e.example", "broker", "Gary Broker", PASSWORD)
    create_user_via_api(server, "mona.manager@e2e.example", "manager", "Mona Manager", PASSWORD)

    # The broker creates a firm; a bad LEI is refused next to its field first.
    sign_in(page, base, "fiona.broker@e2e.example", PASSWORD)
    page.goto(base + "/firms")
    page.click("#new-firm")
    page.fill("#firm-name", "Quillfeather Capital")
    page.fill("#firm-lei", "5493001KJTIIGC8Y1R13")
    page.click("#firm-save")
    expect(page.get_by_text("is not a valid LEI (the check digits do not match)")).to_be_visible(
        timeout=10_000
    )
    page.fill("#firm-lei", "5493001KJTIIGC8Y1R12")
    page.fill("#firm-city", "Leeds")
    page.fill("#firm-phone", "+44 113 496 0000")
    page.click("#firm-save")
    page.wait_for_url(re.compile(r"/firms/\d+/?$"), timeout=15_000)
    expect(page.locator("#firm-title")).to_have_text("Quillfeather Capital")
    expect(page.locator("#firm-primary-broker")).to_have_text("Fiona Broker")
    firm_url = page.url

    # Two traders, then an edit of one.
    for name, email in (
        ("Ada Quill", "ada@quillfeather.example"),
        ("Ben Feather", "ben@quillfeather.example"),
    ):
        page.click("#add-trader")
        page.fill("#trader-name", name)
        page.fill("#trader-email", email)
        page.click("#trader-save")
        expect(page.get_by_text(f"{name} added.")).to_be_visible(timeout=10_000)
    table = page.locator("#traders-table")
    expect(table.get_by_role("link", name="Ada Quill")).to_be_visible()
    expect(table.get_by_role("link", name="Ben Feather")).to_be_visible()
    table.get_by_role("row", name=re.compile("Ben Feather")).get_by_role(
        "button", name="Trader actions"
    ).click()
    page.get_by_role("menuitem", name="Edit").click()
    expect(page.locator("#trader-name")).to_have_value("Ben Feather")
    page.fill("#trader-name", "Benjamin Feather")
    page.fill("#trader-phone", "+44 113 496 0123")
    page.click("#trader-save")
    expect(page.get_by_text("Benjamin Feather saved.")).to_be_visible(timeout=10_000)
    # Lists show contact details masked (the whole number only through a traced Reveal).
    expect(table.get_by_text("••• 23")).to_be_visible()
    expect(table.get_by_text("+44 113 496 0123")).to_have_count(0)

    # Found by a prefix search as you type.
    _search(page, base, "quill")
    expect(
        page.locator("#firms-table").get_by_role("link", name="Quillfeather Capital")
    ).to_be_visible(timeout=10_000)

    # Another broker cannot find it, not even by its address.
    other = browser.new_context().new_page()
    sign_in(other, base, "gary.broker@e2e.example", PASSWORD)
    _search(other, base, "quill")
    expect(other.get_by_text("No firms match")).to_be_visible(timeout=10_000)
    other.goto(firm_url)
    expect(other.get_by_text("Firm not found")).to_be_visible(timeout=10_000)
    other.context.close()

    # A manager can.
    manager = browser.new_context().new_page()
    sign_in(manager, base, "mona.manager@e2e.example", PASSWORD)
    _search(manager, base, "quillf")
    expect(
        manager.locator("#firms-table").get_by_role("link", name="Quillfeather Capital")
    ).to_be_visible(timeout=10_000)

    # The broker archives it (after confirming): it leaves the lists, for the manager too.
    page.goto(firm_url)
    page.click("#firm-more")
    page.click("#archive-firm")
    page.click("#confirm-archive")
    page.wait_for_url(re.compile(r"/firms/?$"), timeout=15_000)
    expect(page.get_by_text("Quillfeather Capital archived.")).to_be_visible(timeout=10_000)
    _search(page, base, "quill")
    expect(page.get_by_text("No firms match")).to_be_visible(timeout=10_000)
    _search(manager, base, "quill")
    expect(manager.get_by_text("No firms match")).to_be_visible(timeout=10_000)
    manager.context.close()
