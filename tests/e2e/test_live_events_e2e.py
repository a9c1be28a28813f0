"""Live events in the browser: a notification made by a REST API request reaches the bell of the
user's open pages within a second, without a reload — with one worker, and with two workers on
PostgreSQL + Redis where the pages sit on both workers. Another user's pages never change."""

from __future__ import annotations

import pickle
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Server, create_user_via_api, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "e2e live events password"
# From the API's answer (the commit is behind it) to the count on the page.
WITHIN_MS = 1_000


def _auth(server: Server, email: str) -> dict[str, str]:
    with server.api() as api:
        r = api.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _people(server: Server, tag: str) -> tuple[dict[str, str], int]:
    """A manager, her broker and a broker of nobody's team; and the broker's user id."""
    emails = {
        "manager": f"mona.{tag}@e2e.example",
        "broker": f"lee.{tag}@e2e.example",
        "stranger": f"kim.{tag}@e2e.example",
    }
    manager_id = create_user_via_api(server, emails["manager"], "manager", "Mona Live", PASSWORD)
    broker_id = create_user_via_api(
        server, emails["broker"], "broker", "Lee Live", PASSWORD, manager_id=manager_id
    )
    create_user_via_api(server, emails["stranger"], "broker", "Kim Live", PASSWORD)
    return emails, broker_id


def _firm_of(server: Server, email: str) -> int:
    with server.api() as api:
        r = api.post(
            "/api/v1/firms",
            headers=_auth(server, email),
            json={"name": f"Live Events {email}", "tier": "B", "account_status": "Active"},
        )
        assert r.status_code == 201, r.text
        return r.json()["firm_id"]


def _signed_in_page(browser: Browser, server: Server, email: str) -> Page:
    page = browser.new_context().new_page()
    sign_in(page, server.url, email, PASSWORD)
    return page


def _assign(server: Server, manager: str, broker_id: int, firm_id: int, title: str) -> None:
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    with server.api() as api:
        r = api.post(
            "/api/v1/follow-ups",
            headers=_auth(server, manager),
            json={"title": title, "due_at": due, "firm_id": firm_id, "assignee_id": broker_id},
        )
    assert r.status_code == 201, r.text


def _stays_unchanged(pages: list[Page], seconds: float = 1.5) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for page in pages:
            expect(page.locator("#bell-count")).to_have_count(0)
        time.sleep(0.1)


def test_a_notification_made_by_a_request_reaches_the_bell_within_a_second(
    browser: Browser, server: Server
):
    people, broker_id = _people(server, "one")
    firm_id = _firm_of(server, people["broker"])
    mine = _signed_in_page(browser, server, people["broker"])
    theirs = _signed_in_page(browser, server, people["stranger"])
    for page in (mine, theirs):
        expect(page.locator("#bell-count")).to_have_count(0)

    _assign(server, people["manager"], broker_id, firm_id, "Call about the new issue")
    expect(mine.locator("#bell-count")).to_have_text("1", timeout=WITHIN_MS)
    mine.click("#bell")
    expect(mine.get_by_text("Assigned to you: Call about the new issue")).to_be_visible()
    _stays_unchanged([theirs])


# -- two workers on PostgreSQL + Redis ---------------------------------------------------------


def _worker_of(page: Page, redis_url: str) -> str:
    """Which worker holds this tab's websocket: Reflex records it in Redis for each tab."""
    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        token = page.evaluate("window.sessionStorage.getItem('token')")
        raw = token and client.get(f"token_manager_socket_record_{token}")
        if raw:
            return pickle.loads(raw).instance_id  # (Reflex pickles it; our own test Redis)
        time.sleep(0.1)
    raise AssertionError("the tab's websocket is not recorded in Redis")


def _on_two_workers(pages: list[Page], redis_url: str) -> set[str]:
    """Reload the later pages until the pages' websockets are on two different workers."""
    workers = {_worker_of(pages[0], redis_url)}
    for page in pages[1:]:
        for _ in range(30):
            if _worker_of(page, redis_url) not in workers:
                break
            page.reload()
            page.wait_for_selector("#user-menu", timeout=20_000)
        workers.add(_worker_of(page, redis_url))
    return workers


def test_with_two_workers_a_request_on_one_reaches_the_pages_on_both(
    browser: Browser, workers_server: Server
):
    server, redis_url = workers_server, workers_server.env["BRM_REDIS_URL"]
    people, broker_id = _people(server, "two")
    firm_id = _firm_of(server, people["broker"])

    first = _signed_in_page(browser, server, people["broker"])
    second = first.context.new_page()
    second.goto(server.url + "/")
    second.wait_for_selector("#user-menu", timeout=20_000)
    mine = [first, second]
    assert len(_on_two_workers(mine, redis_url)) == 2, "the pages did not reach both workers"

    stranger = _signed_in_page(browser, server, people["stranger"])
    theirs = [stranger, stranger.context.new_page()]
    theirs[1].goto(server.url + "/")
    theirs[1].wait_for_selector("#user-menu", timeout=20_000)
    _on_two_workers(theirs, redis_url)
    for page in mine + theirs:
        expect(page.locator("#bell-count")).to_have_count(0)

    # The request is answered by one of the two workers; the broker has a page on each, so one
    # of them hears of it from the other worker, through Redis.
    _assign(server, people["manager"], broker_id, firm_id, "Send the term sheet")
    for page in mine:
        expect(page.locator("#bell-count")).to_have_text("1", timeout=WITHIN_MS)

    # Marking it read through the API (again on either worker) clears both pages too.
    with server.api() as api:
        r = api.post("/api/v1/notifications/read-all", headers=_auth(server, people["broker"]))
        assert r.status_code == 200, r.text
    for page in mine:
        expect(page.locator("#bell-count")).to_have_count(0, timeout=WITHIN_MS)
    _stays_unchanged(theirs)
