"""Dates in requests: the OpenAPI document states their bounds (years 1900 to 2999, as a
`pattern` beside the `format`), and the server reads only ISO 8601 text, never a number as a
Unix timestamp (`?date_to=0` and `?before=0.5` were read as 1970)."""

from __future__ import annotations

import re

import pytest

from brm_app.models.user import Role
from tests.api.fuzz_support import bearer
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"


def _request_schemas(doc: dict):
    """(where, schema) for every parameter and request body schema, $refs resolved, nested."""
    components = doc["components"]["schemas"]

    def walk(where: str, schema, seen=()):
        if isinstance(schema, dict):
            ref = schema.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    yield from walk(f"{where}>{name}", components[name], (*seen, name))
                return
            yield where, schema
            for key, value in schema.items():
                if key == "properties":
                    for prop, sub in value.items():
                        yield from walk(f"{where}.{prop}", sub, seen)
                elif isinstance(value, dict | list):
                    yield from walk(where, value, seen)
        elif isinstance(schema, list):
            for item in schema:
                yield from walk(where, item, seen)

    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                yield from walk(f"{method.upper()} {path} ?{p['name']}", p["schema"])
            for media in op.get("requestBody", {}).get("content", {}).values():
                yield from walk(f"{method.upper()} {path} body", media["schema"])


def test_every_request_date_states_its_years(client):
    doc = client.get("/api/openapi.json").json()
    samples = {
        "date": ("1900-01-01", "2999-12-31", "1899-12-31", "3000-01-01"),
        "date-time": (
            "1900-01-01T00:00:00Z",
            "2999-12-31T23:59:59+01:00",
            "1899-12-31T23:59:59Z",
            "3000-01-01T00:00:00Z",
        ),
    }
    wrong, seen = [], 0
    for where, schema in _request_schemas(doc):
        fmt = schema.get("format")
        if "ISO 8601 date and time" in schema.get("description", ""):
            fmt = "date-time"  # a body's moment: an offset is optional, so no `format`
        if fmt not in samples:
            continue
        seen += 1
        pattern = schema.get("pattern")
        first, last, before, after = samples[fmt]
        if not pattern or not all(re.search(pattern, v) for v in (first, last)):
            wrong.append(f"{where}: {fmt} without a pattern taking {first}..{last}: {pattern}")
        elif any(re.search(pattern, v) for v in (before, after)):
            wrong.append(f"{where}: pattern {pattern} takes {before} or {after}")
    assert seen >= 10
    assert not wrong, "\n".join(wrong)


@pytest.fixture
def world(client):
    admin, broker = make_user(Role.ADMIN), make_user(Role.BROKER)
    firm = make_firm(broker, name="Acme Capital")
    trader = make_trader(broker, firm.firm_id, name="Alice Archer", email="alice@acme.example")
    return {"headers": bearer(admin.user_id), "firm": firm.firm_id, "trader": trader.trader_id}


NUMBERS_IN_QUERIES = [
    "/follow-ups?date_to=0",
    "/follow-ups?date_from=1700000000",
    "/interactions?date_from=0",
    "/firms/{firm}/interactions?date_to=20000",
    "/calendar?start=0&end=1",
    "/firms/{firm}/timeline?before=0.5",
    "/traders/{trader}/timeline?before=1700000000",
]
OUTSIDE_THE_YEARS = [
    "/follow-ups?date_to=1899-12-31",
    "/interactions?date_from=3000-01-01",
    "/calendar?start=0316-01-18&end=0316-01-19",
    "/firms/{firm}/timeline?before=1275-11-18T19:04:35Z",
    # Not RFC 3339 as the schema states it (a date where a date-time is due, no offset, no
    # seconds).
    "/firms/{firm}/timeline?before=2026-01-01",
    "/firms/{firm}/timeline?before=2026-01-01T10:00:00",
    "/firms/{firm}/timeline?before=1900-01-01T00:00Z",
    "/interactions?date_from=2026-01-01T00:00:00",
]


@pytest.mark.parametrize("url", NUMBERS_IN_QUERIES + OUTSIDE_THE_YEARS)
def test_query_dates_take_iso_text_within_the_years_only(client, world, url):
    r = client.get(API + url.format(**world), headers=world["headers"])
    assert r.status_code == 422, r.text
    name = re.search(r"\?(\w+)=", url).group(1)
    assert name in {e["field"] for e in r.json()["errors"]}, r.text


@pytest.mark.parametrize(
    "url",
    [
        "/follow-ups?date_from=1900-01-01&date_to=2999-12-31",
        "/interactions?date_from=1900-01-01&date_to=2999-12-31",
        "/calendar?start=2026-01-01&end=2026-01-31",
        "/firms/{firm}/timeline?before=2999-12-31T23:59:59%2B14:00",
        "/traders/{trader}/timeline?before=1900-01-01T00:00:00Z",
    ],
)
def test_query_dates_within_the_years_are_taken(client, world, url):
    r = client.get(API + url.format(**world), headers=world["headers"])
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/interactions", {"interaction_date": 0}, "interaction_date"),
        ("/interactions", {"interaction_date": 1700000000.5}, "interaction_date"),
        ("/interactions", {"interaction_end": 1700000000}, "interaction_end"),
        ("/follow-ups", {"due_at": 1700000000}, "due_at"),
        ("/follow-ups", {"reminders": [0]}, "reminders.0"),
    ],
)
def test_body_moments_are_text_not_timestamps(client, world, path, body, field):
    base = {
        "/interactions": {"trader_ids": [world["trader"]], "interaction_type": "Call",
                          "interaction_date": "2026-01-05T09:30:00+00:00", "subject": "Call"},
        "/follow-ups": {"title": "Call back", "firm_id": world["firm"],
                        "due_at": "2026-01-05T09:30:00"},
    }[path]  # fmt: skip
    r = client.post(API + path, json={**base, **body}, headers=world["headers"])
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}, r.text
