"""Interactions, follow-ups and the calendar in a real browser, with a live reminder."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import create_user_via_api, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "e2e activity password"


def _book(server) -> tuple[int, int]:
    """A firm with one trader in the broker's book, made over the REST API."""
    with server.api() as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": "ida.broker@e2e.example", "password": PASSWORD}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        firm = api.post(
            "/api/v1/firms",
            headers=auth,
            json={"name": "Juniper Ridge Capital", "tier": "A", "account_status": "Active"},
        )
        assert firm.status_code == 201, firm.text
        firm_id = firm.json()["firm_id"]
        trader = api.post(
            f"/api/v1/firms/{firm_id}/traders",
            headers=auth,
            json={"name": "Theo Juniper", "email": "theo@juniper.example"},
        )
        assert trader.status_code == 201, trader.text
        return firm_id, trader.json()["trader_id"]


def test_log_call_plan_follow_up_see_it_and_get_the_reminder_live(page: Page, base, server):
    create_user_via_api(server, "ida.broker@e2e.example", "broker", "Ida Broker", PASSWORD)
    firm_id, trader_id = _book(server)
    sign_in(page, base, "ida.broker@e2e.example", PASSWORD)
    page.goto(f"{base}/firms/{firm_id}")
    expect(page.locator("#firm-title")).to_have_text("Juniper Ridge Capital", timeout=15_000)

    # Log a call with the trader, outcome "Follow-up required".
    page.click("#log-interaction")
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("checkbox", name="Theo Juniper").check()
    page.click("#interaction-outcome")
    page.get_by_role("option", name="Follow-up required").click()
    page.fill("#interaction-subject", "Discussed the new issue")
    page.fill("#interaction-notes", "Wants the term sheet by Friday.")
    page.click("#interaction-save")
    expect(page.get_by_text("Call saved.")).to_be_visible(timeout=10_000)

    # The follow-up dialog opens by itself, pre-filled; plan it for tomorrow with a reminder in a few seconds.
    expect(page.locator("#follow-up-title")).to_have_value(
        "Follow up: Discussed the new issue", timeout=10_000
    )
    now = datetime.now(UTC)
    page.fill("#follow-up-day", (now + timedelta(days=1)).strftime("%Y-%m-%d"))
    page.fill("#follow-up-time", "10:00")
    remind = now + timedelta(seconds=12)
    page.fill("#follow-up-remind-day", remind.strftime("%Y-%m-%d"))
    page.fill("#follow-up-remind-time", remind.strftime("%H:%M:%S"))
    page.click("#follow-up-save")
    expect(page.get_by_text("Follow-up scheduled for Ida Broker.")).to_be_visible(timeout=10_000)

    # Both are on the firm's timeline.
    timeline = page.locator("#timeline")
    expect(timeline.get_by_role("link", name="Discussed the new issue", exact=True)).to_be_visible(
        timeout=10_000
    )
    expect(timeline.get_by_role("link", name="Follow up: Discussed the new issue")).to_be_visible()
    expect(timeline.get_by_text("Follow-up required")).to_be_visible()

    # And on the calendar (agenda view: tomorrow may be in next month).
    page.goto(f"{base}/calendar?view=agenda")
    expect(page.locator(".cal-item", has_text="Follow up: Discussed the new issue")).to_be_visible(
        timeout=15_000
    )
    expect(page.locator("#bell-count")).to_have_count(0)

    # The reminder falls due: the bell count rises on this open page, without a reload.
    url_before = page.url
    expect(page.locator("#bell-count")).to_have_text("1", timeout=45_000)
    assert page.url == url_before
    page.click("#bell")
    expect(page.get_by_text("Reminder: Follow up: Discussed the new issue")).to_be_visible()
    page.get_by_text("Reminder: Follow up: Discussed the new issue").click()
    page.wait_for_url(re.compile(r"/follow-ups/\d+/?$"), timeout=15_000)
    expect(page.locator("#follow-up-heading")).to_have_text("Follow up: Discussed the new issue")
    expect(page.locator("#bell-count")).to_have_count(0)
    assert trader_id


def test_manager_sees_the_teams_due_for_contact_list_on_the_dashboard(page: Page, base, server):
    """A firm a broker added and never called is due; the manager (who covers no firm) sees it
    on the dashboard without choosing anything, and "My firms" narrows to their own (none).
    The follow-ups card shows the team's open follow-ups with whose each is."""
    max_id = create_user_via_api(
        server, "max.manager@e2e.example", "manager", "Max Manager", PASSWORD
    )
    create_user_via_api(
        server, "uma.broker@e2e.example", "broker", "Uma Broker", PASSWORD, manager_id=max_id
    )
    with server.api() as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": "uma.broker@e2e.example", "password": PASSWORD}
        ).json()["access_token"]
        firm = api.post(
            "/api/v1/firms",
            headers={"Authorization": f"Bearer {token}"},
            json={"name": "Quiet Harbour Advisors", "tier": "A", "account_status": "Active"},
        )
        assert firm.status_code == 201, firm.text
        due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
        fu = api.post(
            "/api/v1/follow-ups",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "title": "Send Quiet Harbour the deck",
                "due_at": due.isoformat(),
                "firm_id": firm.json()["firm_id"],
            },
        )
        assert fu.status_code == 201, fu.text
    sign_in(page, base, "max.manager@e2e.example", PASSWORD)
    page.goto(f"{base}/")
    due = page.locator("#due-for-contact")
    expect(due.get_by_text("Quiet Harbour Advisors")).to_be_visible(timeout=15_000)
    expect(due.get_by_text("Uma Broker")).to_be_visible()
    # The team's open follow-ups, each with whose it is.
    expect(page.get_by_role("heading", name="Team's open follow-ups")).to_be_visible()
    expect(page.get_by_role("link", name="Send Quiet Harbour the deck")).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"Quiet Harbour Advisors · Uma Broker · due"))
    ).to_be_visible()
    page.get_by_role("radio", name="My firms").click()
    expect(page.get_by_text("Every firm is within its contact interval.")).to_be_visible(
        timeout=10_000
    )
