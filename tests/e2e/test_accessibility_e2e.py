"""axe-core on every page, in light and dark, as the role that uses it, and on every dialog in
light: no serious or critical violation (WCAG 2.2 AA and axe's best practices). One app, one
browser, the pages looped in one tab per role."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.axe import describe, run_axe
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, sign_in

pytestmark = pytest.mark.e2e

DEMO = "brokersync.example"
PORTAL_EMAIL = "pia.portal@a11y.example"
PORTAL_PASSWORD = "pia's own passphrase"


def demo_password(server: Server) -> str:
    text = (server.data_dir / "demo-credentials.txt").read_text()
    return re.search(r"password for all: (\S+)\)", text).group(1)  # type: ignore[union-attr]


def _token(api: httpx.Client, email: str, password: str) -> dict[str, str]:
    r = api.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _world(server: Server) -> dict[str, Any]:
    """Ids of Ben's records (a firm, a trader, an interaction, a follow-up), and a portal trader."""
    pw = demo_password(server)
    with server.api() as api:
        ben = _token(api, f"ben.broker@{DEMO}", pw)
        firm = api.get("/api/v1/firms", headers=ben, params={"limit": 1}).json()["items"][0]
        fid = firm["firm_id"]
        trader = api.get(f"/api/v1/firms/{fid}/traders", headers=ben).json()["items"][0]
        interactions = api.get("/api/v1/interactions", headers=ben).json()["items"]
        follow_ups = api.get("/api/v1/follow-ups", headers=ben).json()["items"]
        maria = _token(api, f"maria.manager@{DEMO}", pw)
        r = api.post(
            f"/api/v1/firms/{fid}/traders",
            headers=maria,
            json={"name": "Pia Portal", "email": PORTAL_EMAIL, "permissions": ["portal_access"]},
        )
        assert r.status_code in (201, 409), r.text
        if r.status_code == 201:
            first = r.json()["portal_initial_password"]
            own = _token(api, PORTAL_EMAIL, first)
            r = api.post(
                "/api/v1/users/me/password",
                headers=own,
                json={"current_password": first, "new_password": PORTAL_PASSWORD},
            )
            assert r.status_code == 204, r.text
        return {
            "password": pw,
            "firm": fid,
            "trader": trader["trader_id"],
            "interaction": interactions[0]["interaction_id"] if interactions else None,
            "follow_up": follow_ups[0]["follow_up_id"] if follow_ups else None,
        }


def _settle(page: Page) -> None:
    page.wait_for_selector("#user-menu, #sign-in", timeout=20_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)


def _dark(page: Page, on: bool) -> None:
    page.emulate_media(color_scheme="dark" if on else "light")
    page.wait_for_function(
        "on => document.documentElement.classList.contains('dark') === on", arg=on, timeout=10_000
    )
    page.wait_for_timeout(150)  # the colours' transition


def _check_pages(page: Page, base: str, paths: list[str], who: str, problems: list[str]) -> None:
    for path in paths:
        page.goto(base + path)
        _settle(page)
        for dark in (False, True):
            _dark(page, dark)
            found = run_axe(page)
            problems += describe(f"{who} {path} ({'dark' if dark else 'light'})", found)
        _dark(page, False)


# A label whose `for` finds no form control (an id used twice: the page's heading took it), and
# ids used more than once. axe passes such a label (it matches by the id's text); the browser
# names the field by the first element of that id, so a screen reader hears an unnamed box.
LABELS_JS = """() => {
    const controls = ['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON'];
    const out = [];
    for (const l of document.querySelectorAll('[role=dialog] label[for], [role=alertdialog] label[for]')) {
        const t = document.getElementById(l.htmlFor);
        if (!t || !controls.includes(t.tagName))
            out.push('label "' + l.textContent.trim() + '" for #' + l.htmlFor + ' names ' +
                (t ? t.tagName : 'nothing'));
    }
    const seen = {};
    for (const e of document.querySelectorAll('[id]')) seen[e.id] = (seen[e.id] || 0) + 1;
    for (const [id, n] of Object.entries(seen)) if (n > 1) out.push('id ' + id + ' used ' + n + ' times');
    return out;
}"""


def _check_dialog(page: Page, where: str, open_it: Callable[[], None], problems: list[str]) -> None:
    open_it()
    dialog = page.locator("[role=dialog], [role=alertdialog]").last
    expect(dialog).to_be_visible(timeout=10_000)
    page.wait_for_timeout(400)  # the opening animation
    problems += describe(f"dialog {where}", run_axe(page, "[role=dialog], [role=alertdialog]"))
    problems += [f"dialog {where}: {p}" for p in page.evaluate(LABELS_JS)]
    page.keyboard.press("Escape")
    expect(page.locator("[role=dialog], [role=alertdialog]")).to_have_count(0, timeout=10_000)


def _session(browser: Browser, base: str, email: str, password: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(page, base, email, password)
    return page


def test_axe_finds_no_serious_violation_on_any_page_or_dialog(browser: Browser, server: Server):
    base = server.url
    w = _world(server)
    problems: list[str] = []
    fid = w["firm"]

    # Signed out: the sign-in page.
    anon = browser.new_context().new_page()
    anon.goto(base + "/login")
    _settle(anon)
    for dark in (False, True):
        _dark(anon, dark)
        problems += describe(f"signed out /login ({dark=})", run_axe(anon))
    anon.context.close()

    # A broker: the book, the calendar, the items, messages.
    broker = _session(browser, base, f"ben.broker@{DEMO}", w["password"])
    paths = [
        "/",
        "/firms",
        f"/firms/{fid}",
        f"/firms/{fid}/portfolio",
        "/traders",
        f"/traders/{w['trader']}",
        "/calendar",
        "/communications",
        "/notifications",
        "/account",
        "/account/security",
    ]
    if w["interaction"]:
        paths.append(f"/interactions/{w['interaction']}")
    if w["follow_up"]:
        paths.append(f"/follow-ups/{w['follow_up']}")
    _check_pages(broker, base, paths, "broker", problems)

    broker.goto(base + "/firms")
    _settle(broker)
    _check_dialog(broker, "new firm", lambda: broker.click("#new-firm"), problems)
    broker.goto(base + f"/firms/{fid}")
    _settle(broker)
    _check_dialog(broker, "edit firm", lambda: broker.click("#edit-firm"), problems)
    _check_dialog(broker, "add trader", lambda: broker.click("#add-trader"), problems)
    _check_dialog(broker, "log interaction", lambda: broker.click("#log-interaction"), problems)
    _check_dialog(broker, "follow-up", lambda: broker.click("#new-follow-up"), problems)
    broker.goto(base + "/calendar")
    _settle(broker)
    _check_dialog(
        broker, "calendar follow-up", lambda: broker.click("#cal-new-follow-up"), problems
    )
    broker.context.close()

    # A manager: the team's calendar, coverage and merge.
    manager = _session(browser, base, f"maria.manager@{DEMO}", w["password"])
    _check_pages(manager, base, ["/", "/calendar", "/import"], "manager", problems)
    manager.goto(base + f"/firms/{fid}")
    _settle(manager)

    def menu(item: str) -> Callable[[], None]:
        return lambda: (manager.click("#firm-more"), manager.click(item))

    _check_dialog(manager, "coverage", menu("#open-coverage"), problems)
    _check_dialog(manager, "merge", menu("#open-merge"), problems)
    manager.goto(base + "/firms")
    _settle(manager)
    _check_dialog(manager, "save view", lambda: manager.click("#save-view"), problems)
    manager.locator(".firm-select").first.click()
    _check_dialog(manager, "bulk archive", lambda: manager.click("#bulk-archive"), problems)
    _check_dialog(manager, "bulk coverage", lambda: manager.click("#bulk-coverage"), problems)
    _check_dialog(manager, "command palette", lambda: manager.click("#palette-open"), problems)
    manager.goto(base + "/traders")
    _settle(manager)
    _check_dialog(manager, "trader save view", lambda: manager.click("#save-view"), problems)
    manager.context.close()

    # Compliance: the audit trail, the communication log, legal holds and read traces.
    compliance = _session(browser, base, f"chris.compliance@{DEMO}", w["password"])
    _check_pages(
        compliance,
        base,
        ["/", "/audit", "/communications/log", "/compliance/holds"],
        "compliance",
        problems,
    )
    compliance.context.close()

    # An admin: users, settings, jobs, instruments.
    admin = _session(browser, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    _check_pages(
        admin,
        base,
        ["/", "/admin/users", "/admin/settings", "/admin/jobs", "/admin/instruments"],
        "admin",
        problems,
    )
    admin.goto(base + "/admin/users")
    _settle(admin)
    _check_dialog(admin, "new user", lambda: admin.click("#new-user"), problems)
    admin.goto(base + "/admin/instruments")
    _settle(admin)
    _check_dialog(admin, "new instrument", lambda: admin.click("#new-instrument"), problems)
    _check_dialog(admin, "import FX rates", lambda: admin.click("#import-fx-rates"), problems)
    admin.context.close()

    # A trader on the portal.
    portal = _session(browser, base, PORTAL_EMAIL, PORTAL_PASSWORD)
    _check_pages(portal, base, ["/portal", "/account"], "trader", problems)
    portal.context.close()

    assert not problems, "axe found serious or critical violations:\n" + "\n".join(problems)


def test_axe_finds_no_serious_violation_in_the_portfolio_dialogs(browser: Browser, server: Server):
    """A broker's portfolio dialogs (book, settings, import, reverse), light and dark: the
    reverse confirmation's button was white on Radix's orange 9 (2.97:1)."""
    w = _world(server)
    broker = _session(browser, server.url, f"ben.broker@{DEMO}", w["password"])
    broker.goto(f"{server.url}/firms/{w['firm']}/portfolio")
    _settle(broker)
    broker.wait_for_selector("#total-value")
    problems: list[str] = []
    reverse = broker.get_by_role("button", name=re.compile(r"^Reverse #")).first
    for dark in (False, True):
        _dark(broker, dark)
        mode = "dark" if dark else "light"
        _check_dialog(broker, f"book ({mode})", lambda: broker.click("#book-trade"), problems)
        _check_dialog(
            broker, f"settings ({mode})", lambda: broker.click("#portfolio-settings"), problems
        )
        _check_dialog(broker, f"import ({mode})", lambda: broker.click("#import-blotter"), problems)
        _check_dialog(broker, f"reverse ({mode})", reverse.click, problems)
    broker.context.close()
    assert not problems, "axe found serious or critical violations:\n" + "\n".join(problems)


def test_the_unread_messages_count_is_part_of_the_links_name(browser: Browser, server: Server):
    """With unread messages the top bar's Messages link shows a count: its accessible name must
    hold what it shows (axe's label-content-name-mismatch; it was "Messages" beside a "1")."""
    w = _world(server)
    with server.api() as api:
        ben = _token(api, f"ben.broker@{DEMO}", w["password"])
        traders = api.get(f"/api/v1/firms/{w['firm']}/traders", headers=ben).json()["items"]
        (pia,) = [t["trader_id"] for t in traders if t["name"] == "Pia Portal"]
        r = api.post(
            "/api/v1/conversations",
            headers=ben,
            json={"trader_ids": [pia], "subject": "Unread for the team", "content": "Hello"},
        )
        assert r.status_code == 201, r.text
    manager = _session(browser, server.url, f"maria.manager@{DEMO}", w["password"])
    expect(manager.locator("#messages-count")).to_be_visible(timeout=20_000)
    count = manager.locator("#messages-count").inner_text()
    link = manager.locator("a[href='/communications']").filter(has=manager.locator("#messages"))
    expect(link).to_have_attribute("aria-label", re.compile(rf"\b{count}\b"))
    problems: list[str] = []
    for dark in (False, True):
        _dark(manager, dark)
        problems += describe(f"manager / ({dark=})", run_axe(manager))
    manager.context.close()
    assert not problems, "axe found serious or critical violations:\n" + "\n".join(problems)
