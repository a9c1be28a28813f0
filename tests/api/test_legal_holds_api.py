"""Retention and legal hold over HTTP: who may place, list and release holds, read the traces,
read and change the retention periods and reveal a trader's contact details (six callers,
fresh records per row; see matrix_support); a hold makes archive, bulk archive, merge, move and
void answer 409 with a message and change nothing; the recording disclosure is a firm field;
reads of sensitive data leave a trace once the job ran."""

from __future__ import annotations

import itertools
from datetime import timedelta
from functools import cached_property

from brm_app.db import utcnow
from brm_app.jobs.kinds import handlers
from brm_app.jobs.runner import Runner
from brm_app.models.firm import FirmWrite
from brm_app.models.interaction import InteractionWrite
from brm_app.services import firms, interactions, legal_holds
from tests.api import matrix_support
from tests.api.matrix_support import API, People, Templates, audit_count, call, play_matrix

matrix_support.NOT_FOUND |= {"Legal hold not found.", "Broker not found."}

# fmt: off
# $hold  an active hold on a firm of the broker's; $firm_id that firm; $trader the portal trader
MATRIX = [
    # method   path                          body                                                    admin compl. manager broker trader stranger
    ("GET",    "/legal-holds",               None,                                                   (200, 200, 403, 403, 403, 403)),
    ("GET",    "/legal-holds?active=true",   None,                                                   (200, 200, 403, 403, 403, 403)),
    ("POST",   "/legal-holds",               {"scope": "firm", "subject_id": "$firm_id", "reason": "Case 1"},  (201, 201, 403, 403, 403, 403)),
    ("POST",   "/legal-holds",               {"scope": "dates", "date_from": "2026-01-01", "date_to": "2026-02-01", "reason": "Inquiry"}, (201, 201, 403, 403, 403, 403)),
    ("POST",   "/legal-holds",               {"scope": "broker", "subject_id": "$firm_id", "reason": "No"},    (422, 422, 422, 422, 422, 422)),
    ("GET",    "/legal-holds/$hold",         None,                                                   (200, 200, 403, 403, 403, 403)),
    ("POST",   "/legal-holds/$hold/release", {"reason": "Settled"},                                  (200, 200, 403, 403, 403, 403)),
    ("DELETE", "/legal-holds/$hold",         None,                                                   (405, 405, 405, 405, 405, 405)),
    ("GET",    "/read-traces",               None,                                                   (200, 200, 403, 403, 403, 403)),
    ("GET",    "/read-traces?what=export",   None,                                                   (200, 200, 403, 403, 403, 403)),
    ("GET",    "/settings/retention",        None,                                                   (200, 200, 403, 403, 403, 403)),
    ("PUT",    "/settings/retention",        {"communications": 5},                                  (200, 403, 403, 403, 403, 403)),
    ("PUT",    "/settings/retention",        {"communications": 11},                                 (422, 422, 422, 422, 422, 422)),
    ("GET",    "/traders/$trader/contact",   None,                                                   (200, 200, 200, 200, 200, 404)),
]
# fmt: on

_seq = itertools.count(1)


class World(Templates):
    def __init__(self, people: People) -> None:
        self.people = people
        self.n = next(_seq)
        self.trader = people.own_trader_id

    @cached_property
    def firm_id(self) -> int:
        return call(
            firms.create_firm,
            data=FirmWrite(name=f"Hold Co {self.n}", primary_broker_id=self.people.broker.user_id),
        ).firm_id

    @cached_property
    def hold(self) -> int:
        return call(
            legal_holds.place_hold,
            actor=self.people.compliance,
            scope="firm",
            subject_id=self.firm_id,
            reason="Litigation",
        ).hold_id


def test_legal_holds_access_matrix(client, people):
    mismatches = play_matrix(client, people, MATRIX, lambda: World(people))
    assert not mismatches, "\n".join(mismatches)


def test_a_hold_refuses_archive_merge_move_and_void_with_409(client, people):
    world = World(people)
    h = people.headers
    firm_id = world.firm_id
    other = World(people).firm_id
    trader = client.post(
        f"{API}/firms/{firm_id}/traders",
        json={"name": "Held Trader", "email": "held@client.example"},
        headers=h["broker"],
    ).json()["trader_id"]
    logged = call(
        interactions.log_interaction,
        actor=people.broker,
        data=InteractionWrite(
            trader_ids=[trader],
            interaction_type="Call",
            interaction_date=utcnow() - timedelta(hours=2),
            subject="Held call",
        ),
    )
    r = client.post(
        f"{API}/legal-holds",
        json={"scope": "firm", "subject_id": firm_id, "reason": "Litigation 7"},
        headers=h["compliance"],
    )
    assert r.status_code == 201 and r.json()["active"] and r.json()["subject"].startswith("Firm")
    hold_id = r.json()["hold_id"]
    before = audit_count()
    refused = [
        client.delete(f"{API}/firms/{firm_id}", headers=h["broker"]),
        client.post(
            f"{API}/bulk/firms",
            json={"action": "archive", "firm_ids": [other, firm_id]},
            headers=h["broker"],
        ),
        client.post(
            f"{API}/firms/{other}/merge", json={"source_firm_id": firm_id}, headers=h["manager"]
        ),
        client.post(f"{API}/traders/{trader}/move", json={"firm_id": other}, headers=h["broker"]),
        client.patch(
            f"{API}/firms/{firm_id}/traders/{trader}", json={"firm_id": other}, headers=h["broker"]
        ),
        client.delete(f"{API}/firms/{firm_id}/traders/{trader}", headers=h["broker"]),
        client.post(
            f"{API}/interactions/{logged.interaction_id}/void",
            json={"reason": "entered twice"},
            headers=h["admin"],
        ),
    ]
    for r in refused:
        assert r.status_code in (409, 422), r.text
        if r.status_code == 409:
            assert "legal hold" in r.json()["detail"], r.text
    assert [r.status_code for r in refused].count(409) >= 6
    assert audit_count() == before  # nothing changed, nothing recorded
    assert client.get(f"{API}/firms/{other}", headers=h["broker"]).status_code == 200
    # Released: the broker's archive goes through.
    r = client.post(
        f"{API}/legal-holds/{hold_id}/release",
        json={"reason": "Case closed"},
        headers=h["compliance"],
    )
    assert r.status_code == 200 and not r.json()["active"]
    assert client.delete(f"{API}/firms/{firm_id}", headers=h["broker"]).status_code == 204
    r = client.post(
        f"{API}/legal-holds/{hold_id}/release", json={"reason": "Again"}, headers=h["compliance"]
    )
    assert r.status_code == 409


def test_recording_disclosure_is_a_firm_field(client, people):
    h = people.headers["broker"]
    firm_id = World(people).firm_id
    assert client.get(f"{API}/firms/{firm_id}", headers=h).json()["recording_disclosed_on"] is None
    r = client.patch(
        f"{API}/firms/{firm_id}", json={"recording_disclosed_on": "2026-03-02"}, headers=h
    )
    assert r.status_code == 200 and r.json()["recording_disclosed_on"] == "2026-03-02"
    bad = client.patch(f"{API}/firms/{firm_id}", json={"recording_disclosed_on": 5}, headers=h)
    assert bad.status_code == 422


def test_reads_leave_a_trace_once_the_job_ran(client, people):
    h = people.headers
    r = client.get(f"{API}/traders/{people.own_trader_id}/contact", headers=h["broker"])
    assert r.status_code == 200 and r.json()["email"] == "tess@client.example"
    assert client.get(f"{API}/exports/firms.csv", headers=h["broker"]).status_code == 200
    traces = client.get(f"{API}/read-traces", headers=h["compliance"]).json()
    assert traces["items"] == []  # not written on the read path
    Runner(handlers(), periodic_seconds=0).run_round()
    traces = client.get(f"{API}/read-traces", headers=h["compliance"]).json()["items"]
    got = {(t["what"], t["target_id"], t["user_id"]) for t in traces}
    assert ("contact_details", people.own_trader_id, people.broker.user_id) in got
    assert ("export", None, people.broker.user_id) in got
    only = client.get(
        f"{API}/read-traces?what=contact_details&user_id={people.broker.user_id}",
        headers=h["compliance"],
    ).json()["items"]
    assert [t["what"] for t in only] == ["contact_details"]
