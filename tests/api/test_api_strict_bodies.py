"""Numbers and booleans in the API's own request bodies are JSON numbers and booleans, as the
schema says: `{"active": 0}` and `[false]` for a list of minutes were taken (read as False and 0)."""

from __future__ import annotations

import pytest

from brm_app.models.user import Role
from tests.api.fuzz_support import bearer
from tests.factories import make_firm, make_user

RULES = {"contact_days": {"A": 1, "B": 1, "C": 1}, "overdue_escalation_days": 0,
         "default_reminder_minutes": [0]}  # fmt: skip


@pytest.mark.parametrize(
    "method, path, body, field",
    [
        ("PATCH", "/interaction-types/Meeting", {"active": 0}, "active"),
        ("PATCH", "/interaction-types/Meeting", {"active": "false"}, "active"),
        ("PUT", "/settings/relationship-rules",
         {**RULES, "default_reminder_minutes": [False]}, "default_reminder_minutes.0"),
        ("PUT", "/settings/relationship-rules", {**RULES, "overdue_escalation_days": True},
         "overdue_escalation_days"),
        ("PUT", "/settings/relationship-rules", {**RULES, "contact_days": {"A": "1", "B": 1,
                                                                           "C": 1}},
         "contact_days.A"),
        ("PUT", "/firms/{firm}/coverage", {"primary_broker_id": "1"}, "primary_broker_id"),
        ("POST", "/firms/{firm}/merge", {"source_firm_id": True}, "source_firm_id"),
    ],
)  # fmt: skip
def test_numbers_and_booleans_are_not_read_from_other_types(client, method, path, body, field):
    admin, broker = make_user(Role.ADMIN), make_user(Role.BROKER)
    firm = make_firm(broker, name="Acme Capital")
    url = "/api/v1" + path.format(firm=firm.firm_id)
    r = client.request(method, url, json=body, headers=bearer(admin.user_id))
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}, r.text
