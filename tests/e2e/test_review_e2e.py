"""Supervisory review in Chromium on the demo data: the selection job has put the demo
interactions whose notes the lexicon matches in compliance's queue; compliance escalates one to
the manager (the dialog asks whom and why, Escape closes it), the manager flags it, and the
reports show the flag."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def _demo_password(server) -> str:
    text = (server.data_dir / "demo-credentials.txt").read_text()
    found = re.search(r"password for all: (\S+)\)", text)
    assert found, text
    return found.group(1)


def test_compliance_escalates_and_the_manager_flags(page: Page, browser: Browser, server, base):
    password = _demo_password(server)
    sign_in(page, base, "chris.compliance@brokersync.example", password)
    page.get_by_role("link", name="Review").first.click()
    page.wait_for_url(re.compile(r"/compliance/review"))
    # The job runs every second in the e2e server: the queue fills without a reload of the data.
    hit = page.locator("#review-queue mark").first
    for _ in range(20):
        if hit.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(hit).to_be_visible(timeout=20_000)
    expect(hit).to_have_text(re.compile(r"guaranteed|complaint", re.I))
    card = page.locator("[id^=review-item-]").filter(has=page.locator("mark")).first
    card_id = card.get_attribute("id")
    # Escape closes the dialog, and nothing changes.
    card.get_by_role("button", name=re.compile("^Escalate")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # Escalate it to the manager, with a comment; without one the dialog says what is missing.
    card.get_by_role("button", name=re.compile("^Escalate")).click()
    dialog.get_by_label("Escalate to").select_option(label="Maria Lindqvist (manager)")
    dialog.get_by_role("button", name="Escalate").click()
    expect(dialog.get_by_role("alert")).to_contain_text("required")
    dialog.get_by_label("Comment").fill("Please talk to the broker about this call.")
    dialog.get_by_role("button", name="Escalate").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(f"#{card_id}")).to_have_count(0)

    other = browser.new_context()
    mpage = other.new_page()
    try:
        sign_in(mpage, base, "maria.manager@brokersync.example", password)
        mpage.goto(base + "/compliance/review")
        mpage.get_by_label("Status").select_option("escalated")
        mpage.get_by_role("button", name="Show").click()
        mine = mpage.locator(f"#{card_id}")
        expect(mine).to_be_visible()
        expect(mine).to_contain_text("Escalated to Maria Lindqvist")
        mine.get_by_role("button", name=re.compile("^Flag")).click()
        mpage.get_by_role("dialog").get_by_label("Comment").fill("Spoke to him; warned.")
        mpage.get_by_role("dialog").get_by_role("button", name="Flag").click()
        expect(mpage.get_by_role("dialog")).to_be_hidden()
        expect(mine).to_have_count(0)
    finally:
        other.close()

    page.reload()
    page.get_by_role("tab", name="Reports").click()
    expect(page.locator("#review-flags")).to_contain_text("lexicon")


def test_compliance_exports_a_firms_archive_and_it_verifies(page: Page, server, base, tmp_path):
    from brm_app.services.regulator_export import verify_archive

    sign_in(page, base, "chris.compliance@brokersync.example", _demo_password(server))
    page.get_by_role("link", name="Exports").first.click()
    page.wait_for_url(re.compile(r"/compliance/exports"))
    page.get_by_label("About").select_option("firm")
    page.get_by_label("Name").fill("marina bay")
    page.get_by_role("button", name="Marina Bay Capital", exact=True).click()
    expect(page.get_by_text("Chosen:")).to_contain_text("Marina Bay Capital")
    page.get_by_label("From").fill("2024-01-01")
    page.get_by_label("To").fill("2026-12-31")
    page.get_by_role("button", name="Request export").click()
    # Built by the job; the page refreshes itself while it is being built.
    download_link = page.locator("[id^=export-download-]").first
    expect(download_link).to_be_visible(timeout=60_000)
    with page.expect_download() as info:
        download_link.click()
    path = tmp_path / "archive.zip"
    info.value.save_as(path)
    result = verify_archive(path)
    assert result.ok and result.files > 10, result.problems
