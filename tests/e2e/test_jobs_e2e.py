"""Background jobs in the browser: a reminder reaches the bell and, for a user who asked for it,
their email through the log provider; an admin sees a dead job on /admin/jobs and retries it."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_user_via_api, sign_in

pytestmark = pytest.mark.e2e


@contextmanager
def _api_as(server, email: str, password: str):
    with server.api() as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": email, "password": password}
        ).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        yield api


def _wait_for_log(server, pattern: str, timeout: float = 20.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, server.log.read_text())
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{pattern!r} not in the server log:\n{server.log.read_text()[-3000:]}")


def test_a_reminder_reaches_the_bell_and_the_users_email(page: Page, base, server):
    email, password = "rhea.reminders@e2e.example", "rhea's long password"
    create_user_via_api(server, email, "broker", "Rhea Reminders", password)
    sign_in(page, base, email, password)
    page.goto(base + "/account")
    switch = page.locator("#email-reminders")
    expect(switch).to_have_attribute("data-state", "unchecked", timeout=15_000)
    switch.click()
    expect(page.get_by_text("Your reminders will also come by email.")).to_be_visible()
    expect(switch).to_have_attribute("data-state", "checked")

    with _api_as(server, email, password) as api:
        firm = api.post("/api/v1/firms", json={"name": f"Jobs E2E {time.time_ns()}"})
        assert firm.status_code == 201, firm.text
        remind = datetime.now(UTC) + timedelta(seconds=4)
        r = api.post(
            "/api/v1/follow-ups",
            json={
                "title": "Send the term sheet",
                "due_at": (remind + timedelta(hours=3)).isoformat(),
                "firm_id": firm.json()["firm_id"],
                "reminders": [remind.isoformat()],
            },
        )
        assert r.status_code == 201, r.text
    expect(page.locator("#bell-count")).to_have_text("1", timeout=20_000)
    sent = _wait_for_log(server, r"email delivery:(\d+) accepted by the log provider")
    # The log names the delivery, never the address or the text.
    log = server.log.read_text()
    line = next(x for x in log.splitlines() if f"delivery:{sent.group(1)}" in x)
    assert email not in line and "term sheet" not in line


def _dead_delivery_job(server) -> tuple[int, int]:
    """A reminder email whose job ran out of attempts while the provider was down."""
    from brm_app.db import make_engine, unit_of_work
    from brm_app.models.follow_up import Notification, NotificationDelivery
    from brm_app.models.job import Job
    from brm_app.models.user import User

    engine = make_engine(server.env["BRM_DATABASE_URL"])
    now = datetime.now(UTC)
    # A write transaction from its start (the server writes too: the market feed's prices).
    with unit_of_work(write=True, engine=engine) as db:
        # The first admin (ADMIN_EMAIL, made at the first start): by id, as users' emails are
        # encrypted with the server's keys, which this process does not load.
        admin_id = db.exec(select(User.id).where(User.role == "admin").order_by(User.id)).first()
        note = Notification(user_id=admin_id, kind="reminder", title="Reminder: call Gable")
        db.add(note)
        db.flush()
        delivery = NotificationDelivery(
            notification_id=note.id, channel="email", status="pending", attempts=5
        )
        db.add(delivery)
        db.flush()
        job = Job(
            kind="delivery.send",
            payload=f'{{"delivery_id": {delivery.id}}}',
            state="dead",
            run_at=now - timedelta(hours=1),
            attempts=5,
            max_attempts=5,
            last_error="ProviderError: 503 the mail service is down",
            finished_at=now - timedelta(minutes=5),
            created_at=now - timedelta(hours=2),
            updated_at=now - timedelta(minutes=5),
        )
        db.add(job)
        db.flush()
        job_id, delivery_id = job.id, delivery.id
    engine.dispose()
    return job_id, delivery_id


def test_an_admin_sees_a_dead_job_and_retries_it(page: Page, base, server):
    job_id, delivery_id = _dead_delivery_job(server)
    sign_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("link", name="Jobs").first.click()
    page.wait_for_url(re.compile(r"/admin/jobs/?$"), timeout=15_000)
    expect(page.locator("#count-dead")).to_have_text("1", timeout=15_000)
    page.locator("#count-dead").click()
    row = page.locator(".job-row", has_text=f"#{job_id}")
    expect(row).to_be_visible()
    expect(row.get_by_text("503 the mail service is down")).to_be_visible()
    expect(row.get_by_text("5/5")).to_be_visible()
    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_text(f"Job {job_id} queued again.")).to_be_visible(timeout=10_000)
    expect(page.locator("#count-dead")).to_have_text("0")
    # The runner in the app sends it at once, through the log provider.
    _wait_for_log(server, rf"email delivery:{delivery_id} accepted by the log provider")
    with _api_as(server, ADMIN_EMAIL, ADMIN_PASSWORD) as api:
        done = api.get("/api/v1/jobs", params={"state": "done"}).json()["items"]
        assert job_id in [j["job_id"] for j in done]
