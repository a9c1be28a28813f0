"""Schemathesis over the interaction, follow-up, notification, calendar, feed, timeline,
due-for-contact and settings endpoints: whatever a client sends with a valid token (valid or not,
to ids that exist or not), the API never answers with a server error.

Bounded for CI like tests/api/test_api_fuzz.py: a fixed number of examples per operation and
mode, no shrinking, derandomized so a run is repeatable. Set BRM_FUZZ_EXAMPLES (e.g. 200) and
BRM_FUZZ_RANDOM=1 to search harder.
"""

from __future__ import annotations

from datetime import timedelta

from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import FollowUpWrite
from brm_app.models.interaction import InteractionWrite
from brm_app.models.user import Role
from brm_app.services import calendar_feed, follow_ups, interactions, notifications
from tests.api.fuzz_support import bearer, server_errors
from tests.factories import make_firm, make_trader, make_user

PATHS = (
    r"^/api/v1/(interactions|interaction-types|interaction-outcomes|follow-ups|notifications"
    r"|calendar|calendar-feeds|due-for-contact|settings)"
    r"|^/api/v1/(firms|traders)/\{\w+\}/(interactions|timeline)"
    r"|^/api/calendar/"
)


def _seed() -> tuple[int, dict[str, object]]:
    """An admin, a broker, two firms with traders, and one of each activity record: ids the
    generated requests can hit."""
    admin, broker = make_user(Role.ADMIN), make_user(Role.BROKER)
    acme = make_firm(broker, name="Acme Capital", tier="A", account_status="Active")
    make_firm(broker, name="Beta Partners")
    alice = make_trader(broker, acme.firm_id, name="Alice Archer", email="alice@acme.example")
    with unit_of_work(write=True) as db:
        call = interactions.log_interaction(
            db,
            actor=broker,
            data=InteractionWrite(
                trader_ids=[alice.trader_id],
                interaction_type="Meeting",
                interaction_date=utcnow() - timedelta(days=1),
                subject="Kick-off",
            ),
        )
        fu = follow_ups.create_follow_up(
            db,
            actor=broker,
            data=FollowUpWrite(
                title="Send the deck",
                due_at=utcnow() + timedelta(days=2),
                firm_id=acme.firm_id,
                assignee_id=broker.user_id,
            ),
        )
        note = notifications.notify(db, user_id=admin.user_id, kind="reminder", title="Hello")
        feed, token = calendar_feed.create_feed(db, actor=admin)
    known = {
        "firm_id": acme.firm_id,
        "trader_id": alice.trader_id,
        "interaction_id": call.interaction_id,
        "follow_up_id": fu.follow_up_id,
        "notification_id": note.id,
        "feed_id": feed.feed_id,
        "name": "Call",
        "token": token,
        "broker_id": broker.user_id,
    }
    return admin.user_id, known


def test_no_server_errors(database_url):
    admin_id, known = _seed()
    errors = server_errors(PATHS, bearer(admin_id), known, min_operations=33)
    assert not errors, f"{len(errors)} server errors:\n" + "\n".join(errors[:20])


# ---- inputs the fuzzing found that once overflowed the time-zone arithmetic (500) ------------

EXTREME = [
    ("POST", "/interactions", {"interaction_date": "0001-01-01T00:00:00+00:01"}, "interaction_date"),
    ("POST", "/interactions", {"interaction_date": "0001-01-01T00:00:00",
                               "time_zone": "Asia/Tokyo"}, "interaction_date"),
    ("POST", "/interactions", {"interaction_end": "9999-12-31T23:59:00-05:00"}, "interaction_end"),
    ("POST", "/follow-ups", {"due_at": "0001-01-01T00:00:00+00:01"}, "due_at"),
    ("POST", "/follow-ups", {"reminders": ["0001-01-01T00:00:00+01:00"]}, "reminders"),
    ("PATCH", "/follow-ups/{follow_up_id}", {"due_at": "0001-01-01T00:00:00+00:01"}, "due_at"),
    ("PUT", "/follow-ups/{follow_up_id}", {"title": "x", "due_at": "0001-01-01T00:00:00+00:01"},
     "due_at"),
]  # fmt: skip


def test_extreme_dates_are_422(client):
    admin_id, known = _seed()
    headers = bearer(admin_id)
    base = {
        "/interactions": {"trader_ids": [known["trader_id"]], "interaction_type": "Call",
                          "interaction_date": (utcnow() - timedelta(hours=1)).isoformat(),
                          "subject": "Call"},
        "/follow-ups": {"title": "Call back", "firm_id": known["firm_id"],
                        "assignee_id": known["broker_id"],
                        "due_at": (utcnow() + timedelta(days=1)).isoformat()},
    }  # fmt: skip
    failures = []
    for method, path, body, field in EXTREME:
        url = "/api/v1" + path.format(**known)
        payload = {**base.get(path, {}), **body} if method == "POST" else body
        r = client.request(method, url, json=payload, headers=headers)
        named = {e["field"] for e in r.json().get("errors", [])}
        # A list item is named with its index: reminders.0
        if r.status_code != 422 or not any(f == field or f.startswith(field + ".") for f in named):
            failures.append(f"{method} {path} {body}: {r.status_code} {r.text[:100]}")
    assert not failures, "\n".join(failures)
