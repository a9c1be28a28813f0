"""Follow-ups, notifications, the calendar and its iCalendar feeds over HTTP: create, read,
update (PATCH and PUT), list mine / my team's / overdue, snooze; the bell's list; a feed holds
exactly its owner's visible follow-ups and meetings and answers 404 once revoked; bad input is a
422 naming the field and saves nothing."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import icalendar
import pytest
from sqlmodel import func, select

from brm_app.db import unit_of_work, utcnow
from brm_app.models.audit import AuditEvent
from brm_app.models.follow_up import FollowUp, Reminder
from brm_app.services import scheduler
from brm_app.settings import get_settings
from tests.api.test_interactions_api import API, Book, _log


@pytest.fixture
def book(client) -> Book:
    return Book()


def _count(model) -> int:
    with unit_of_work() as db:
        return db.exec(select(func.count()).select_from(model)).one()


def _in(**delta) -> str:
    return (utcnow() + timedelta(**delta)).isoformat()


def _create(client, book, headers=None, **fields) -> dict:
    body = {"title": "Send the term sheet", "due_at": _in(days=3), "firm_id": book.firm.firm_id,
            **fields}  # fmt: skip
    r = client.post(f"{API}/follow-ups", json=body, headers=headers or book.h["broker"])
    assert r.status_code == 201, r.text
    return r.json()


def _make_overdue(follow_up_id: int, days: int = 1) -> None:
    with unit_of_work(write=True) as db:
        fu = db.get(FollowUp, follow_up_id)
        fu.due_at = utcnow() - timedelta(days=days)
        db.add(fu)


def test_create_read_update_and_snooze(client, book):
    h = book.h["broker"]
    call = _log(client, book)
    due = utcnow().replace(microsecond=0) + timedelta(days=3)
    fu = _create(
        client,
        book,
        due_at=due.isoformat(),
        interaction_id=call["interaction_id"],
        trader_ids=[book.ivy.trader_id],
        notes="Bring the deck",
    )
    # The design document's names; the caller is the default assignee, reminders the defaults.
    assert {"follow_up_id", "title", "due_at", "assignee_id", "firm_id", "trader_ids",
            "interaction_id", "reminders", "status"} <= set(fu)  # fmt: skip
    assert fu["assignee_id"] == book.broker.user_id and fu["status"] == "open"
    assert fu["firm_id"] == book.firm.firm_id and fu["interaction_id"] == call["interaction_id"]
    assert len(fu["reminders"]) == 2 and not fu["overdue"]
    url = f"{API}/follow-ups/{fu['follow_up_id']}"
    assert client.get(url, headers=book.h["manager"]).json() == fu

    # The firm comes from the interaction when only that is given.
    from_call = _create(client, book, firm_id=None, interaction_id=call["interaction_id"])
    assert from_call["firm_id"] == book.firm.firm_id

    # PATCH changes only what is sent; a new due time moves the reminders with it.
    r = client.patch(url, json={"due_at": (due + timedelta(days=1)).isoformat()}, headers=h)
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["notes"] == "Bring the deck" and moved["trader_ids"] == [book.ivy.trader_id]
    assert moved["reminders"] != fu["reminders"] and len(moved["reminders"]) == 2

    # PUT replaces the content: omitted notes and traders become empty; the firm cannot change.
    r = client.put(
        url,
        json={"title": "Send the final term sheet", "due_at": (due + timedelta(days=2)).isoformat(),
              "firm_id": book.firm.firm_id, "reminders": [_in(days=1)]},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    put = r.json()
    assert put["title"] == "Send the final term sheet" and put["notes"] is None
    assert put["trader_ids"] == [] and len(put["reminders"]) == 1
    assert put["assignee_id"] == book.broker.user_id
    for key, value in [("firm_id", book.elsewhere.firm_id), ("interaction_id", 999_999)]:
        r = client.put(url, json={"title": "x", "due_at": _in(days=2), key: value}, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == key, r.text

    # Snooze adds a reminder; done stops them all.
    r = client.post(f"{url}/snooze", json={"minutes": 30}, headers=h)
    assert r.status_code == 200 and r.json()["snoozed_until"] is not None
    assert len(r.json()["reminders"]) == 2
    r = client.patch(url, json={"status": "done"}, headers=h)
    assert r.json()["status"] == "done" and r.json()["reminders"] == []
    assert r.json()["completed_at"] is not None
    r = client.post(f"{url}/snooze", json={"minutes": 30}, headers=h)
    assert r.status_code == 422
    # The manager reassigns it to another broker of the firm (a broker, any broker for managers).
    r = client.patch(url, json={"assignee_id": book.other.user_id}, headers=book.h["manager"])
    assert r.status_code == 200 and r.json()["assignee_id"] == book.other.user_id


def test_lists_mine_team_overdue_and_filters(client, book):
    h, m = book.h["broker"], book.h["manager"]
    soon = _create(client, book, title="Soon", due_at=_in(days=1), trader_ids=[book.ian.trader_id])
    later = _create(client, book, title="Later", due_at=_in(days=5))
    late = _create(client, book, title="Late", due_at=_in(days=2))
    _make_overdue(late["follow_up_id"])
    theirs = _create(client, book, headers=book.h["other"], title="Theirs",
                     firm_id=book.elsewhere.firm_id)  # fmt: skip
    # The manager plans one for her broker: it is his.
    assigned = _create(client, book, headers=m, title="From the boss",
                       assignee_id=book.broker.user_id, due_at=_in(days=4))  # fmt: skip

    def titles(headers=h, **params):
        r = client.get(f"{API}/follow-ups", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return [f["title"] for f in r.json()["items"]]

    assert titles() == ["Late", "Soon", "From the boss", "Later"]  # soonest due first
    assert titles(overdue=True) == ["Late"]
    assert titles(scope="all") == titles()  # a broker sees only his book
    assert titles(m) == []  # nothing is assigned to the manager
    assert titles(m, scope="team") == ["Late", "Soon", "From the boss", "Later"]
    assert titles(m, scope="team", overdue=True) == ["Late"]
    assert titles(m, scope="all") == ["Late", "Soon", "Theirs", "From the boss", "Later"]
    assert "Theirs" in titles(book.h["compliance"], scope="team")  # everyone's team
    assert titles(m, scope="all", assignee_id=book.other.user_id) == ["Theirs"]
    assert titles(m, scope="all", firm_id=book.elsewhere.firm_id) == ["Theirs"]
    assert titles(trader_id=book.ian.trader_id) == ["Soon"]
    day = (utcnow() + timedelta(days=5)).date().isoformat()
    assert titles(date_from=day, date_to=day) == ["Later"]
    client.patch(f"{API}/follow-ups/{soon['follow_up_id']}", json={"status": "done"}, headers=h)
    assert titles(status="done") == ["Soon"]
    assert titles(status="open") == ["Late", "From the boss", "Later"]
    page = client.get(f"{API}/follow-ups?limit=2&offset=1", headers=h).json()
    assert page["total"] == 4 and page["has_next"] and page["next_offset"] == 3
    assert [f["title"] for f in page["items"]] == ["Soon", "From the boss"]
    assert later and theirs and assigned
    for query, field in [
        ("scope=everyone", "scope"),
        ("status=maybe", "status"),
        ("overdue=perhaps", "overdue"),
        ("firm_id=2147483648", "firm_id"),
        ("date_from=2026-13-01", "date_from"),
        ("date_to=0001-01-01", "date_to"),
        ("offset=-1", "offset"),
    ]:
        r = client.get(f"{API}/follow-ups?{query}", headers=h)
        assert r.status_code == 422, (query, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (query, r.text)
    r = client.get(f"{API}/follow-ups?firm_id={book.elsewhere.firm_id}", headers=h)
    assert r.status_code == 404


def test_bad_input_is_422_naming_the_field_and_nothing_saved(client, book):
    due = utcnow() + timedelta(days=2)
    xavier, ivy = book.xavier.trader_id, book.ivy.trader_id
    cases = [
        # (what, body changes, the field named)
        ("assigned to a non-broker", {"assignee_id": book.manager.user_id}, "assignee_id"),
        ("assigned to a broker outside the firm", {"assignee_id": book.other.user_id},
         "assignee_id"),
        ("assigned to nobody that exists", {"assignee_id": 999_999}, "assignee_id"),
        ("due date in the past", {"due_at": _in(days=-1)}, "due_at"),
        ("due in six years", {"due_at": _in(days=6 * 366)}, "due_at"),
        ("reminder after the due time", {"reminders": [(due + timedelta(hours=1)).isoformat()]},
         "reminders"),
        ("reminder in the past", {"reminders": [_in(days=-1)]}, "reminders"),
        ("trader of another firm", {"trader_ids": [ivy, xavier]}, "trader_ids"),
        ("interaction elsewhere", {"interaction_id": 999_999}, "interaction_id"),
        ("no firm", {"firm_id": None}, "firm_id"),
        ("unknown time zone", {"time_zone": "Mars/Olympus"}, "time_zone"),
        ("unknown field", {"priority": "high"}, "priority"),
        ("a due date that is no date", {"due_at": "tomorrow"}, "due_at"),
        ("ids that are no ids", {"trader_ids": "everyone"}, "trader_ids"),
        ("empty title", {"title": " "}, "title"),
        ("title too long", {"title": "x" * 201}, "title"),
        ("too many reminders", {"reminders": [due.isoformat()] * 11}, "reminders"),
    ]  # fmt: skip
    valid = {"title": "Call back", "due_at": due.isoformat(), "firm_id": book.firm.firm_id}
    audit_before = _count(AuditEvent)
    failures = []
    for what, changes, field in cases:
        r = client.post(f"{API}/follow-ups", json={**valid, **changes}, headers=book.h["broker"])
        fields = {e["field"] for e in r.json().get("errors") or []}
        if r.status_code not in (404, 422) or (r.status_code == 422 and field not in fields):
            failures.append(f"{what}: {r.status_code} {r.text[:200]}")
        elif r.status_code == 404 and field != "interaction_id":
            failures.append(f"{what}: 404 {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert _count(FollowUp) == 0 and _count(Reminder) == 0
    assert _count(AuditEvent) == audit_before

    fu = _create(client, book)
    url = f"{API}/follow-ups/{fu['follow_up_id']}"
    for body, field in [
        ({"title": None}, "title"),
        ({"due_at": None}, "due_at"),
        ({"status": "maybe"}, "status"),
        ({"due_at": _in(days=-2)}, "due_at"),
        ({"reminders": [_in(days=9)]}, "reminders"),
        ({"assignee_id": book.compliance.user_id}, "assignee_id"),
        ({"firm_id": book.elsewhere.firm_id}, "firm_id"),
        ({"trader_ids": [xavier]}, "trader_ids"),
    ]:
        r = client.patch(url, json=body, headers=book.h["broker"])
        if r.status_code != 422 or field not in {e["field"] for e in r.json()["errors"]}:
            failures.append(f"PATCH {body}: {r.status_code} {r.text[:200]}")
    for body, field in [({"minutes": 1}, "minutes"), ({"minutes": "soon"}, "minutes"),
                        ({}, "minutes"), ({"minutes": 30, "why": "busy"}, "why")]:  # fmt: skip
        r = client.post(f"{url}/snooze", json=body, headers=book.h["broker"])
        if r.status_code != 422 or field not in {e["field"] for e in r.json()["errors"]}:
            failures.append(f"snooze {body}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert client.get(url, headers=book.h["broker"]).json() == fu


def test_notifications_are_the_bells(client, book):
    h = book.h["broker"]
    first = _create(client, book, title="First", due_at=_in(hours=2), reminders=[_in(minutes=1)])
    second = _create(client, book, title="Second", due_at=_in(hours=3), reminders=[_in(minutes=2)])
    with unit_of_work(write=True) as db:
        report = scheduler.run_pass(db, now=utcnow() + timedelta(minutes=5))
    assert report.reminders_sent == 2

    r = client.get(f"{API}/notifications", headers=h)
    assert r.status_code == 200
    notes = r.json()["items"]
    assert [n["title"] for n in notes] == ["Reminder: Second", "Reminder: First"]  # newest first
    assert notes[1]["link"] == f"/follow-ups/{first['follow_up_id']}" and not notes[0]["read"]
    assert second
    assert client.get(f"{API}/notifications/unread-count", headers=h).json() == {"unread": 2}
    # Someone else's notification is "not found" and stays unread.
    other = client.post(f"{API}/notifications/{notes[0]['notification_id']}/read",
                        headers=book.h["other"])  # fmt: skip
    assert other.status_code == 404
    assert client.get(f"{API}/notifications", headers=book.h["other"]).json()["items"] == []
    r = client.post(f"{API}/notifications/{notes[0]['notification_id']}/read", headers=h)
    assert r.status_code == 200 and r.json()["read"]
    again = client.post(f"{API}/notifications/{notes[0]['notification_id']}/read", headers=h)
    assert again.status_code == 200 and again.json()["read"]
    unread = client.get(f"{API}/notifications?unread=true", headers=h).json()
    assert [n["title"] for n in unread["items"]] == ["Reminder: First"]
    assert client.get(f"{API}/notifications/unread-count", headers=h).json() == {"unread": 1}
    assert client.post(f"{API}/notifications/read-all", headers=h).json() == {"marked": 1}
    assert client.get(f"{API}/notifications/unread-count", headers=h).json() == {"unread": 0}
    paged = client.get(f"{API}/notifications?limit=1", headers=h).json()
    assert paged["total"] == 2 and paged["has_next"] and len(paged["items"]) == 1
    for path in ("/notifications/0/read", "/notifications/abc/read",
                 "/notifications/2147483648/read"):  # fmt: skip
        assert client.post(API + path, headers=h).status_code == 422, path
    assert client.post(f"{API}/notifications/999999/read", headers=h).status_code == 404


def test_calendar_for_me_my_team_and_one_broker(client, book):
    h, m = book.h["broker"], book.h["manager"]
    fu = _create(client, book, due_at=_in(days=2))
    call = _log(client, book)
    theirs = _create(client, book, headers=book.h["other"], firm_id=book.elsewhere.firm_id)
    start = (utcnow() - timedelta(days=1)).date().isoformat()
    end = (utcnow() + timedelta(days=5)).date().isoformat()

    def items(headers, **params):
        r = client.get(f"{API}/calendar", params={"start": start, "end": end, **params},
                       headers=headers)  # fmt: skip
        assert r.status_code == 200, r.text
        return r.json()

    mine = items(h)
    assert sorted((i["kind"], i["id"]) for i in mine["items"]) == [
        ("follow_up", fu["follow_up_id"]), ("interaction", call["interaction_id"])]  # fmt: skip
    one = next(i for i in mine["items"] if i["kind"] == "follow_up")
    assert one["firm_name"] == "Interaction Co" and one["person"] == book.broker.name
    assert one["status"] == "open" and not one["overdue"] and mine["time_zone"] == "UTC"
    team = items(m, team="true")
    assert len(team["items"]) == 2 and team["brokers"] == [
        {"broker_id": book.broker.user_id, "name": book.broker.name}]  # fmt: skip
    assert len(items(m, broker_id=book.broker.user_id)["items"]) == 2
    everyone = items(book.h["admin"], team="true")
    assert theirs["follow_up_id"] in {
        i["id"] for i in everyone["items"] if i["kind"] == "follow_up"
    }
    for params, status, field in [
        ({"broker_id": book.other.user_id}, 422, "broker_id"),  # not on her team
        ({"start": end, "end": start}, 422, "end"),
        ({"end": (utcnow() + timedelta(days=90)).date().isoformat()}, 422, "end"),
        ({"start": "next monday"}, 422, "start"),
        ({"start": "0001-01-01"}, 422, "start"),
        ({"end": "9999-12-31"}, 422, "end"),
    ]:
        r = client.get(f"{API}/calendar", params={"start": start, "end": end, **params},
                       headers=m)  # fmt: skip
        assert r.status_code == status, (params, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (params, r.text)
    assert client.get(f"{API}/calendar?start={start}", headers=h).status_code == 422
    assert client.get(f"{API}/calendar", params={"start": start, "end": end, "team": "true"},
                      headers=h).status_code == 403  # fmt: skip


def test_ical_feed_holds_exactly_the_owners_visible_items_and_revokes(client, book):
    h = book.h["broker"]
    fu = _create(client, book, due_at=_in(days=1))
    meeting = _log(client, book, interaction_type="Meeting", subject="Lunch")
    _log(client, book, interaction_type="Email", subject="Mail")  # not a meeting
    cancelled = _create(client, book, title="Dropped", due_at=_in(days=2))
    client.patch(f"{API}/follow-ups/{cancelled['follow_up_id']}", json={"status": "cancelled"},
                 headers=h)  # fmt: skip
    voided = _log(client, book, interaction_type="Meeting", subject="Never happened")
    client.post(f"{API}/interactions/{voided['interaction_id']}/void",
                json={"reason": "Logged by mistake"}, headers=book.h["admin"])  # fmt: skip
    _create(client, book, headers=book.h["other"], firm_id=book.elsewhere.firm_id)  # theirs
    # A meeting at a firm he no longer covers leaves his feed.
    from tests.factories import make_firm, make_trader

    gone = make_firm(book.broker, name="Former Client")
    gone_trader = make_trader(book.broker, gone.firm_id)
    _log(client, book, trader_ids=[gone_trader.trader_id], interaction_type="Meeting",
         subject="Farewell")  # fmt: skip
    r = client.put(f"{API}/firms/{gone.firm_id}/coverage",
                   json={"primary_broker_id": book.other.user_id}, headers=book.h["manager"])  # fmt: skip
    assert r.status_code == 200, r.text

    r = client.post(f"{API}/calendar-feeds", headers=h)
    assert r.status_code == 201, r.text
    feed = r.json()
    public = get_settings().public_url  # not the request's Host (see test_calendar_feeds_api)
    assert feed["active"] and feed["url"].startswith(f"{public}/api/calendar/")
    assert feed["url"].endswith(".ics")
    path = urlsplit(feed["url"]).path
    r = client.get(path)  # the token is the credential: no bearer token
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(r.content)
    uids = sorted(str(e["uid"]) for e in cal.walk("VEVENT"))
    assert uids == sorted([f"follow-up-{fu['follow_up_id']}@brokersync",
                           f"interaction-{meeting['interaction_id']}@brokersync"])  # fmt: skip
    summaries = sorted(str(e["summary"]) for e in cal.walk("VEVENT"))
    assert summaries == ["Follow-up: Send the term sheet", "Meeting: Lunch"]

    listed = client.get(f"{API}/calendar-feeds", headers=h).json()
    assert [f["feed_id"] for f in listed] == [feed["feed_id"]] and "url" not in listed[0]
    assert listed[0]["last_fetched_at"] is not None
    # Only its owner revokes it.
    gone = client.delete(f"{API}/calendar-feeds/{feed['feed_id']}", headers=book.h["other"])
    assert gone.status_code == 404 and client.get(path).status_code == 200
    assert client.delete(f"{API}/calendar-feeds/{feed['feed_id']}", headers=h).status_code == 204
    assert client.get(path).status_code == 404
    assert client.get(f"{API}/calendar-feeds", headers=h).json()[0]["active"] is False
    assert client.get("/api/calendar/" + "x" * 43 + ".ics").status_code == 404
