"""/admin/jobs handlers: admins list jobs and retry a dead one; nobody else sees or retries any,
forged arguments change nothing, and without a session the guard refuses them."""

from __future__ import annotations

import pytest
from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.jobs import queue
from brm_app.models.audit import AuditEvent
from brm_app.models.job import Job
from brm_app.models.user import Role
from brm_app.state.admin_jobs import JobsState
from tests.factories import make_user
from tests.state.conftest import Browser
from tests.state.test_state_security import refused


def _dead_job() -> int:
    with unit_of_work(write=True) as db:
        job_id = queue.enqueue(db, "delivery.send", {"delivery_id": 5}, max_attempts=1)
    with unit_of_work(write=True) as db:
        [claimed] = queue.claim(db)
        queue.fail(db, claimed, "ProviderError: 503")
    return job_id


def _state_of(job_id: int) -> str:
    with unit_of_work() as db:
        return db.get(Job, job_id).state


def _retries() -> int:
    with unit_of_work() as db:
        return len(db.exec(select(AuditEvent).where(AuditEvent.action == "job.retried")).all())


def test_an_admin_lists_jobs_and_retries_a_dead_one(browser_for):
    admin = make_user(Role.ADMIN)
    dead = _dead_job()
    browser = browser_for(admin.email, "/admin/jobs")
    browser.fire(JobsState, "load")
    state = browser.state(JobsState)
    assert state.counts["dead"] == 1
    [row] = state.rows
    assert (row["job_id"], row["state"], row["last_error"], row["attempts"]) == (
        dead,
        "dead",
        "ProviderError: 503",
        "1/1",
    )
    browser.fire(JobsState, "retry", dead)
    assert _state_of(dead) == "queued" and _retries() == 1
    assert state.counts["dead"] == 0 and state.counts["queued"] == 1
    sent = browser.fire(JobsState, "retry", dead)  # no longer dead: a message, nothing changes
    assert "Only a dead job can be retried." in sent.text
    assert _retries() == 1
    browser.fire(JobsState, "set_state_filter", "dead")
    assert state.rows == [] and state.state_filter == "dead"


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.MANAGER, Role.BROKER, Role.TRADER])
def test_nobody_else_sees_or_retries_jobs(browser_for, role):
    make_user(Role.ADMIN)
    dead = _dead_job()
    browser = browser_for(make_user(role).email, "/admin/jobs")
    browser.fire(JobsState, "load")
    assert browser.state(JobsState).rows == [] and browser.state(JobsState).counts == {}
    browser.fire(JobsState, "retry", dead)
    assert _state_of(dead) == "dead" and _retries() == 0


# Reflex converts a numeric string to the int a handler's hint asks for ("1" is job 1, no
# forgery), so the string that reaches a handler as a string is one that is not a number.
@pytest.mark.parametrize("forged", ["1x", {"$ne": 1}, [1, 2], None, True, -5, 1.5, 2**70])
def test_forged_arguments_change_nothing(browser_for, forged):
    admin = make_user(Role.ADMIN)
    dead = _dead_job()
    browser = browser_for(admin.email, "/admin/jobs")
    browser.fire(JobsState, "load")
    browser.fire(JobsState, "retry", forged)
    browser.fire(JobsState, "set_state_filter", forged)
    assert _state_of(dead) == "dead" and _retries() == 0
    assert browser.state(JobsState).state_filter == ""


@pytest.mark.parametrize("handler", ["load", "retry", "set_state_filter", "next_page"])
def test_the_guard_refuses_them_without_a_session(database_url, handler):
    sent = Browser(None, "/admin/jobs").fire(JobsState, handler)
    assert refused(sent) and sent.redirected_to().startswith("/login")
