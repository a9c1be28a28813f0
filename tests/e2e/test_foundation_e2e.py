"""The foundation in a real browser against the production build."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_user_via_api, sign_in

pytestmark = pytest.mark.e2e


def test_protected_page_redirects_to_login_and_back(page: Page, base):
    page.goto(base + "/audit")
    page.wait_for_url(re.compile(r"/login\?next=/audit"), timeout=20_000)
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r"/audit/?$"), timeout=20_000)
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()


def test_wrong_password_shows_one_generic_message(page: Page, base):
    page.goto(base + "/login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", "definitely not it!")
    page.click("#sign-in")
    expect(page.locator("#login-error")).to_have_text(
        "Email or password is incorrect.", timeout=15_000
    )
    page.fill("#email", "nobody-at-all@e2e.example")
    page.click("#sign-in")
    expect(page.locator("#login-error")).to_have_text("Email or password is incorrect.")
    assert "/login" in page.url


def test_sign_in_cookie_is_httponly_and_sign_out_revokes_it(page: Page, base):
    sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(page.locator("#shell-user-name")).to_have_text("Administrator")
    assert "brm_session" not in page.evaluate("document.cookie")
    cookie = next(c for c in page.context.cookies() if c["name"] == "brm_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/login"), timeout=15_000)
    assert not any(c["name"] == "brm_session" for c in page.context.cookies())
    # Replaying the old cookie gets nothing: the session died on the server at sign-out.
    page.context.add_cookies([cookie])
    page.goto(base + "/admin/users")
    page.wait_for_url(re.compile(r"/login"), timeout=15_000)


def test_admin_creates_broker_who_sees_only_broker_sections(page: Page, base, browser):
    sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto(base + "/admin/users")
    page.click("#new-user")
    page.fill("#user-name", "Eve Broker")
    page.fill("#user-email", "eve.broker@e2e.example")
    page.fill("#user-password", "eve's long password")
    page.click("#user-save")
    expect(page.get_by_text("User eve.broker@e2e.example created.")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("cell", name=re.compile("Eve Broker"))).to_be_visible()

    broker_ctx = browser.new_context()
    bp = broker_ctx.new_page()
    sign_in(bp, base, "eve.broker@e2e.example", "eve's long password")
    # The admin typed that password: Eve chooses her own before anything else.
    bp.wait_for_url(re.compile(r"/account/security/?$"), timeout=15_000)
    bp.get_by_label("Current password").fill("eve's long password")
    bp.get_by_label("New password", exact=True).fill("eve's own passphrase")
    bp.get_by_label("Repeat new password").fill("eve's own passphrase")
    bp.get_by_role("button", name="Save my password").click()
    bp.wait_for_url(lambda url: "/account/security" not in url, timeout=20_000)
    expect(bp.locator("#shell-user-name")).to_have_text("Eve Broker")
    nav = bp.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Dashboard")).to_be_visible()
    expect(nav.get_by_role("link", name="My account")).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    expect(nav.get_by_role("link", name="Audit trail")).to_have_count(0)
    expect(bp.get_by_text("Latest audit events")).to_have_count(0)
    # Typing the address does not help: the page stays empty and says why.
    bp.goto(base + "/admin/users")
    expect(bp.get_by_text("You do not have permission to do that.")).to_be_visible(timeout=15_000)
    expect(bp.get_by_role("cell", name=re.compile("Administrator"))).to_have_count(0)
    broker_ctx.close()


def test_user_changes_own_name_and_password(page: Page, base, server):
    create_user_via_api(
        server, "nina@e2e.example", "manager", "Nina Manager", "nina first password"
    )
    sign_in(page, base, "nina@e2e.example", "nina first password")
    page.goto(base + "/account")
    expect(page.locator("#profile-name")).to_have_value("Nina Manager", timeout=10_000)
    page.fill("#profile-name", "Nina M. Manager")
    page.click("#save-profile")
    expect(page.locator("#shell-user-name")).to_have_text("Nina M. Manager", timeout=10_000)
    page.fill("#current-password", "wrong current pw")
    page.fill("#new-password", "nina second password")
    page.fill("#confirm-password", "nina second password")
    page.click("#change-password")
    expect(page.get_by_text("is not your current password")).to_be_visible(timeout=10_000)
    page.fill("#current-password", "nina first password")
    page.fill("#new-password", "nina second password")
    page.fill("#confirm-password", "nina second password")
    page.click("#change-password")
    expect(page.get_by_text("Password changed.")).to_be_visible(timeout=10_000)
    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/login"))
    sign_in(page, base, "nina@e2e.example", "nina second password")


def test_phone_viewport_shell_is_usable(browser, base):
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = ctx.new_page()
    sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    # No sideways scrolling of the page itself.
    assert page.evaluate("document.documentElement.scrollWidth") <= 392
    # The sidebar is folded into a menu that opens and navigates.
    expect(page.locator("#shell-user-name")).to_be_hidden()  # the desktop sidebar is folded away
    page.click("#open-menu")
    page.get_by_role("dialog").get_by_role("link", name="Users").click()
    page.wait_for_url(re.compile(r"/admin/users/?$"), timeout=15_000)
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.locator("#new-user")).to_be_in_viewport()
    # Signing out works from the top bar's account menu.
    page.click("#user-menu")
    page.click("#menu-sign-out")
    page.wait_for_url(re.compile(r"/login"), timeout=15_000)
    ctx.close()


def test_color_mode_switch(page: Page, base):
    sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    html = page.locator("html")
    before = html.get_attribute("class") or ""
    page.get_by_role("button", name="Switch light or dark").click()
    expect(html).not_to_have_class(before, timeout=5_000)
