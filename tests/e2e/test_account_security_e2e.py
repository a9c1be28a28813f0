"""A user an admin created: made to choose a password at first sign-in, enrols two-factor
sign-in from the QR code's page, then signs in again with a one-time code (Chromium)."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

pytestmark = pytest.mark.e2e

EMAIL = "olga.onboarding@e2e.example"
MINE = "olga's very own passphrase"


def _generated_password(server) -> str:
    """An admin creates Olga without choosing a password: the app generates one."""
    with server.api() as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        r = api.post(
            "/api/v1/users",
            headers={"Authorization": f"Bearer {token}"},
            json={"email": EMAIL, "name": "Olga Onboarding", "role": "broker"},
        )
        assert r.status_code == 201, r.text
        return r.json()["initial_password"]


def _sign_in_form(page: Page, base: str, password: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_new_user_chooses_a_password_enrols_totp_and_signs_in_with_a_code(page: Page, server):
    base = server.url
    first = _generated_password(server)

    # First sign-in: the app goes nowhere but the password page.
    _sign_in_form(page, base, first)
    page.wait_for_url(re.compile(r"/account/security/?$"), timeout=30_000)
    expect(page.get_by_role("heading", name="Choose your own password")).to_be_visible(
        timeout=15_000
    )
    page.goto(base + "/firms")
    page.wait_for_url(re.compile(r"/account/security/?$"), timeout=15_000)
    page.get_by_label("Current password").fill(first)
    page.get_by_label("New password", exact=True).fill(MINE)
    page.get_by_label("Repeat new password").fill(MINE)
    page.get_by_role("button", name="Save my password").click()
    page.wait_for_url(lambda url: "/account/security" not in url, timeout=20_000)
    expect(page.locator("#user-menu")).to_be_visible(timeout=15_000)

    # Enrol from the QR code's page (the key shown for typing by hand is what the test reads).
    page.goto(base + "/account/security")
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    expect(page.locator("#totp-qr")).to_be_visible(timeout=15_000)
    assert page.locator("#totp-qr").get_attribute("src").startswith("data:image/svg+xml")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert len(secret) == 32
    page.get_by_label("Code from your app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    codes = page.locator("#recovery-codes code")
    expect(codes).to_have_count(10, timeout=15_000)
    page.get_by_role("button", name="I have saved them").click()
    expect(page.locator("#recovery-codes")).to_have_count(0)
    expect(page.locator("#recovery-left")).to_have_text("10")

    # Sign out, and in again: the password alone is not enough.
    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/login"), timeout=15_000)
    _sign_in_form(page, base, MINE)
    code_field = page.get_by_label("One-time code")
    expect(code_field).to_be_visible(timeout=15_000)
    assert "/login" in page.url
    code_field.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_contain_text("not valid", timeout=15_000)
    # The enrolment's code is spent: the next step's code (one step of drift is allowed).
    code_field.fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url, timeout=20_000)
    expect(page.locator("#shell-user-name")).to_have_text("Olga Onboarding", timeout=15_000)
