"""Interactions over HTTP: log, read, new versions (every earlier one kept byte for byte), void,
filters and paging, the type list; timelines, due-for-contact and the admin settings; bad input
is a 422 naming the field and saves nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from brm_app.auth import tokens
from brm_app.db import unit_of_work, utcnow
from brm_app.models.audit import AuditEvent
from brm_app.models.interaction import Interaction, InteractionVersion
from brm_app.models.user import Role, User
from brm_app.settings import get_settings
from tests.api.conftest import auth
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"


def bearer(actor) -> dict[str, str]:
    with unit_of_work() as db:
        user = db.get(User, actor.user_id)
        token, _ = tokens.issue(
            user.id,
            cv=tokens.credentials_version(user.credentials_changed_at),
            secret=get_settings().secret_key,
            minutes=15,
        )
    return auth(token)


class Book:
    """A manager, their broker (covers Interaction Co: Ivy and Ian), another broker (covers
    Elsewhere Ltd: Xavier), an admin and a compliance officer, with their tokens."""

    def __init__(self) -> None:
        self.manager = make_user(Role.MANAGER)
        self.broker = make_user(Role.BROKER, manager_id=self.manager.user_id)
        self.other = make_user(Role.BROKER)
        self.admin = make_user(Role.ADMIN)
        self.compliance = make_user(Role.COMPLIANCE)
        self.firm = make_firm(self.broker, name="Interaction Co", tier="A", account_status="Active")
        self.elsewhere = make_firm(self.other, name="Elsewhere Ltd")
        self.ivy = make_trader(self.broker, self.firm.firm_id, name="Ivy Investor")
        self.ian = make_trader(self.broker, self.firm.firm_id, name="Ian Investor")
        self.xavier = make_trader(self.other, self.elsewhere.firm_id, name="Xavier Elsewhere")
        self.h = {
            name: bearer(getattr(self, name))
            for name in ("manager", "broker", "other", "admin", "compliance")
        }


@pytest.fixture
def book(client) -> Book:
    return Book()


def _count(model) -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(model)).one()


def _log(client, book, headers=None, **fields):
    body = {
        "trader_ids": [book.ivy.trader_id],
        "interaction_type": "Call",
        "interaction_date": (utcnow() - timedelta(hours=1)).isoformat(),
        "subject": "Quarterly check-in",
        **fields,
    }
    r = client.post(f"{API}/interactions", json=body, headers=headers or book.h["broker"])
    assert r.status_code == 201, r.text
    return r.json()


def test_log_read_edit_and_every_version_byte_for_byte(client, book):
    notes = "Said: “maybe” — call back\nTwo lines.\ttabbed"
    row = _log(
        client,
        book,
        trader_ids=[book.ivy.trader_id, book.ian.trader_id],
        interaction_date="2026-03-10T09:30:00",
        interaction_end="2026-03-10T10:15:00",
        time_zone="America/New_York",
        notes=notes,
        outcome="positive",
    )
    # The design document's names; the date read in the given zone, stored in UTC.
    assert {"interaction_id", "broker_id", "trader_ids", "firm_id", "interaction_type",
            "interaction_date", "duration_minutes", "subject", "notes", "outcome"} <= set(row)  # fmt: skip
    assert row["interaction_date"].startswith("2026-03-10T13:30:00")
    assert row["duration_minutes"] == 45 and row["outcome"] == "Positive"
    assert row["broker_id"] == book.broker.user_id and row["firm_id"] == book.firm.firm_id
    assert row["version"] == 1 and row["notes"] == notes
    url = f"{API}/interactions/{row['interaction_id']}"
    assert client.get(url, headers=book.h["manager"]).json() == row

    before = client.get(f"{url}/versions", headers=book.h["broker"]).json()
    assert [v["version"] for v in before] == [1]
    v1 = before[0]

    # The manager rewrites it: a new version; the first stays exactly as it was.
    r = client.put(
        url,
        json={
            "trader_id": book.ian.trader_id,
            "interaction_type": "Meeting",
            "interaction_date": "2026-03-10T14:00:00Z",
            "duration_minutes": 60,
            "subject": "Quarterly check-in (in person)",
            "notes": "Edited",
            "outcome": "Closed",
        },
        headers=book.h["manager"],
    )
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["version"] == 2 and edited["broker_id"] == book.broker.user_id
    assert edited["trader_ids"] == [book.ian.trader_id] and edited["interaction_type"] == "Meeting"

    r = client.get(f"{url}/versions", headers=book.h["broker"])
    assert r.status_code == 200
    versions = r.json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0] == v1  # data, saved_by and saved_at unchanged
    with unit_of_work() as db:
        # The stored JSON is encrypted (0010n): the rows open it, exactly as it was saved.
        stored = [
            v.data
            for v in db.exec(
                select(InteractionVersion)
                .where(InteractionVersion.interaction_id == row["interaction_id"])
                .order_by(InteractionVersion.version)
            ).all()
        ]
    assert [v["data"] for v in versions] == list(stored)
    assert versions[0]["data"].encode() == stored[0].encode()  # byte for byte
    first = json.loads(versions[0]["data"])
    assert first["notes"] == notes and first["interaction_type"] == "Call"
    assert first["trader_ids"] == sorted([book.ivy.trader_id, book.ian.trader_id])
    assert versions[0]["saved_by_id"] == book.broker.user_id
    assert versions[0]["saved_by"] == book.broker.name
    assert versions[1]["saved_by_id"] == book.manager.user_id
    saved_at = datetime.fromisoformat(versions[1]["saved_at"].replace("Z", "+00:00"))
    assert abs(saved_at.replace(tzinfo=saved_at.tzinfo or UTC) - utcnow()) < timedelta(minutes=1)

    # The same content again saves no version.
    again = client.put(
        url,
        json={
            "trader_ids": [book.ian.trader_id],
            "interaction_type": "Meeting",
            "interaction_date": "2026-03-10T14:00:00Z",
            "duration_minutes": 60,
            "subject": "Quarterly check-in (in person)",
            "notes": "Edited",
            "outcome": "Closed",
        },
        headers=book.h["broker"],
    )
    assert again.status_code == 200 and again.json()["version"] == 2
    assert len(client.get(f"{url}/versions", headers=book.h["broker"]).json()) == 2


def test_filters_and_paging(client, book):
    now = utcnow().replace(microsecond=0)
    made = [
        _log(client, book, interaction_type="Call", outcome="Positive",
             interaction_date=(now - timedelta(days=10)).isoformat(), subject="Old call"),
        _log(client, book, interaction_type="Email", outcome="Closed",
             interaction_date=(now - timedelta(days=5)).isoformat(), subject="Mail"),
        _log(client, book, interaction_type="Meeting", outcome="Positive",
             trader_ids=[book.ian.trader_id],
             interaction_date=(now - timedelta(days=2)).isoformat(), subject="Lunch"),
        _log(client, book, interaction_type="Call",
             interaction_date=(now - timedelta(hours=2)).isoformat(), subject="New call"),
    ]  # fmt: skip
    _log(client, book, headers=book.h["other"], trader_ids=[book.xavier.trader_id])
    ids = [m["interaction_id"] for m in made]
    h = book.h["broker"]

    def listed(path="/interactions", **params):
        r = client.get(API + path, params=params, headers=h)
        assert r.status_code == 200, r.text
        return r.json()

    assert [i["interaction_id"] for i in listed()["items"]] == ids[::-1]  # newest first
    assert [i["interaction_id"] for i in listed(direction="asc")["items"]] == ids
    assert [i["subject"] for i in listed(type=["Call"])["items"]] == ["New call", "Old call"]
    assert len(listed(type=["Call", "email"])["items"]) == 2  # exact names filter
    assert [i["subject"] for i in listed(type=["Call", "Email"])["items"]] == [
        "New call", "Mail", "Old call"]  # fmt: skip
    assert [i["subject"] for i in listed(outcome=["Positive"])["items"]] == ["Lunch", "Old call"]
    window = listed(
        date_from=(now - timedelta(days=6)).date().isoformat(),
        # A day and an hour back: "New call" (two hours ago) stays outside even just after midnight.
        date_to=(now - timedelta(days=1, hours=3)).date().isoformat(),
    )
    assert [i["subject"] for i in window["items"]] == ["Lunch", "Mail"]
    assert listed(broker_id=book.other.user_id)["items"] == []
    # A firm outside my book is "not found"; a manager sees both books.
    r = client.get(f"{API}/interactions?firm_id={book.elsewhere.firm_id}", headers=h)
    assert r.status_code == 404
    everything = client.get(f"{API}/interactions", headers=book.h["manager"]).json()
    assert everything["total"] == 5
    firm_page = client.get(
        f"{API}/firms/{book.firm.firm_id}/interactions", headers=book.h["manager"]
    ).json()
    assert firm_page["total"] == 4
    ian = listed(f"/traders/{book.ian.trader_id}/interactions")
    assert [i["subject"] for i in ian["items"]] == ["Lunch"]
    assert listed(f"/traders/{book.ivy.trader_id}/interactions", type=["Call"])["total"] == 2

    # Offset paging, like the firm list.
    p1 = listed(limit=3)
    assert p1["has_next"] and p1["next_offset"] == 3 and p1["total"] == 4
    assert p1["next_cursor"]
    p2 = listed(limit=3, offset=3)
    assert [i["interaction_id"] for i in p1["items"] + p2["items"]] == ids[::-1]
    assert not p2["has_next"]
    # Cursor paging walks the same order.
    seen, cursor = [], None
    while True:
        page = listed(limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [i["interaction_id"] for i in page["items"]]
        if cursor:
            assert page["next_offset"] is None
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    r = client.get(f"{API}/interactions?cursor={p1['next_cursor']}&offset=3", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "offset"


def test_date_range_is_read_in_the_callers_time_zone(client, book):
    with unit_of_work(write=True) as db:
        db.get(User, book.broker.user_id).time_zone = "Asia/Tokyo"
    # 23:30 UTC on 4 Jan is already 5 Jan in Tokyo.
    _log(client, book, interaction_date="2026-01-04T23:30:00Z", subject="Late")
    h = book.h["broker"]
    day = client.get(f"{API}/interactions?date_from=2026-01-05&date_to=2026-01-05", headers=h)
    assert [i["subject"] for i in day.json()["items"]] == ["Late"]
    before = client.get(f"{API}/interactions?date_to=2026-01-04", headers=h)
    assert before.json()["items"] == []


def test_void_keeps_the_record_for_compliance_and_admins(client, book):
    row = _log(client, book)
    url = f"{API}/interactions/{row['interaction_id']}"
    short = client.post(f"{url}/void", json={"reason": "x"}, headers=book.h["admin"])
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "reason"
    r = client.post(f"{url}/void", json={"reason": "Logged twice"}, headers=book.h["admin"])
    assert r.status_code == 200 and r.json()["voided"] and r.json()["void_reason"] == "Logged twice"
    again = client.post(f"{url}/void", json={"reason": "Logged twice"}, headers=book.h["admin"])
    assert again.status_code == 422
    assert client.get(url, headers=book.h["broker"]).status_code == 404
    assert client.get(f"{API}/interactions", headers=book.h["broker"]).json()["items"] == []
    assert client.get(url, headers=book.h["compliance"]).json()["voided"]
    listed = client.get(f"{API}/interactions?include_voided=true", headers=book.h["compliance"])
    assert [i["interaction_id"] for i in listed.json()["items"]] == [row["interaction_id"]]
    # Without the permission the flag is ignored, not an error.
    mine = client.get(f"{API}/interactions?include_voided=true", headers=book.h["broker"])
    assert mine.status_code == 200 and mine.json()["items"] == []


def _bad_cases(book):
    ivy, xavier = book.ivy.trader_id, book.xavier.trader_id
    return [
        # (what, changes to a valid body, the field named)
        ("end before start", {"interaction_date": "2026-03-10T09:00:00",
                              "interaction_end": "2026-03-10T08:00:00"}, "interaction_end"),
        ("unknown type", {"interaction_type": "Carrier pigeon"}, "interaction_type"),
        ("unknown outcome", {"outcome": "Triumph"}, "outcome"),
        ("outcome not allowed", {"interaction_type": "Email", "outcome": "No answer"}, "outcome"),
        ("trader of another firm", {"trader_ids": [ivy, xavier]}, "trader_ids"),
        ("trader not in my book", {"trader_ids": [xavier]}, "trader_ids"),
        ("firm not the traders'", {"firm_id": book.elsewhere.firm_id}, "trader_ids"),
        ("no trader", {"trader_ids": []}, "trader_ids"),
        ("both trader_id and trader_ids", {"trader_id": ivy}, "trader_ids"),
        ("unknown time zone", {"time_zone": "Mars/Olympus"}, "time_zone"),
        ("duration and end disagree", {"interaction_date": "2026-03-10T09:00:00",
                                       "interaction_end": "2026-03-10T09:30:00",
                                       "duration_minutes": 10}, "duration_minutes"),
        ("too far in the future", {"interaction_date": "2999-01-01T00:00:00Z"}, "interaction_date"),
        ("unknown field", {"colour": "blue"}, "colour"),
        ("a date that is no date", {"interaction_date": "yesterday"}, "interaction_date"),
        ("ids that are no ids", {"trader_ids": ["abc"]}, "trader_ids.0"),
        ("negative duration", {"duration_minutes": -5}, "duration_minutes"),
        ("subject too long", {"subject": "x" * 201}, "subject"),
        ("type is a number", {"interaction_type": 7}, "interaction_type"),
    ]  # fmt: skip


def test_bad_input_is_422_naming_the_field_and_nothing_saved(client, book):
    valid = {
        "trader_ids": [book.ivy.trader_id],
        "interaction_type": "Call",
        "interaction_date": (utcnow() - timedelta(hours=1)).isoformat(),
        "subject": "Check-in",
    }
    audit_before = _count(AuditEvent)
    failures = []
    for what, changes, field in _bad_cases(book):
        r = client.post(f"{API}/interactions", json={**valid, **changes}, headers=book.h["broker"])
        fields = {e["field"] for e in r.json().get("errors") or []}
        if r.status_code != 422 or field not in fields:
            failures.append(f"{what}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert _count(Interaction) == 0 and _count(AuditEvent) == audit_before

    # The same checks guard a new version: nothing changes.
    row = _log(client, book)
    url = f"{API}/interactions/{row['interaction_id']}"
    for what, changes, field in _bad_cases(book):
        if "firm_id" in changes:
            continue  # see test_known_gap_a_new_version_cannot_name_another_firm
        r = client.put(url, json={**valid, **changes}, headers=book.h["broker"])
        fields = {e["field"] for e in r.json().get("errors") or []}
        if r.status_code != 422 or field not in fields:
            failures.append(f"PUT {what}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert client.get(url, headers=book.h["broker"]).json() == row
    assert _count(InteractionVersion) == 1

    # And the list filters.
    for query, field in [
        ("date_from=2026-02-10&date_to=2026-02-01", "date_to"),
        ("date_from=10/02/2026", "date_from"),
        ("date_from=0001-01-01", "date_from"),
        ("date_to=9999-12-31", "date_to"),
        ("direction=sideways", "direction"),
        ("limit=201", "limit"),
        ("broker_id=0", "broker_id"),
        ("cursor=not-a-cursor", "cursor"),
        ("type=Call%00", "type.0"),
    ]:
        r = client.get(f"{API}/interactions?{query}", headers=book.h["broker"])
        fields = {e["field"] for e in r.json().get("errors") or []}
        if r.status_code != 422 or field not in fields:
            failures.append(f"GET ?{query}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


def test_interaction_types_and_admin_settings(client, book):
    h, admin = book.h["broker"], book.h["admin"]
    types = {t["name"]: t for t in client.get(f"{API}/interaction-types", headers=h).json()}
    assert "Call" in types and "Positive" in types["Call"]["outcomes"]
    assert "No answer" not in types["Email"]["outcomes"]

    r = client.post(f"{API}/interaction-outcomes", json={"name": "Escalated"}, headers=admin)
    assert r.status_code == 201 and "Escalated" in r.json()
    dup = client.post(f"{API}/interaction-outcomes", json={"name": "escalated"}, headers=admin)
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "name"
    r = client.post(
        f"{API}/interaction-types",
        json={"name": "Site visit", "outcomes": ["Positive"]},
        headers=admin,
    )
    assert r.status_code == 201
    r = client.put(
        f"{API}/interaction-types/Site visit/outcomes",
        json={"outcomes": ["Positive", "Escalated"]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    site = next(t for t in r.json() if t["name"] == "Site visit")
    assert site["outcomes"] == ["Positive", "Escalated"] and not site["built_in"]
    assert _log(client, book, interaction_type="site visit", outcome="escalated")["outcome"] == (
        "Escalated"
    )
    bad = client.put(
        f"{API}/interaction-types/Site visit/outcomes", json={"outcomes": ["Nope"]}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "outcomes"
    missing = client.patch(
        f"{API}/interaction-types/No such type", json={"active": False}, headers=admin
    )
    assert missing.status_code == 404
    # A retired type leaves the list and cannot be logged any more.
    r = client.patch(f"{API}/interaction-types/Site visit", json={"active": False}, headers=admin)
    assert r.status_code == 200
    assert not next(t for t in r.json() if t["name"] == "Site visit")["active"]
    names = [t["name"] for t in client.get(f"{API}/interaction-types", headers=h).json()]
    assert "Site visit" not in names
    r = client.post(
        f"{API}/interactions",
        json={"trader_id": book.ivy.trader_id, "interaction_type": "Site visit",
              "interaction_date": utcnow().isoformat(), "subject": "Visit"},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "interaction_type"
    # Names with a slash are reachable too.
    r = client.post(f"{API}/interaction-types", json={"name": "Call/Email"}, headers=admin)
    assert r.status_code == 201
    r = client.patch(f"{API}/interaction-types/Call%2FEmail", json={"active": False}, headers=admin)
    assert r.status_code == 200 and not next(t for t in r.json() if t["name"] == "Call/Email")[
        "active"]  # fmt: skip

    # Relationship rules: read and replace (admins); every field is checked.
    rules = client.get(f"{API}/settings/relationship-rules", headers=admin).json()
    assert rules == {"contact_days": {"A": 14, "B": 30, "C": 90},
                     "overdue_escalation_days": 2, "default_reminder_minutes": [1440, 60]}  # fmt: skip
    new = {"contact_days": {"A": 7, "B": 21, "C": 60}, "overdue_escalation_days": 1,
           "default_reminder_minutes": [30, 120]}  # fmt: skip
    r = client.put(f"{API}/settings/relationship-rules", json=new, headers=admin)
    assert r.status_code == 200 and r.json()["default_reminder_minutes"] == [120, 30]
    assert client.get(f"{API}/settings/relationship-rules", headers=admin).json() == r.json()
    for body, field in [
        ({**new, "contact_days": {"A": 7, "B": 21}}, "contact_days.C"),
        ({**new, "contact_days": {"A": 0, "B": 21, "C": 60}}, "contact_days.A"),
        ({**new, "contact_days": {"A": 7, "B": 21, "C": 60, "D": 1}}, "contact_days.D"),
        ({**new, "overdue_escalation_days": "soon"}, "overdue_escalation_days"),
        ({**new, "default_reminder_minutes": [1, 2, 3, 4, 5, 6]}, "default_reminder_minutes"),
        ({**new, "colour": "blue"}, "colour"),
    ]:
        r = client.put(f"{API}/settings/relationship-rules", json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (field, r.text)


def test_timelines_and_due_for_contact(client, book):
    h = book.h["broker"]
    now = utcnow()
    _log(client, book, subject="Older call", interaction_date=(now - timedelta(days=2)).isoformat())
    _log(client, book, subject="Newer mail", interaction_type="Email",
         trader_ids=[book.ian.trader_id], interaction_date=(now - timedelta(days=1)).isoformat())  # fmt: skip
    r = client.post(
        f"{API}/follow-ups",
        json={"title": "Send the deck", "due_at": (now + timedelta(days=1)).isoformat(),
              "firm_id": book.firm.firm_id, "trader_ids": [book.ivy.trader_id]},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text

    line = client.get(f"{API}/firms/{book.firm.firm_id}/timeline", headers=h).json()
    assert [e["kind"] for e in line["entries"]] == ["follow_up", "interaction", "interaction"]
    assert line["entries"][0]["follow_up"]["title"] == "Send the deck"
    assert not line["has_more"] and line["before"] is None
    calls = client.get(
        f"{API}/firms/{book.firm.firm_id}/timeline?type=Call&include_follow_ups=false", headers=h
    ).json()
    assert [e["interaction"]["subject"] for e in calls["entries"]] == ["Older call"]
    page = client.get(f"{API}/firms/{book.firm.firm_id}/timeline?limit=2", headers=h).json()
    assert page["has_more"] and len(page["entries"]) == 2
    older = client.get(
        f"{API}/firms/{book.firm.firm_id}/timeline",
        params={"limit": 2, "before": page["before"]},
        headers=h,
    ).json()
    assert [e["interaction"]["subject"] for e in older["entries"]] == ["Older call"]
    ivy = client.get(f"{API}/traders/{book.ivy.trader_id}/timeline", headers=h).json()
    assert [e["kind"] for e in ivy["entries"]] == ["follow_up", "interaction"]
    for query, field in [("limit=101", "limit"), ("before=2026-01-01T00:00:00", "before")]:
        r = client.get(f"{API}/firms/{book.firm.firm_id}/timeline?{query}", headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text

    # Interaction Co (tier A) was contacted yesterday; Elsewhere Ltd never was.
    due = client.get(f"{API}/due-for-contact", headers=book.h["manager"]).json()
    assert [d["name"] for d in due["items"]] == ["Elsewhere Ltd"]
    assert due["items"][0]["last_contact_at"] is None
    assert client.get(f"{API}/due-for-contact", headers=h).json()["items"] == []
    client.put(
        f"{API}/settings/relationship-rules",
        json={"contact_days": {"A": 1, "B": 30, "C": 90}, "overdue_escalation_days": 2,
              "default_reminder_minutes": [60]},
        headers=book.h["admin"],
    )  # fmt: skip
    mine = client.get(f"{API}/due-for-contact?mine=true", headers=h).json()
    assert [d["name"] for d in mine["items"]] == ["Interaction Co"]
    row = mine["items"][0]
    assert row["interval_days"] == 1 and row["interactions_30d"] == 2
    assert row["open_follow_ups"] == 1 and row["days_since"] == 1
    assert (
        client.get(
            f"{API}/due-for-contact?broker_id={book.other.user_id}", headers=book.h["manager"]
        ).json()["total"]
        == 1
    )


def test_a_new_version_cannot_name_another_firm(client, book):
    row = _log(client, book)
    r = client.put(
        f"{API}/interactions/{row['interaction_id']}",
        json={"trader_ids": [book.ivy.trader_id], "interaction_type": "Call",
              "interaction_date": row["interaction_date"], "subject": "Moved?",
              "firm_id": book.elsewhere.firm_id},
        headers=book.h["manager"],
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "firm_id", r.text


# ---- the design document's interaction: no subject -----------------------------------------


def test_the_design_documents_interaction_is_logged_with_a_derived_subject(client, book):
    """A client sending exactly the design's fields (trader_id, interaction_type,
    interaction_date, notes, outcome) gets 201; the subject names the type and the trader
    (never the notes: they are encrypted at rest, subjects are not)."""
    body = {
        "trader_id": book.ivy.trader_id,
        "interaction_type": "Call",
        "interaction_date": (utcnow() - timedelta(hours=1)).isoformat(),
        "notes": "Discussed the Q3 bond issue.\nWants a follow-up call next week.",
        "outcome": "Follow-up Required",
    }
    r = client.post(f"{API}/interactions", json=body, headers=book.h["broker"])
    assert r.status_code == 201, r.text
    row = r.json()
    assert row["subject"] == "Call with Ivy Investor"
    assert row["trader_ids"] == [book.ivy.trader_id] and row["outcome"] == "Follow-up required"
    assert row["notes"] == body["notes"]
    url = f"{API}/interactions/{row['interaction_id']}"
    assert client.get(url, headers=book.h["broker"]).json()["subject"] == row["subject"]
    saved = client.get(f"{url}/versions", headers=book.h["broker"]).json()[0]
    assert json.loads(saved["data"])["subject"] == "Call with Ivy Investor"


@pytest.mark.parametrize(
    ("fields", "subject"),
    [
        ({"notes": "Private first line\nsecond"}, "Call with Ivy Investor"),
        ({"notes": "   \n  "}, "Call with Ivy Investor"),
        ({}, "Call with Ivy Investor"),
        ({"subject": "   ", "notes": "Not from the notes"}, "Call with Ivy Investor"),
        ({"subject": None}, "Call with Ivy Investor"),
        ({"subject": "  Given  ", "notes": "Not this"}, "Given"),
        ({"interaction_type": "Meeting", "trader_ids": "both"},
         "Meeting with Ian Investor and Ivy Investor"),
    ],
)  # fmt: skip
def test_without_a_subject_one_is_derived(client, book, fields, subject):
    """ "<type> with <trader names>", whatever the notes say."""
    if fields.get("trader_ids") == "both":
        fields = {**fields, "trader_ids": [book.ivy.trader_id, book.ian.trader_id]}
    body = {
        "trader_ids": [book.ivy.trader_id],
        "interaction_type": "Call",
        "interaction_date": (utcnow() - timedelta(hours=1)).isoformat(),
        **fields,
    }
    r = client.post(f"{API}/interactions", json=body, headers=book.h["broker"])
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == subject


def test_a_new_version_without_a_subject_derives_it_again(client, book):
    row = _log(client, book, notes="Old notes")
    url = f"{API}/interactions/{row['interaction_id']}"
    body = {
        "trader_id": book.ivy.trader_id,
        "interaction_type": "Email",
        "interaction_date": row["interaction_date"],
        "notes": "Sent the term sheet",
    }
    r = client.put(url, json=body, headers=book.h["broker"])
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "Email with Ivy Investor" and r.json()["version"] == 2
