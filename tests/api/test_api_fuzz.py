"""Schemathesis over the firm, trader, trader-role and broker endpoints: whatever a client sends
(valid or not, to ids that exist or not), the API never answers with a server error.

Bounded for CI: a fixed number of examples per operation and mode, no shrinking, derandomized so
a run is repeatable. Set BRM_FUZZ_EXAMPLES (e.g. 200) and BRM_FUZZ_RANDOM=1 to search harder.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from brm_app.api.app import create_api
from brm_app.api.routes.params import MAX_ID
from brm_app.auth import tokens
from brm_app.db import unit_of_work
from brm_app.models.user import Role, User
from brm_app.settings import get_settings
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"
PATHS = r"^/api/v1/(firms|traders|trader-roles|brokers)"
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
    headers = _bearer(admin_id)
    app = create_api()
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).include(path_regex=PATHS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 23, [op.label for op in operations]
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
    return _bearer(admin_id), known


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
