"""Security headers on `brm serve`: on pages, static files, the API and the docs; the policy lets
every page of the app run (no violation reported while walking them) and stops an inline script
that is not part of the build."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, sign_in

pytestmark = pytest.mark.e2e


def test_every_kind_of_response_carries_the_headers(base):
    page = httpx.get(base + "/login", follow_redirects=True)
    asset = re.search(r'href="(/assets/[^"]+\.css)"', page.text)
    assert asset, page.text[:500]
    for url in [
        "/login",
        asset.group(1),
        "/api/health",
        "/api/v1/users/me",  # 401
        "/no-such-page",
        "/api/docs",
    ]:
        r = httpx.get(base + url)
        assert r.headers.get("x-content-type-options") == "nosniff", url
        assert r.headers.get("x-frame-options") == "DENY", url
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), url
        assert "permissions-policy" in r.headers, url
        # Plain HTTP here: no HSTS (it would pin the browser to HTTPS this server does not serve).
        assert "strict-transport-security" not in r.headers, url


def test_the_app_runs_under_its_policy_and_an_injected_script_does_not(page: Page, base):
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    pages = [
        "/",
        "/firms",
        "/traders",
        "/calendar",
        "/communications",
        "/communications/log",
        "/notifications",
        "/import",
        "/account",
        "/account/security",
        "/admin/users",
        "/admin/settings",
        "/admin/jobs",
        "/admin/instruments",
        "/audit",
        "/api/docs",
    ]
    for path in pages:
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        # Rendered (the app shell, or Swagger UI's header): a policy that broke the page fails here.
        page.wait_for_selector(
            "#user-menu" if path != "/api/docs" else ".swagger-ui", timeout=30_000
        )
        assert page.locator("body").inner_text().strip(), path
    assert violations == []
    # Swagger UI started under the docs page's own policy.
    page.goto(base + "/api/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=20_000)

    page.goto(base + "/firms")
    page.wait_for_selector("#user-menu")
    with pytest.raises(PlaywrightError):
        page.add_script_tag(content="window.__injected = 1;")
    assert page.evaluate("typeof window.__injected") == "undefined"
    assert any("Content Security Policy" in v for v in violations)
