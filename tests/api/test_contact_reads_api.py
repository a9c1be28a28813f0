"""Every API answer that carries a trader's contact details the caller did not send leaves a
`contact_details` read trace per trader (services.read_traces.contacts_shown), written by the
job, not on the read path; creates and full replaces (which echo what was sent) and a portal
user reading their own record leave none."""

from __future__ import annotations

from sqlmodel import select

from brm_app.db import unit_of_work
from brm_app.jobs.queue import ClaimedJob
from brm_app.models.firm import FirmWrite
from brm_app.models.trader import TraderWrite
from brm_app.services import firms, read_traces, traders
from tests.api.matrix_support import API, call
from tests.read_trace_support import recorded_traces


def _traces() -> list[tuple[int | None, int | None]]:
    return recorded_traces("contact_details")


def _firm_with_traders(people, n: int) -> tuple[int, list[int]]:
    firm = call(
        firms.create_firm,
        data=FirmWrite(name="Contact Reads Co", primary_broker_id=people.broker.user_id),
    )
    ids = [
        call(
            traders.create_trader,
            firm_id=firm.firm_id,
            data=TraderWrite(name=f"Reader {i}", email=f"reader{i}@contact.example"),
        ).trader.trader_id
        for i in range(n)
    ]
    return firm.firm_id, ids


def test_each_read_of_contact_details_is_traced(client, people):
    h = people.headers["broker"]
    me = people.broker.user_id
    firm_id, ids = _firm_with_traders(people, 3)
    assert _traces() == []
    r = client.get(f"{API}/firms/{firm_id}/traders", headers=h)
    assert r.status_code == 200 and len(r.json()["items"]) == 3
    assert "reader0@contact.example" in r.text  # the API keeps its schema: in clear, and traced
    assert _traces() == [(me, t) for t in ids]  # traders sort by name: Reader 0, 1, 2

    for path in (f"/traders/{ids[1]}", f"/firms/{firm_id}/traders/{ids[2]}"):
        assert client.get(API + path, headers=h).status_code == 200
    listed = client.get(f"{API}/traders?firm_id={firm_id}&limit=2", headers=h)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2
    assert _traces()[3:] == [(me, ids[1]), (me, ids[2]), (me, ids[0]), (me, ids[1])]

    # PATCH answers with values not sent: traced. PUT and POST echo what was sent: not traced.
    patched = client.patch(
        f"{API}/firms/{firm_id}/traders/{ids[0]}", json={"role": "Analyst"}, headers=h
    )
    assert patched.status_code == 200, patched.text
    put = client.put(
        f"{API}/firms/{firm_id}/traders/{ids[1]}",
        json={"name": "Reader 1", "email": "reader1@contact.example"},
        headers=h,
    )
    assert put.status_code == 200, put.text
    created = client.post(
        f"{API}/firms/{firm_id}/traders",
        json={"name": "Reader New", "email": "new@contact.example"},
        headers=h,
    )
    assert created.status_code == 201, created.text
    assert _traces()[7:] == [(me, ids[0])]

    # A refused read leaves no trace.
    stranger = client.get(f"{API}/traders/{ids[0]}", headers=people.headers["stranger"])
    assert stranger.status_code == 404
    assert len(_traces()) == 8


def test_a_portal_user_reading_their_own_record_is_not_traced(client, people):
    h = people.headers["trader"]
    own = client.get(f"{API}/traders/{people.own_trader_id}", headers=h)
    assert own.status_code == 200 and own.json()["email"] == "tess@client.example"
    assert _traces() == []
    # The same record read by their broker is.
    assert (
        client.get(f"{API}/traders/{people.own_trader_id}", headers=people.headers["broker"])
    ).status_code == 200
    assert _traces() == [(people.broker.user_id, people.own_trader_id)]


def test_a_long_read_is_traced_in_few_jobs_and_a_retried_job_writes_once(client, people):
    targets = list(range(1, 251))
    with unit_of_work() as db:
        read_traces.trace_many(db, people.broker, "contact_details", targets)
    with unit_of_work() as db:
        from brm_app.models.job import Job

        jobs = db.exec(select(Job).where(Job.kind == read_traces.RECORD_KIND)).all()
    assert len(jobs) == 3  # 100 targets a job
    assert [t for _, t in _traces()] == targets
    # The job run again (a retry after its transaction committed) writes nothing more.
    import json

    job = jobs[0]
    read_traces.record_job(
        ClaimedJob(job.id, job.kind, json.loads(job.payload), 2, job.max_attempts, "x")
    )
    assert len(_traces()) == 250
