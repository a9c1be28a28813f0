"""Legal hold and recording disclosure in Chromium on the demo data: compliance places a hold on
one of Ben's firms; Ben's archive of it is refused with a message (the firm stays); compliance
releases the hold; the log-interaction dialog warns that the client was not told communications
are recorded until the day is noted in the firm's profile; a trader's contact details show
only after "Reveal", and compliance sees the reveal among the read traces."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import sign_in
from tests.e2e.test_review_e2e import _demo_password

pytestmark = pytest.mark.e2e


def test_hold_blocks_the_brokers_archive_until_released(page: Page, browser: Browser, server, base):
    password = _demo_password(server)
    broker = browser.new_context().new_page()
    try:
        # One of Ben's firms whose client has not been told communications are recorded (the
        # demo book has one such firm per broker).
        with server.api() as api:
            r = api.post(
                "/api/v1/auth/token",
                data={"username": "ben.broker@brokersync.example", "password": password},
            )
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            mine = api.get(
                "/api/v1/firms", headers=headers, params={"limit": 100, "covered": "true"}
            ).json()["items"]
            firm = next(
                one
                for one in (
                    api.get(f"/api/v1/firms/{f['firm_id']}", headers=headers).json() for f in mine
                )
                if one["recording_disclosed_on"] is None
            )
        firm_name, firm_url = firm["name"], f"{base}/firms/{firm['firm_id']}"
        sign_in(broker, base, "ben.broker@brokersync.example", password)
        broker.goto(firm_url)
        expect(broker.locator("#firm-title")).to_have_text(firm_name, timeout=20_000)

        # Compliance places the hold, by name, with a reason.
        sign_in(page, base, "chris.compliance@brokersync.example", password)
        page.get_by_role("link", name="Legal holds").first.click()
        page.wait_for_url(re.compile(r"/compliance/holds"))
        page.get_by_label("Hold on").select_option("firm")
        page.get_by_label("Name").fill(firm_name[:8])
        page.get_by_role("button", name=firm_name, exact=True).click()
        expect(page.locator("#hold-chosen")).to_contain_text(firm_name)
        page.get_by_label("Reason", exact=True).fill("Litigation hold e2e")
        page.get_by_role("button", name="Place hold").click()
        held = page.locator("[id^=hold-]").filter(has_text="Litigation hold e2e")
        expect(held.first).to_contain_text(firm_name, timeout=10_000)

        # The broker's archive is refused, with a message; the firm stays.
        broker.goto(firm_url)
        broker.click("#firm-more")
        broker.click("#archive-firm")
        broker.click("#confirm-archive")
        expect(broker.get_by_text(re.compile("under a legal hold"))).to_be_visible(timeout=10_000)
        expect(broker).to_have_url(firm_url)

        # Compliance releases it, with a reason.
        card = page.locator("[id^=hold-]").filter(has_text="Litigation hold e2e").first
        card.get_by_label("Reason for releasing").fill("Matter closed")
        card.get_by_role("button", name=re.compile("^Release")).click()
        expect(page.get_by_text("Legal hold released.")).to_be_visible(timeout=10_000)
        expect(page.locator("#hold-list")).to_have_count(0)

        # The disclosure warning: shown while the day is not noted, gone once it is.
        broker.goto(firm_url)
        broker.click("#log-interaction")
        dialog = broker.get_by_role("dialog")
        expect(dialog.locator("#interaction-disclosure-warning")).to_be_visible(timeout=10_000)
        broker.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        broker.click("#edit-firm")
        broker.get_by_label("Day the client was told communications are recorded").fill(
            "2026-01-15"
        )
        broker.get_by_role("dialog").get_by_role("button", name=re.compile("^Save")).click()
        expect(broker.get_by_role("dialog")).to_be_hidden(timeout=10_000)
        broker.click("#log-interaction")
        expect(broker.get_by_role("dialog")).to_be_visible()
        expect(broker.locator("#interaction-disclosure-warning")).to_have_count(0)
        broker.keyboard.press("Escape")

        # Reveal a trader's contact details; compliance sees the trace (written by the job).
        trader_link = broker.locator("a[href^='/traders/']").first
        trader_link.click()
        broker.wait_for_url(re.compile(r"/traders/\d+"))
        expect(broker.locator("#trader-email")).to_have_count(0)
        broker.click("#reveal-contact")
        expect(broker.locator("#trader-email")).to_be_visible(timeout=10_000)
        trace = page.locator("#trace-list").get_by_text("contact details")
        for _ in range(15):
            page.reload()
            page.wait_for_selector("#trace-filter", timeout=20_000)
            if trace.count():
                break
            page.wait_for_timeout(1000)
        expect(trace.first).to_be_visible(timeout=10_000)
    finally:
        broker.context.close()
