"""/api/v1/jobs (admins only): jobs by state with counts, and retrying a dead one (audited);
PATCH /api/v1/users/me sets "also email me my reminders"."""

from __future__ import annotations

from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.jobs import queue
from brm_app.models.audit import AuditEvent
from brm_app.models.user import Role
from tests.api.conftest import auth, get_token
from tests.factories import make_user


def _dead_job() -> int:
    with unit_of_work(write=True) as db:
        job_id = queue.enqueue(db, "delivery.send", {"delivery_id": 999}, max_attempts=1)
    with unit_of_work(write=True) as db:
        [claimed] = queue.claim(db)
        queue.fail(db, claimed, "ProviderError: 503 try later")
    return job_id


def test_an_admin_sees_a_dead_job_and_retries_it(client):
    admin = make_user(Role.ADMIN)
    headers = auth(get_token(client, admin.email))
    dead = _dead_job()
    with unit_of_work(write=True) as db:
        queued = queue.enqueue(db, "delivery.send", {"delivery_id": 1000})

    counts = client.get("/api/v1/jobs/counts", headers=headers).json()["counts"]
    assert counts == {"queued": 1, "running": 0, "failed": 0, "dead": 1, "done": 0}
    listed = client.get("/api/v1/jobs", params={"state": "dead"}, headers=headers).json()
    [job] = listed["items"]
    assert (job["job_id"], job["state"], job["attempts"], job["last_error"]) == (
        dead,
        "dead",
        1,
        "ProviderError: 503 try later",
    )
    assert job["payload"] == {"delivery_id": 999}
    every = client.get("/api/v1/jobs", headers=headers).json()
    assert {j["job_id"] for j in every["items"]} == {dead, queued}

    r = client.post(f"/api/v1/jobs/{dead}/retry", headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["attempts"]) == ("queued", 0)
    again = client.post(f"/api/v1/jobs/{dead}/retry", headers=headers)
    assert again.status_code == 409
    assert client.post(f"/api/v1/jobs/{queued}/retry", headers=headers).status_code == 409
    assert client.post("/api/v1/jobs/987654/retry", headers=headers).status_code == 404
    assert client.get("/api/v1/jobs?state=zombie", headers=headers).status_code == 422
    with unit_of_work() as db:
        [event] = db.exec(select(AuditEvent).where(AuditEvent.action == "job.retried")).all()
    assert (event.entity, event.entity_id, event.actor_id) == ("job", str(dead), admin.user_id)


def test_only_admins_see_or_retry_jobs(client):
    dead = _dead_job()
    for role in (Role.COMPLIANCE, Role.MANAGER, Role.BROKER, Role.TRADER):
        user = make_user(role)
        headers = auth(get_token(client, user.email))
        assert client.get("/api/v1/jobs", headers=headers).status_code == 403
        assert client.get("/api/v1/jobs/counts", headers=headers).status_code == 403
        assert client.post(f"/api/v1/jobs/{dead}/retry", headers=headers).status_code == 403
    assert client.get("/api/v1/jobs").status_code == 401
    with unit_of_work() as db:
        assert db.exec(select(AuditEvent).where(AuditEvent.action == "job.retried")).all() == []


def test_each_user_opts_in_to_reminder_emails(client):
    broker = make_user(Role.BROKER)
    headers = auth(get_token(client, broker.email))
    assert client.get("/api/v1/users/me", headers=headers).json()["email_reminders"] is False
    r = client.patch("/api/v1/users/me", json={"email_reminders": True}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["email_reminders"] is True
    assert client.get("/api/v1/users/me", headers=headers).json()["email_reminders"] is True
    for bad in ("yes", 1, 0, [True], {"x": 1}):
        r = client.patch("/api/v1/users/me", json={"email_reminders": bad}, headers=headers)
        assert r.status_code == 422, (bad, r.text)
    # null (or leaving it out) keeps it as it is
    r = client.patch("/api/v1/users/me", json={"email_reminders": None}, headers=headers)
    assert r.status_code == 200 and r.json()["email_reminders"] is True
    r = client.patch("/api/v1/users/me", json={"name": "Renamed Broker"}, headers=headers)
    assert (r.json()["name"], r.json()["email_reminders"]) == ("Renamed Broker", True)
