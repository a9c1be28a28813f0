"""The keyboard alone (Tab, Shift+Tab, Enter, Space, Escape, arrows; no clicks): sign in, create a
firm, add a trader, log an interaction, schedule a follow-up. Dialogs keep the focus inside, give
it back on closing and close with Escape; before the idle sign-out a warning offers to stay."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, create_user_via_api

pytestmark = pytest.mark.e2e

EMAIL = "kim.keys@e2e.example"
PASSWORD = "kim's keyboard passphrase"
DIALOG = "[role=dialog], [role=alertdialog]"
FIRM = f"Keystroke Capital {uuid.uuid4().hex[:6]}"


def _focused(page: Page, selector: str) -> bool:
    return page.evaluate(
        "s => !!document.activeElement && document.activeElement.matches(s)", selector
    )


def tab_to(page: Page, selector: str, limit: int = 120) -> None:
    """Tab until the focus is on `selector` (what a keyboard user does to reach a control), once
    it can take the focus (a button is disabled while its form saves; under load that lasts)."""
    expect(page.locator(selector).first).to_be_enabled(timeout=20_000)
    for _ in range(limit):
        if _focused(page, selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def _type_into(page: Page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def _focus_stays_in_dialog(page: Page, presses: int = 30) -> None:
    for key in ["Tab"] * presses + ["Shift+Tab"] * 5:
        page.keyboard.press(key)
        inside = page.evaluate(
            "s => !!document.activeElement && !!document.activeElement.closest(s)", DIALOG
        )
        assert inside, f"focus left the dialog after {key}"


def test_keyboard_only_walk_through(page: Page, server: Server):
    create_user_via_api(server, EMAIL, "broker", "Kim Keys", PASSWORD)
    base = server.url
    page.set_viewport_size({"width": 1280, "height": 900})

    # Sign in.
    page.goto(base + "/login")
    # Enter submits once the Sign in button is enabled (after the page's on_load).
    expect(page.locator("#sign-in")).to_be_enabled(timeout=20_000)
    _type_into(page, "#email", EMAIL)
    _type_into(page, "#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url, timeout=20_000)
    page.wait_for_selector("#user-menu", timeout=20_000)

    # To the firms by the sections' link.
    tab_to(page, "nav a[href='/firms']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/firms/?$"), timeout=15_000)
    page.wait_for_selector("#new-firm")

    # The new-firm dialog: the focus goes in, stays in, Escape closes it and the focus returns.
    tab_to(page, "#new-firm")
    page.keyboard.press("Enter")
    expect(page.locator(DIALOG)).to_be_visible(timeout=10_000)
    page.wait_for_timeout(300)
    _focus_stays_in_dialog(page)
    page.keyboard.press("Escape")
    expect(page.locator(DIALOG)).to_have_count(0, timeout=10_000)
    assert _focused(page, "#new-firm"), "the focus did not return to the button that opened it"

    # Create the firm.
    page.keyboard.press("Enter")
    expect(page.locator(DIALOG)).to_be_visible(timeout=10_000)
    _type_into(page, "#firm-name", FIRM)
    tab_to(page, "#firm-save")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/firms/\d+/?$"), timeout=15_000)
    expect(page.locator("#firm-title")).to_have_text(FIRM, timeout=15_000)

    # Add a trader.
    tab_to(page, "#add-trader")
    page.keyboard.press("Enter")
    expect(page.locator(DIALOG)).to_be_visible(timeout=10_000)
    _type_into(page, "#trader-name", "Tab Tabson")
    _type_into(page, "#trader-email", "tab@keystroke.example")
    tab_to(page, "#trader-save")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Tab Tabson added.")).to_be_visible(timeout=10_000)
    expect(page.locator(DIALOG)).to_have_count(0, timeout=10_000)

    # Log a call with that trader, the outcome chosen with the arrows.
    tab_to(page, "#log-interaction")
    page.keyboard.press("Enter")
    expect(page.locator(DIALOG)).to_be_visible(timeout=10_000)
    tab_to(page, "[role=dialog] [role=checkbox]")
    page.keyboard.press("Space")
    expect(page.get_by_role("checkbox", name="Tab Tabson")).to_be_checked()
    tab_to(page, "#interaction-outcome")
    page.keyboard.press("Enter")
    expect(page.get_by_role("listbox")).to_be_visible(timeout=5_000)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_role("listbox")).to_have_count(0)
    _type_into(page, "#interaction-subject", "Walked through the keyboard")
    tab_to(page, "#interaction-save")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Call saved.")).to_be_visible(timeout=10_000)
    # An outcome asking for a follow-up opens that dialog by itself; else open it.
    page.wait_for_timeout(500)
    if page.locator("#follow-up-title").count() == 0:
        expect(page.locator(DIALOG)).to_have_count(0, timeout=10_000)
        tab_to(page, "#new-follow-up")
        page.keyboard.press("Enter")

    # Schedule a follow-up (tomorrow is the default day).
    expect(page.locator("#follow-up-title")).to_be_visible(timeout=10_000)
    _type_into(page, "#follow-up-title", "Send the keyboard shortcuts")
    _type_into(page, "#follow-up-time", "1000AM")
    tab_to(page, "#follow-up-save")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Follow-up scheduled for Kim Keys.")).to_be_visible(timeout=10_000)
    timeline = page.locator("#timeline")
    expect(timeline.get_by_role("link", name="Send the keyboard shortcuts")).to_be_visible(
        timeout=10_000
    )
    expect(timeline.get_by_role("link", name="Walked through the keyboard")).to_be_visible()

    # Idle for nearly the session's limit (the tab's clock set back): the warning, then Enter
    # on "Stay signed in" (it has the focus) keeps the session.
    page.evaluate("window.__brmActive = Date.now() - (30 * 60 - 90) * 1000")
    warning = page.get_by_role("alertdialog")
    expect(warning).to_be_visible(timeout=20_000)
    expect(warning).to_contain_text("signed out in about 2 minutes")
    expect(page.locator("#stay-signed-in")).to_be_focused(timeout=5_000)
    page.keyboard.press("Enter")
    expect(warning).to_have_count(0, timeout=10_000)
    page.wait_for_timeout(11_000)  # a further check: the clock was reset, no warning
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    expect(page.locator("#user-menu")).to_be_visible()

    # The command palette: Ctrl+K, a few keystrokes, Enter on the trader.
    page.keyboard.press("Control+K")
    expect(page.locator("#palette-input")).to_be_focused(timeout=10_000)
    page.keyboard.type("tabs")
    options = page.locator("#palette-list [role=option]")
    expect(options.first).to_contain_text("Tab Tabson", timeout=10_000)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/traders/\d+/?$"), timeout=15_000)
    # A quick action: the arrows choose "Log interaction with <firm>", Enter opens its dialog.
    page.keyboard.press("Control+K")
    expect(page.locator("#palette-input")).to_be_focused(timeout=10_000)
    # Opened: the quick actions show before anything is typed.
    expect(page.get_by_role("option", name=re.compile("Go to calendar"))).to_be_visible(
        timeout=10_000
    )
    page.keyboard.type("keystroke")
    log_with = page.get_by_role("option", name=re.compile("Log interaction with Keystroke"))
    try:
        expect(log_with).to_be_visible(timeout=20_000)
    except AssertionError as exc:  # once in a loaded full run: say what the palette showed
        shown = options.all_inner_texts()
        typed = page.locator("#palette-input").input_value()
        raise AssertionError(f"palette input {typed!r} showed {shown}") from exc
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/firms/\d+\?do=log$"), timeout=15_000)
    expect(page.locator("#interaction-subject")).to_be_visible(timeout=15_000)
