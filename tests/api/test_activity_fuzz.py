"""Schemathesis over the interaction, follow-up, notification, calendar, feed, timeline,
due-for-contact and settings endpoints: whatever a client sends with a valid token (valid or not,
to ids that exist or not), the API never answers with a server error.

Bounded for CI like tests/api/test_api_fuzz.py: a fixed number of examples per operation and
mode, no shrinking, derandomized so a run is repeatable. Set BRM_FUZZ_EXAMPLES (e.g. 200) and
BRM_FUZZ_RANDOM=1 to search harder.
"""

from __future__ import annotations

import os
from datetime import timedelta

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from brm_app.api.app import create_api
from brm_app.auth import tokens
from brm_app.db import unit_of_work, utcnow
from brm_app.models.follow_up import FollowUpWrite
from brm_app.models.interaction import InteractionWrite
from brm_app.models.user import Role, User
from brm_app.services import calendar_feed, follow_ups, interactions, notifications
from brm_app.settings import get_settings
from tests.factories import make_firm, make_trader, make_user

PATHS = (
    r"^/api/v1/(interactions|interaction-types|interaction-outcomes|follow-ups|notifications"
    r"|calendar|calendar-feeds|due-for-contact|settings)"
    r"|^/api/v1/(firms|traders)/\{\w+\}/(interactions|timeline)"
    r"|^/api/calendar/"
)
EXAMPLES = int(os.environ.get("BRM_FUZZ_EXAMPLES", "15"))
RANDOM = os.environ.get("BRM_FUZZ_RANDOM") == "1"


def _bearer(user_id: int) -> dict[str, str]:
    with unit_of_work() as db:
        user = db.get(User, user_id)
        token, _ = tokens.issue(
            user.id,
            cv=tokens.credentials_version(user.credentials_changed_at),
            secret=get_settings().secret_key,
            minutes=30,
        )
    return {"Authorization": f"Bearer {token}"}


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
    headers = _bearer(admin_id)
    app = create_api()
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).include(path_regex=PATHS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 33, [op.label for op in operations]
    calls, server_errors = [0], []

    for operation in operations:
        path_params = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
        strategies = [
            operation.as_strategy(generation_mode=mode, path_parameters=fixed)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            # Random ids (mostly 404) and, when the path has ids, ones that exist.
            for fixed in ([None, path_params] if path_params else [None])
        ]
        cases = st.one_of(strategies)

        def case_repr(case) -> str:
            return case.as_curl_command(headers={"Authorization": "Bearer <admin>"})[:600]

        @settings(
            max_examples=EXAMPLES * len(strategies),
            deadline=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report, don't minimise
            derandomize=not RANDOM,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def run(case) -> None:
            calls[0] += 1
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the app raised: a real client would get a 500
                server_errors.append(f"{type(exc).__name__}: {str(exc)[:300]}\n  {case_repr(case)}")
                return
            if response.status_code >= 500:
                server_errors.append(
                    f"{response.status_code} {response.text[:300]}\n  {case_repr(case)}"
                )

        run()

    assert not server_errors, f"{len(server_errors)} server errors:\n" + "\n".join(
        server_errors[:20]
    )
    assert calls[0] >= len(operations) * EXAMPLES


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
    headers = _bearer(admin_id)
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
