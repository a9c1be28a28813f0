"""Phones and tablets (390x844, 820x1180): no page overflows sideways, no list hides a column
behind a sideways scroll, and each page's main action is on screen; the calendar opens on the
agenda on a phone and its month view shows all seven days."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, sign_in
from tests.e2e.test_accessibility_e2e import DEMO, _settle, _world

SIZES = [(390, 844), (820, 1180)]

# Elements wider than their box: the page itself, or a box that scrolls sideways.
OVERFLOW_JS = """() => {
    const out = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth + 1)
        out.push('page ' + doc.scrollWidth + ' > ' + window.innerWidth);
    for (const el of document.querySelectorAll('body *')) {
        const s = getComputedStyle(el);
        if (!['auto', 'scroll'].includes(s.overflowX)) continue;
        if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
            out.push((el.id ? '#' + el.id : el.className.toString().slice(0, 60)) +
                ' scrolls ' + el.scrollWidth + ' > ' + el.clientWidth);
    }
    return out;
}"""


def _on_screen(page: Page, selector: str) -> str | None:
    """None when the element is visible and within the viewport's width once scrolled to."""
    el = page.locator(selector).first
    try:
        expect(el).to_be_visible(timeout=10_000)
    except AssertionError:
        return f"{selector} not visible"
    el.scroll_into_view_if_needed()
    box = el.bounding_box()
    width = page.viewport_size["width"]  # type: ignore[index]
    if box is None or box["x"] < 0 or box["x"] + box["width"] > width + 1:
        return f"{selector} off screen: {box}"
    # And nothing lies over it: a tap at its centre reaches it.
    on_top = el.evaluate(
        """el => { const r = el.getBoundingClientRect();
            const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            return !!hit && (hit === el || el.contains(hit) || hit.contains(el)); }"""
    )
    return None if on_top else f"{selector} is covered by something else"


def _check(page: Page, base: str, pages: dict[str, list[str]], who: str, problems: list[str]):
    for path, actions in pages.items():
        page.goto(base + path)
        _settle(page)
        size = page.viewport_size
        where = f"{who} {path} at {size['width']}x{size['height']}"  # type: ignore[index]
        problems += [f"{where}: {p}" for p in page.evaluate(OVERFLOW_JS)]
        # The sections: the menu button (no sidebar below a laptop's width).
        for selector in ["#open-menu", *actions]:
            found = _on_screen(page, selector)
            if found:
                problems.append(f"{where}: {found}")


def test_no_sideways_overflow_and_main_actions_reachable(browser: Browser, server: Server):
    base = server.url
    w = _world(server)
    fid = w["firm"]
    broker_pages = {
        "/": [],
        "/firms": ["#new-firm", "#firm-search", ".firm-link", ".firm-select"],
        f"/firms/{fid}": [
            "#log-interaction",
            "#new-follow-up",
            "#add-trader",
            "#edit-firm",
            "#traders-table a[href^='/traders/']",
        ],
        f"/firms/{fid}/portfolio": [],
        "/traders": ["table a[href^='/traders/']"],
        f"/traders/{w['trader']}": ["#log-interaction"],
        "/calendar": ["#cal-new-follow-up", "#cal-view"],
        "/communications": [],
        "/notifications": [],
        "/account": ["#save-profile"],
    }
    if w["interaction"]:
        broker_pages[f"/interactions/{w['interaction']}"] = []
    if w["follow_up"]:
        broker_pages[f"/follow-ups/{w['follow_up']}"] = []
    admin_pages = {
        "/admin/users": ["#new-user", "table tbody button"],
        "/admin/settings": [],
        "/admin/jobs": [],
        "/admin/instruments": ["#new-instrument", "#import-fx-rates"],
        "/audit": [],
        "/import": [],
    }
    problems: list[str] = []
    for width, height in SIZES:
        ctx = browser.new_context(viewport={"width": width, "height": height})
        page = ctx.new_page()
        sign_in(page, base, f"ben.broker@{DEMO}", w["password"])
        _check(page, base, broker_pages, "broker", problems)

        # The calendar: agenda on a phone, else the month, all seven days on screen.
        page.goto(base + "/calendar")
        _settle(page)
        phone = width < 768
        expected = "agenda" if phone else "month"
        expect(page.get_by_role("radio", name=expected.capitalize())).to_have_attribute(
            "aria-checked", "true", timeout=10_000
        )
        page.goto(base + "/calendar?view=month")
        _settle(page)
        days = page.locator(".cal-month > .cal-day")
        expect(days.first).to_be_visible(timeout=10_000)
        for i in range(7):
            box = days.nth(i).bounding_box()
            assert box and box["x"] + box["width"] <= width + 1, f"day {i} off screen at {width}"
        if phone:
            expect(page.locator("#cal-picked")).to_be_visible()
        ctx.close()

        ctx = browser.new_context(viewport={"width": width, "height": height})
        page = ctx.new_page()
        sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
        _check(page, base, admin_pages, "admin", problems)
        ctx.close()

    assert not problems, "\n".join(problems)
