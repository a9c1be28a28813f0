"""What a security probe found in the browser: the sign-in redirect, the server log, labels and the
signed-out shell, each checked in Chromium (or over the real websocket) against `brm serve`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
import uuid

import pytest
import socketio
from playwright.sync_api import Page, expect
from reflex.state import FrontendEventExceptionState

from brm_app.state.auth import SessionState
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_user_via_api, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "e2e safety password"


# 1. No open redirect after sign-in -------------------------------------------------------------


@pytest.mark.parametrize("next_", ["/%09/evil.example", "/%0a/evil.example", "/%0d/evil.example"])
def test_sign_in_with_a_next_that_browsers_read_as_another_host_stays_here(page: Page, base, next_):
    visited_evil: list[str] = []

    def evil(route):
        visited_evil.append(route.request.url)
        route.fulfill(status=200, body="evil", content_type="text/plain")

    page.route(re.compile(r"^https?://evil\.example"), evil)
    page.goto(f"{base}/login?next={next_}")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(lambda url: "/login" not in url, timeout=20_000)
    expect(page.locator("#user-menu")).to_be_visible(timeout=20_000)
    assert page.url.startswith(base + "/"), page.url
    assert visited_evil == []


# 2. The server log: no session tokens, no forged lines -----------------------------------------


async def _send_events(base: str, cookie: str, events: list[dict]) -> None:
    """Connect to Reflex's websocket as a browser tab would, with the cookie, and send events."""
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(
        f"{base}?token={uuid.uuid4()}",
        socketio_path="/_event",
        namespaces=["/_event"],
        transports=["websocket"],
        headers={"Cookie": cookie, "Origin": base},
        wait_timeout=10,
    )
    try:
        for event in events:
            await client.emit("event", event, namespace="/_event")
        await asyncio.sleep(1.5)
    finally:
        await client.disconnect()


def _send(base: str, cookie: str, events: list[dict]) -> None:
    # On a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _send_events(base, cookie, events)).result()


def _wait_for_log(server, marker: str, timeout: float = 15) -> str:
    """The server log once `marker` is in it (the console wraps long lines, so looked for unwrapped)."""
    deadline = time.monotonic() + timeout
    while True:
        text = server.log.read_text(errors="replace")
        if marker in text.replace("\n", "") or time.monotonic() > deadline:
            return text
        time.sleep(0.25)


def _router_data(path: str = "/") -> dict:
    return {"pathname": path, "query": {}, "asPath": path}


def test_an_unknown_handler_does_not_write_the_session_cookie_to_the_log(page: Page, base, server):
    sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "brm_session")
    marker = f"no_such_handler_{uuid.uuid4().hex}"
    event = {
        "name": f"{SessionState.get_full_name()}.{marker}",
        "payload": {},
        "router_data": _router_data(),
    }
    _send(base, f"theme=dark; brm_session={token}", [event])
    log = _wait_for_log(server, marker).replace("\n", "")  # undo the console's wrapping
    assert marker in log, "the unknown handler was not logged at all"
    assert token not in log
    # The session is still good: what was logged was redacted, not the cookie invalidated.
    page.reload()
    expect(page.locator("#user-menu")).to_be_visible(timeout=20_000)


def test_a_frontend_exception_report_is_logged_as_one_bounded_line(base, server):
    marker = f"probe-{uuid.uuid4().hex}"
    report = f"{marker}\nFORGED-{marker} ERROR admin password reset\r\n" + "x" * 20_000
    event = {
        "name": f"{FrontendEventExceptionState.get_full_name()}.handle_frontend_exception",
        "payload": {"info": report, "component_stack": ""},
        "router_data": _router_data("/login"),
    }
    # Anonymous: no cookie at all.
    _send(base, "", [event])
    log = _wait_for_log(server, f"FORGED-{marker}")
    lines = [line for line in log.splitlines() if marker in line]
    assert len(lines) == 1, lines
    (line,) = lines
    assert f"{marker} FORGED-{marker}" in line  # the newline became a space, on the same line
    assert len(line) < 1_200
    assert "x" * 2_000 not in log


# 3. Labels tied to their controls; no empty shell before the redirect --------------------------


def test_sign_in_fields_are_found_by_their_labels(page: Page, base):
    page.goto(base + "/login")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#user-menu")).to_be_visible(timeout=20_000)


def test_new_user_dialog_fields_are_found_by_their_labels(page: Page, base):
    sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto(base + "/admin/users")
    page.click("#new-user")
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Full name").fill("Lena Label")
    dialog.get_by_label("Email").fill("lena.label@e2e.example")
    dialog.get_by_label("Initial password (optional)").fill("lena's long password")
    expect(dialog.get_by_label("Role")).to_have_attribute("role", "combobox")
    expect(dialog.get_by_label("Manager")).to_have_attribute("role", "combobox")
    dialog.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("User lena.label@e2e.example created.")).to_be_visible(timeout=15_000)


def _firm_with_trader(server) -> int:
    with server.api() as api:
        token = api.post(
            "/api/v1/auth/token",
            data={"username": "lars.broker@e2e.example", "password": PASSWORD},
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        firm = api.post(
            "/api/v1/firms",
            headers=auth,
            json={"name": "Labelled Lane Partners", "tier": "B", "account_status": "Active"},
        )
        assert firm.status_code == 201, firm.text
        firm_id = firm.json()["firm_id"]
        trader = api.post(
            f"/api/v1/firms/{firm_id}/traders",
            headers=auth,
            json={"name": "Tess Label", "email": "tess@labelled.example"},
        )
        assert trader.status_code == 201, trader.text
        return firm_id


def test_activity_and_move_dialog_fields_are_found_by_their_labels(page: Page, base, server):
    create_user_via_api(server, "lars.broker@e2e.example", "broker", "Lars Broker", PASSWORD)
    firm_id = _firm_with_trader(server)
    sign_in(page, base, "lars.broker@e2e.example", PASSWORD)
    page.goto(f"{base}/firms/{firm_id}")
    expect(page.locator("#firm-title")).to_have_text("Labelled Lane Partners", timeout=15_000)

    page.click("#log-interaction")
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Subject").fill("Labels work")
    dialog.get_by_label("Notes").fill("Found by label.")
    expect(dialog.get_by_label("Date")).to_have_attribute("type", "date")
    expect(dialog.get_by_label("Start")).to_have_attribute("type", "time")
    expect(dialog.get_by_label("Type")).to_have_attribute("role", "combobox")
    expect(dialog.get_by_role("group", name="Traders")).to_be_visible()
    dialog.get_by_role("group", name="Traders").get_by_role("checkbox", name="Tess Label").check()
    page.click("#interaction-save")
    expect(page.get_by_text("Call saved.")).to_be_visible(timeout=10_000)

    page.get_by_role("button", name="Trader actions").first.click()
    page.get_by_role("menuitem", name="Moved to another firm…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Firm they joined")).to_be_visible()
    dialog.get_by_label("Reason (optional)").fill("Joined a rival")


def test_the_html_of_a_protected_page_has_no_shell_waiting_for_a_name(server):
    with server.api() as api:
        html = api.get("/", follow_redirects=True).text
    assert "Welcome back" not in html
    assert "signed in as" not in html


def test_a_protected_page_never_shows_an_empty_shell_before_sign_in(page: Page, base):
    page.add_init_script(
        """
        (() => {
          const KEY = 'brm-shell-seen';
          const check = () => {
            const text = document.body ? document.body.innerText || '' : '';
            if (/Welcome back|signed in as/.test(text)) {
              sessionStorage.setItem(KEY, text.slice(0, 200));
            }
          };
          new MutationObserver(check).observe(document, {
            childList: true, subtree: true, characterData: true,
          });
          document.addEventListener('DOMContentLoaded', check);
        })();
        """
    )
    page.goto(base + "/")
    page.wait_for_url(re.compile(r"/login"), timeout=20_000)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('brm-shell-seen')") is None
