"""Schemathesis over the firm, trader, trader-role and broker endpoints: whatever a client sends
(valid or not, to ids that exist or not), the API never answers with a server error.

Bounded for CI: a fixed number of examples per operation and mode, no shrinking, derandomized so
a run is repeatable. Set BRM_FUZZ_EXAMPLES (e.g. 200) and BRM_FUZZ_RANDOM=1 to search harder.
"""

from __future__ import annotations

import pytest

from brm_app.api.routes.params import MAX_ID
from brm_app.models.user import Role
from tests.api.fuzz_support import bearer, server_errors
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"
PATHS = r"^/api/v1/(firms|traders|trader-roles|brokers)"


def _seed() -> tuple[int, dict[str, object]]:
    """An admin, two brokers, a few firms and traders: ids the generated requests can hit."""
    admin, b1, b2 = make_user(Role.ADMIN), make_user(Role.BROKER), make_user(Role.BROKER)
    acme = make_firm(b1, name="Acme Capital", lei="5493001KJTIIGC8Y1R12",
                     address={"city": "London", "country": "GB"})  # fmt: skip
    beta = make_firm(b1, name="Beta Partners")
    make_firm(b2, name="Gamma Trust")
    alice = make_trader(b1, acme.firm_id, name="Alice Archer", email="alice@acme.example")
    make_trader(b1, beta.firm_id, name="Bob Brown", email="bob@beta.example")
    known = {"firm_id": acme.firm_id, "trader_id": alice.trader_id, "name": "Analyst",
             "broker_id": b1.user_id}  # fmt: skip
    return admin.user_id, known


def test_no_server_errors(database_url):
    admin_id, known = _seed()
    errors = server_errors(PATHS, bearer(admin_id), known, min_operations=23)
    assert not errors, f"{len(errors)} server errors:\n" + "\n".join(errors[:20])


# ---- inputs the fuzzing found that once reached the database (500 on PostgreSQL) ------------

NUL_TEXT = [
    ("POST", "/firms", {"name": "Acme\x00Capital"}, "name"),
    ("PATCH", "/firms/{firm}", {"notes": "call \x00 later"}, "notes"),
    ("PATCH", "/firms/{firm}", {"address": {"city": "Lon\x00don"}}, "address.city"),
    ("POST", "/firms/{firm}/traders", {"name": "Al\x00ice", "email": "a@acme.example"}, "name"),
]
BIG_IDS = [
    ("POST", "/firms", {"name": "Big Id", "primary_broker_id": MAX_ID + 1}, "primary_broker_id"),
    ("PATCH", "/firms/{firm}", {"secondary_broker_ids": [MAX_ID + 1]}, "secondary_broker_ids"),
    ("PATCH", "/firms/{firm}/traders/{trader}", {"firm_id": MAX_ID + 1}, "firm_id"),
]


@pytest.fixture
def seeded(client):
    admin_id, known = _seed()
    return bearer(admin_id), known


def _refusals(client, seeded, cases) -> list[str]:
    """The cases that were not answered 422 naming their field."""
    headers, known = seeded
    failures = []
    for method, path, body, field in cases:
        url = API + path.format(firm=known["firm_id"], trader=known["trader_id"])
        if path == "/firms" and "primary_broker_id" not in body:
            body = {**body, "primary_broker_id": known["broker_id"]}
        r = client.request(method, url, json=body, headers=headers)
        named = {e["field"] for e in r.json().get("errors", [])}
        # A list item is named with its index: secondary_broker_ids.0
        if r.status_code != 422 or not any(f == field or f.startswith(field + ".") for f in named):
            failures.append(f"{method} {path} {body}: {r.status_code} {r.text[:100]}")
    return failures


def test_text_with_nul_is_422(client, seeded):
    failures = _refusals(client, seeded, NUL_TEXT)
    assert not failures, "\n".join(failures)


def test_ids_beyond_32_bits_are_422(client, seeded):
    failures = _refusals(client, seeded, BIG_IDS)
    assert not failures, "\n".join(failures)
