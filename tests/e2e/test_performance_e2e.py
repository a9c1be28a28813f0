"""A broker sees their interactions chart on the dashboard, opens a portfolio's performance,
switches the period and the benchmark (the charts follow the colour mode) and downloads the PDF;
a manager opens the team report and exports it (Chromium)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, create_user_via_api, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "e2e performance password"


def _token(server: Server, email: str, password: str) -> dict[str, str]:
    with server.api() as api:
        r = api.post("/api/v1/auth/token", data={"username": email, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_a_broker_reads_performance_and_a_manager_exports_the_team_report(
    page: Page, server: Server
):
    manager_email, broker_email = "mia.perf@e2e.example", "pat.perf@e2e.example"
    manager_id = create_user_via_api(server, manager_email, "manager", "Mia Manager", PASSWORD)
    create_user_via_api(server, broker_email, "broker", "Pat Perf", PASSWORD, manager_id)
    broker = _token(server, broker_email, PASSWORD)
    admin = _token(server, ADMIN_EMAIL, ADMIN_PASSWORD)
    with server.api() as api:
        for symbol in ("PERFX", "BENCHX"):
            r = api.post(
                "/api/v1/instruments",
                headers=admin,
                json={
                    "symbol": symbol,
                    "name": f"{symbol} Corp",
                    "asset_class": "equity",
                    "currency": "USD",
                },
            )
            assert r.status_code == 201, r.text
        firm_id = api.post(
            "/api/v1/firms", headers=broker, json={"name": "Performance Partners"}
        ).json()["firm_id"]
        for body in (
            {"kind": "deposit", "amount": "10000", "currency": "USD", "trade_date": "2026-01-05"},
            {
                "kind": "buy",
                "symbol": "PERFX",
                "quantity": "10",
                "price": "90",
                "trade_date": "2026-01-05",
            },
        ):
            r = api.post(
                f"/api/v1/firms/{firm_id}/portfolio/transactions", headers=broker, json=body
            )
            assert r.status_code == 201, r.text

    sign_in(page, server.url, broker_email, PASSWORD)
    # The broker's dashboard charts their own interactions per month.
    page.goto(f"{server.url}/")
    expect(page.locator("#chart-my-interactions .gtitle")).to_have_text(
        "My interactions per month", timeout=20_000
    )
    page.goto(f"{server.url}/firms/{firm_id}/portfolio")
    # The link's address comes with the page's state: wait for it (under load it comes late).
    expect(page.locator("#open-performance")).to_have_attribute(
        "href", f"/firms/{firm_id}/performance", timeout=20_000
    )
    page.click("#open-performance")
    page.wait_for_url(f"**/firms/{firm_id}/performance")
    expect(page.locator("#fig-twr")).not_to_have_text("", timeout=20_000)
    expect(page.locator("#chart-value .main-svg").first).to_be_visible(timeout=20_000)
    span = page.get_by_text("Performance Partners ·")
    expect(span).to_contain_text("to")
    # Since inception: the span starts at inception.
    page.locator("#perf-period").click()
    page.get_by_role("option", name="Since inception").click()
    expect(span).to_contain_text("inception to", timeout=10_000)
    # A benchmark: the return chart gets its line.
    page.locator("#perf-benchmark").click()
    page.get_by_role("option", name="BENCHX").click()
    expect(page.locator("#chart-return .legendtext").filter(has_text="BENCHX")).to_have_count(
        1, timeout=10_000
    )
    # The charts follow the colour mode: plotly's dark template once the system turns dark.
    title = page.locator("#chart-return .gtitle").first
    expect(title).to_have_css("fill", "rgb(42, 63, 95)")
    page.emulate_media(color_scheme="dark")
    expect(title).to_have_css("fill", "rgb(242, 245, 250)", timeout=10_000)
    page.emulate_media(color_scheme="light")
    with page.expect_download(timeout=30_000) as info:
        page.click("#download-pdf")
    download = info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    with open(download.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"

    # The manager, in a tab of their own: the team report, exported.
    page.context.clear_cookies()
    page.close()
    page = page.context.new_page()
    sign_in(page, server.url, manager_email, PASSWORD)
    page.goto(f"{server.url}/reports/team")
    expect(page.locator("#team-brokers")).to_contain_text("Pat Perf", timeout=20_000)
    with page.expect_download(timeout=30_000) as info:
        page.click("#team-export")
    download = info.value
    assert download.suggested_filename.startswith("team-report-")
    with open(download.path(), encoding="utf-8") as fh:
        text = fh.read()
    assert "Pat Perf" in text and "broker,firms,portfolios,assets" in text
