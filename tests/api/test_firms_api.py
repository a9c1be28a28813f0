"""/api/v1/firms over HTTP: round trips, coverage, merge, search, filters, sort, pagination,
bad input (422 naming the field, nothing changed) and 404-versus-403."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest

from brm_app.auth import tokens
from brm_app.db import unit_of_work
from brm_app.models.user import Role, User
from brm_app.settings import get_settings
from tests.api.conftest import auth
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"
LEI = "5493001KJTIIGC8Y1R12"


def headers_for(actor) -> dict[str, str]:
    """A bearer token for a factory user, minted directly (no password hashing round trip)."""
    with unit_of_work() as db:
        user = db.get(User, actor.user_id)
        token, _ = tokens.issue(
            user.id,
            cv=tokens.credentials_version(user.credentials_changed_at),
            secret=get_settings().secret_key,
            minutes=15,
        )
    return auth(token)


def lei(base18: str) -> str:
    """A valid LEI: the 18 characters plus their ISO 7064 MOD 97-10 check digits."""
    digits = int("".join(str(int(ch, 36)) for ch in base18 + "00"))
    return f"{base18}{98 - digits % 97:02d}"


def field_names(response) -> set[str]:
    return {e["field"] for e in response.json().get("errors") or []}


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


# ---- round trips ---------------------------------------------------------------------------


def test_firm_create_read_update_patch_archive_restore(client):
    admin, broker = make_user(Role.ADMIN), make_user(Role.BROKER)
    hb, ha = headers_for(broker), headers_for(admin)
    body = {
        "name": "  Acme Capital ",
        "lei": LEI.lower(),
        "address": {
            "street": "1 King St",
            "city": "London",
            "postal_code": "EC2V 8AS",
            "country": "gb",
        },
        "contact_details": {
            "phone": "+44 20 7946 0958",
            "email": "Desk@Acme.example",
            "website": "acme.example",
        },
        "account_status": "Active",
        "tier": "A",
        "notes": "Prefers calls after 10:00",
    }
    r = client.post(f"{API}/firms", json=body, headers=hb)
    assert r.status_code == 201, r.text
    firm = r.json()
    fid = firm["firm_id"]
    assert firm["name"] == "Acme Capital" and firm["lei"] == LEI
    assert firm["address"] == {
        "street": "1 King St",
        "city": "London",
        "postal_code": "EC2V 8AS",
        "country": "GB",
    }
    assert firm["contact_details"] == {
        "phone": "+442079460958",
        "email": "desk@acme.example",
        "website": "https://acme.example",
    }
    assert (firm["account_status"], firm["tier"], firm["trader_count"]) == ("Active", "A", 0)
    assert firm["coverage"] == {
        "primary": {"user_id": broker.user_id, "name": broker.name},
        "secondary": [],
    }
    assert client.get(f"{API}/firms/{fid}", headers=hb).json() == firm

    # PUT replaces the whole profile: omitted optional fields become empty, enums take defaults.
    r = client.put(f"{API}/firms/{fid}", json={"name": "Acme Capital Partners"}, headers=hb)
    assert r.status_code == 200, r.text
    put = r.json()
    assert put["name"] == "Acme Capital Partners" and put["lei"] is None and put["notes"] is None
    assert put["address"] == {"street": None, "city": None, "postal_code": None, "country": None}
    assert (put["account_status"], put["tier"]) == ("Prospect", "C")
    assert put["coverage"] == firm["coverage"]

    # PATCH changes only what was sent, inside nested objects too.
    r = client.patch(
        f"{API}/firms/{fid}",
        json={"address": {"city": "Paris", "country": "fr"}, "tier": "B", "lei": LEI},
        headers=hb,
    )
    assert r.status_code == 200, r.text
    r = client.patch(f"{API}/firms/{fid}", json={"address": {"city": "Lyon"}}, headers=hb)
    patched = r.json()
    assert patched["address"]["city"] == "Lyon" and patched["address"]["country"] == "FR"
    assert (patched["tier"], patched["lei"], patched["name"]) == ("B", LEI, "Acme Capital Partners")
    r = client.patch(f"{API}/firms/{fid}", json={"lei": None, "notes": "  "}, headers=hb)
    assert r.json()["lei"] is None and r.json()["notes"] is None
    assert client.patch(f"{API}/firms/{fid}", json={}, headers=hb).status_code == 200

    # DELETE archives: gone for everyone but admins, who can list and restore it.
    r = client.delete(f"{API}/firms/{fid}", headers=hb)
    assert r.status_code == 204 and r.content == b""
    assert client.get(f"{API}/firms/{fid}", headers=hb).status_code == 404
    assert client.get(f"{API}/firms", headers=hb).json()["items"] == []
    archived = client.get(f"{API}/firms/{fid}", headers=ha).json()
    assert archived["archived_at"] is not None
    assert [f["firm_id"] for f in client.get(f"{API}/firms", headers=ha).json()["items"]] == []
    listed = client.get(f"{API}/firms", params={"archived": True}, headers=ha).json()
    assert [f["firm_id"] for f in listed["items"]] == [fid]
    assert client.get(f"{API}/firms", params={"archived": True}, headers=hb).status_code == 403
    r = client.patch(f"{API}/firms/{fid}", json={"tier": "A"}, headers=ha)
    assert r.status_code == 422 and "firm_id" in field_names(r)
    assert client.post(f"{API}/firms/{fid}/restore", headers=hb).status_code == 403
    r = client.post(f"{API}/firms/{fid}/restore", headers=ha)
    assert r.status_code == 200 and r.json()["archived_at"] is None
    assert client.get(f"{API}/firms/{fid}", headers=hb).status_code == 200
    r = client.post(f"{API}/firms/{fid}/restore", headers=ha)
    assert r.status_code == 422 and "firm_id" in field_names(r)


def test_names_and_leis_are_unique_409(client):
    broker = make_user(Role.BROKER)
    hb = headers_for(broker)
    first = client.post(f"{API}/firms", json={"name": "Acme Capital", "lei": LEI}, headers=hb)
    assert first.status_code == 201
    r = client.post(f"{API}/firms", json={"name": " acme   CAPITAL "}, headers=hb)
    assert r.status_code == 409 and field_names(r) == {"name"}
    r = client.post(f"{API}/firms", json={"name": "Other", "lei": LEI}, headers=hb)
    assert r.status_code == 409 and field_names(r) == {"lei"}
    other = client.post(f"{API}/firms", json={"name": "Other"}, headers=hb).json()
    r = client.patch(f"{API}/firms/{other['firm_id']}", json={"name": "ACME capital"}, headers=hb)
    assert r.status_code == 409 and field_names(r) == {"name"}


def test_coverage_assignment_and_brokers_list(client):
    manager = make_user(Role.MANAGER)
    b1 = make_user(Role.BROKER, name="Ada Broker")
    b2 = make_user(Role.BROKER, name="Bob Broker")
    hm, h1, h2 = headers_for(manager), headers_for(b1), headers_for(b2)

    r = client.post(f"{API}/firms", json={"name": "Nobody Covers"}, headers=hm)
    assert r.status_code == 422 and field_names(r) == {"primary_broker_id"}
    r = client.post(
        f"{API}/firms", json={"name": "Mine", "primary_broker_id": b2.user_id}, headers=h1
    )
    assert r.status_code == 403
    r = client.post(
        f"{API}/firms",
        json={
            "name": "Covered",
            "primary_broker_id": b1.user_id,
            "secondary_broker_ids": [b2.user_id],
        },
        headers=hm,
    )
    assert r.status_code == 201, r.text
    fid = r.json()["firm_id"]
    assert client.get(f"{API}/firms/{fid}", headers=h2).status_code == 200

    brokers = client.get(f"{API}/brokers", headers=hm).json()
    assert brokers == [
        {"user_id": b1.user_id, "name": "Ada Broker"},
        {"user_id": b2.user_id, "name": "Bob Broker"},
    ]
    assert client.get(f"{API}/brokers", headers=h1).status_code == 200

    r = client.put(
        f"{API}/firms/{fid}/coverage",
        json={"primary_broker_id": b2.user_id, "secondary_broker_ids": []},
        headers=hm,
    )
    assert r.status_code == 200, r.text
    assert r.json()["coverage"] == {
        "primary": {"user_id": b2.user_id, "name": "Bob Broker"},
        "secondary": [],
    }
    assert client.get(f"{API}/firms/{fid}", headers=h1).status_code == 404
    # Brokers may not assign coverage, neither through /coverage nor by editing the firm.
    r = client.put(
        f"{API}/firms/{fid}/coverage", json={"primary_broker_id": b2.user_id}, headers=h2
    )
    assert r.status_code == 403
    r = client.patch(f"{API}/firms/{fid}", json={"secondary_broker_ids": [b1.user_id]}, headers=h2)
    assert r.status_code == 403
    # Sending the coverage a firm already has is not an assignment.
    r = client.patch(f"{API}/firms/{fid}", json={"primary_broker_id": b2.user_id}, headers=h2)
    assert r.status_code == 200
    # Only active brokers can cover a firm; the field is named.
    for bad, field in (
        ({"primary_broker_id": manager.user_id}, "primary_broker_id"),
        ({"primary_broker_id": 999_999}, "primary_broker_id"),
        (
            {"primary_broker_id": b1.user_id, "secondary_broker_ids": [999_999]},
            "secondary_broker_ids",
        ),
        ({"secondary_broker_ids": [b1.user_id]}, "primary_broker_id"),
        ({"primary_broker_id": "b1"}, "primary_broker_id"),
        ({"primary_broker_id": b1.user_id, "secondary_broker_ids": "b2"}, "secondary_broker_ids"),
        ({"primary_broker_id": b1.user_id, "extra": 1}, "extra"),
    ):
        r = client.put(f"{API}/firms/{fid}/coverage", json=bad, headers=hm)
        assert r.status_code == 422 and field in field_names(r), (bad, r.text)
    after = client.get(f"{API}/firms/{fid}", headers=hm).json()["coverage"]
    assert after["primary"]["user_id"] == b2.user_id and after["secondary"] == []


def test_merge_moves_traders_and_archives_the_source(client):
    admin, manager, broker = make_user(Role.ADMIN), make_user(Role.MANAGER), make_user(Role.BROKER)
    hm, hb, ha = headers_for(manager), headers_for(broker), headers_for(admin)
    target = make_firm(broker, name="Acme Capital")
    source = make_firm(broker, name="ACME Capital Ltd (duplicate)")
    make_trader(broker, target.firm_id, name="Xavier", email="x@acme.example")
    make_trader(broker, target.firm_id, name="Yolanda", email="y@acme.example")
    make_trader(broker, source.firm_id, name="Xavier X", email="x@acme.example")
    zed = make_trader(broker, source.firm_id, name="Zed", email="z@acme.example")
    url = f"{API}/firms/{target.firm_id}/merge"

    assert client.post(url, json={"source_firm_id": source.firm_id}, headers=hb).status_code == 403
    r = client.post(url, json={"source_firm_id": target.firm_id}, headers=hm)
    assert r.status_code == 422
    assert client.post(url, json={"source_firm_id": 999_999}, headers=hm).status_code == 404
    r = client.post(url, json={"source_firm_id": "one"}, headers=hm)
    assert r.status_code == 422 and field_names(r) == {"source_firm_id"}
    r = client.post(url, json={}, headers=hm)
    assert r.status_code == 422 and field_names(r) == {"source_firm_id"}

    r = client.post(url, json={"source_firm_id": source.firm_id}, headers=hm)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["traders_moved"], out["traders_matched"]) == (1, 1)
    assert out["firm"]["firm_id"] == target.firm_id and out["firm"]["trader_count"] == 3
    assert client.get(f"{API}/firms/{source.firm_id}", headers=hm).status_code == 404
    gone = client.get(f"{API}/firms/{source.firm_id}", headers=ha).json()
    assert gone["archived_at"] is not None and gone["merged_into_id"] == target.firm_id
    listed = client.get(f"{API}/firms/{target.firm_id}/traders", headers=hb).json()
    assert [t["email"] for t in listed["items"]] == [
        "x@acme.example",
        "y@acme.example",
        "z@acme.example",
    ]
    history = client.get(f"{API}/traders/{zed.trader_id}/history", headers=hb).json()
    assert [(h["from_firm_id"], h["to_firm_id"]) for h in history] == [
        (source.firm_id, target.firm_id)
    ]
    # Merging an archived firm again is refused.
    r = client.post(url, json={"source_firm_id": source.firm_id}, headers=ha)
    assert r.status_code == 422


# ---- search, filters, sort ------------------------------------------------------------------


@pytest.fixture
def book(client):
    """Four firms: three covered by broker b1, one by b2; the manager sees them all."""
    manager, b1, b2 = make_user(Role.MANAGER), make_user(Role.BROKER), make_user(Role.BROKER)
    make_firm(b1, name="Acme Capital", address={"city": "London", "country": "GB"},
              account_status="Active", tier="A")  # fmt: skip
    make_firm(b1, name="Acme Holdings", address={"city": "Paris", "country": "FR"},
              account_status="Prospect", tier="B")  # fmt: skip
    make_firm(b1, name="Beta Partners", address={"city": "Berlin", "country": "DE"},
              account_status="Active", tier="C")  # fmt: skip
    make_firm(b2, name="Gamma Trust", lei=lei("5493000GAMMATRUST0"),
              address={"city": "Zurich", "country": "CH"}, account_status="Inactive", tier="A")  # fmt: skip
    return {
        "manager": headers_for(manager),
        "b1": headers_for(b1),
        "b2": headers_for(b2),
        "b2_id": b2.user_id,
    }


# What the manager (who sees every firm) gets for each query: names in order.
SEARCHES = [
    ({"q": "acm"}, ["Acme Capital", "Acme Holdings"]),
    ({"q": "ACME"}, ["Acme Capital", "Acme Holdings"]),
    ({"q": "acm cap"}, ["Acme Capital"]),
    ({"q": "cap acm"}, ["Acme Capital"]),
    ({"q": "hold"}, ["Acme Holdings"]),
    ({"q": "zzz"}, []),
    ({"q": "   "}, ["Acme Capital", "Acme Holdings", "Beta Partners", "Gamma Trust"]),
    ({"q": "%"}, ["Acme Capital", "Acme Holdings", "Beta Partners", "Gamma Trust"]),
    ({"q": lei("5493000GAMMATRUST0").lower()}, ["Gamma Trust"]),
    ({"status": "Active"}, ["Acme Capital", "Beta Partners"]),
    ({"tier": "A"}, ["Acme Capital", "Gamma Trust"]),
    ({"status": "Active", "tier": "A"}, ["Acme Capital"]),
    ({"q": "acm", "tier": "B"}, ["Acme Holdings"]),
    ({"covered": True}, []),
    ({"broker_id": "b2"}, ["Gamma Trust"]),
    ({"sort": "name", "direction": "desc"}, ["Gamma Trust", "Beta Partners", "Acme Holdings", "Acme Capital"]),
    ({"sort": "city"}, ["Beta Partners", "Acme Capital", "Acme Holdings", "Gamma Trust"]),
    ({"sort": "country", "direction": "desc"}, ["Acme Capital", "Acme Holdings", "Beta Partners", "Gamma Trust"]),
    ({"sort": "tier"}, ["Acme Capital", "Gamma Trust", "Acme Holdings", "Beta Partners"]),
    ({"sort": "status"}, ["Acme Capital", "Beta Partners", "Gamma Trust", "Acme Holdings"]),
    ({"sort": "created", "direction": "desc"}, ["Gamma Trust", "Beta Partners", "Acme Holdings", "Acme Capital"]),
]  # fmt: skip


def test_search_filters_and_sort(client, book):
    mismatches = []
    for params, expected in SEARCHES:
        if params.get("broker_id") == "b2":
            params = {**params, "broker_id": book["b2_id"]}
        got = names(client.get(f"{API}/firms", params=params, headers=book["manager"]))
        if got != expected:
            mismatches.append(f"{params}: expected {expected}, got {got}")
    assert not mismatches, "\n".join(mismatches)


def test_covered_by_me_and_broker_scope(client, book):
    mine = ["Acme Capital", "Acme Holdings", "Beta Partners"]
    assert names(client.get(f"{API}/firms", headers=book["b1"])) == mine
    assert names(client.get(f"{API}/firms", params={"covered": True}, headers=book["b1"])) == mine
    # A broker filtering by another broker still sees only their own book.
    params = {"broker_id": book["b2_id"]}
    assert names(client.get(f"{API}/firms", params=params, headers=book["b1"])) == []
    assert names(client.get(f"{API}/firms", params={"q": "gamma"}, headers=book["b1"])) == []
    item = client.get(f"{API}/firms", params={"q": "beta"}, headers=book["b1"]).json()["items"][0]
    assert set(item) >= {"firm_id", "name", "lei", "city", "country", "account_status", "tier"}
    assert item["primary_broker"]["name"] and item["trader_count"] == 0


LIST_QUERY_ERRORS = [
    ({"sort": "bogus"}, "sort"),
    ({"direction": "up"}, "direction"),
    ({"status": "active"}, "status"),
    ({"tier": "Z"}, "tier"),
    ({"covered": "maybe"}, "covered"),
    ({"broker_id": "x"}, "broker_id"),
    ({"broker_id": 0}, "broker_id"),
    ({"broker_id": 2**64}, "broker_id"),
    ({"limit": 201}, "limit"),
    ({"limit": 0}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"offset": -1}, "offset"),
    ({"offset": 2**40}, "offset"),
    ({"q": "x" * 201}, "q"),
    ({"cursor": "not a cursor"}, "cursor"),
    ({"cursor": "W10"}, "cursor"),
]


def test_list_query_errors_name_the_parameter(client, book):
    for params, field in LIST_QUERY_ERRORS:
        r = client.get(f"{API}/firms", params=params, headers=book["manager"])
        assert r.status_code == 422, (params, r.text)
        assert field in field_names(r), (params, r.text)


# ---- pagination -----------------------------------------------------------------------------


def _pages(client, headers, params, *, by: str) -> tuple[list[int], list[dict]]:
    ids, pages, state = [], [], {}
    for _ in range(20):
        r = client.get(f"{API}/firms", params={**params, **state}, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page)
        ids += [item["firm_id"] for item in page["items"]]
        if not page["has_next"]:
            assert page["next_offset"] is None and page["next_cursor"] is None
            return ids, pages
        state = (
            {"offset": page["next_offset"]} if by == "offset" else {"cursor": page["next_cursor"]}
        )
    raise AssertionError("pagination did not end")


SORTS = [("name", "asc"), ("name", "desc"), ("updated", "desc"), ("created", "asc"),
         ("city", "asc"), ("tier", "desc"), ("status", "asc"), ("country", "desc")]  # fmt: skip


def test_offset_and_cursor_pagination_agree(client):
    broker = make_user(Role.BROKER)
    hb = headers_for(broker)
    cities = ["Oslo", "Oslo", None, "Bern", "Oslo", "Athens", None]
    for i, city in enumerate(cities):
        make_firm(broker, name=f"Firm {chr(71 - i)}", address={"city": city},
                  tier="ABC"[i % 3], account_status=["Active", "Prospect"][i % 2])  # fmt: skip
    for sort, direction in SORTS:
        _check_pages_agree(client, hb, sort, direction)


def _check_pages_agree(client, hb, sort: str, direction: str) -> None:
    params = {"sort": sort, "direction": direction}
    full = client.get(f"{API}/firms", params={**params, "limit": 200}, headers=hb).json()
    assert full["total"] == 7 and not full["has_next"] and len(full["items"]) == 7
    expected = [item["firm_id"] for item in full["items"]]
    if sort in SORT_KEYS:  # the one-page answer is itself in order (ties by id)
        ordered = sorted(
            full["items"],
            key=lambda i: (SORT_KEYS[sort](i), i["firm_id"]),
            reverse=direction == "desc",
        )
        assert [i["firm_id"] for i in ordered] == expected, params

    by_offset, pages = _pages(client, hb, {**params, "limit": 3}, by="offset")
    assert by_offset == expected, params
    assert [(p["offset"], p["has_next"], p["next_offset"]) for p in pages] == [
        (0, True, 3),
        (3, True, 6),
        (6, False, None),
    ], params
    assert all(p["total"] == 7 and p["limit"] == 3 for p in pages), params

    by_cursor, pages = _pages(client, hb, {**params, "limit": 3}, by="cursor")
    assert by_cursor == expected, params
    assert [(len(p["items"]), p["has_next"]) for p in pages] == [
        (3, True),
        (3, True),
        (1, False),
    ], params

    exact = client.get(f"{API}/firms", params={**params, "limit": 7}, headers=hb).json()
    assert not exact["has_next"] and exact["next_cursor"] is None, params
    one_short = client.get(f"{API}/firms", params={**params, "limit": 6}, headers=hb).json()
    assert one_short["has_next"] and one_short["next_offset"] == 6, params


SORT_KEYS = {
    "name": lambda i: i["name"].casefold(),
    "city": lambda i: i["city"] or "",
    "country": lambda i: i["country"] or "",
    "tier": lambda i: i["tier"],
    "status": lambda i: i["account_status"],
    "updated": lambda i: datetime.fromisoformat(i["updated_at"]),
}


def _cursor(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_cursor_misuse_is_422_never_500(client):
    broker = make_user(Role.BROKER)
    hb = headers_for(broker)
    for i in range(3):
        make_firm(broker, name=f"Firm {i}")
    first = client.get(f"{API}/firms", params={"limit": 1}, headers=hb).json()
    cursor = first["next_cursor"]
    second = client.get(f"{API}/firms", params={"limit": 1, "cursor": cursor}, headers=hb)
    assert second.status_code == 200 and second.json()["next_offset"] is None
    bad_params = [
        {"cursor": cursor, "offset": 1},
        {"cursor": cursor, "sort": "city"},
        {"cursor": cursor, "direction": "desc"},
        {"cursor": _cursor([1, 2])},
        {"cursor": _cursor({"s": "name", "d": "asc", "v": 5, "id": 1})},
        {"cursor": _cursor({"s": "name", "d": "asc", "v": "firm", "id": "1"})},
        {"cursor": _cursor({"s": "updated", "d": "asc", "v": "yesterday", "id": 1}), "sort": "updated"},
    ]  # fmt: skip
    for params in bad_params:
        r = client.get(f"{API}/firms", params={"limit": 1, **params}, headers=hb)
        assert r.status_code == 422, (params, r.text)
        assert field_names(r) & {"cursor", "offset"}, r.text


# ---- bad input --------------------------------------------------------------------------------

BAD_FIRM_FIELDS = [
    ({"lei": "5493001KJTIIGC8Y1R13"}, "lei"),  # check digits do not match
    ({"lei": "TOO-SHORT"}, "lei"),
    ({"lei": 5493001}, "lei"),
    ({"contact_details": {"phone": "12345"}}, "contact_details.phone"),
    ({"contact_details": {"phone": "+44 20"}}, "contact_details.phone"),
    ({"contact_details": {"email": "not-an-email"}}, "contact_details.email"),
    ({"contact_details": {"website": "javascript:alert(1)"}}, "contact_details.website"),
    ({"contact_details": {"fax": "+442079460958"}}, "contact_details.fax"),
    ({"contact_details": ["+442079460958"]}, "contact_details"),
    ({"address": {"country": "XX"}}, "address.country"),
    ({"address": {"country": "GBR"}}, "address.country"),
    ({"address": {"city": "x" * 101}}, "address.city"),
    ({"address": {"planet": "Mars"}}, "address.planet"),
    ({"address": "1 King St, London"}, "address"),
    ({"name": "x" * 201}, "name"),
    ({"name": "   "}, "name"),
    ({"name": None}, "name"),
    ({"name": 123}, "name"),
    ({"notes": "x" * 10_001}, "notes"),
    ({"tier": "Z"}, "tier"),
    ({"tier": 5}, "tier"),
    ({"account_status": "active"}, "account_status"),
    ({"primary_broker_id": "me"}, "primary_broker_id"),
    ({"primary_broker_id": 0}, "primary_broker_id"),
    ({"primary_broker_id": 2**64}, "primary_broker_id"),
    ({"secondary_broker_ids": [1, -1]}, "secondary_broker_ids.1"),
    ({"firm_id": 7}, "firm_id"),
    ({"unknown": 1}, "unknown"),
]


def test_bad_firm_input_is_422_naming_the_field_and_changes_nothing(client):
    # A manager, so that coverage fields are validated rather than refused outright (a broker
    # naming another primary broker gets 403 first).
    manager, broker = make_user(Role.MANAGER), make_user(Role.BROKER)
    hb = headers_for(manager)
    cover = {"primary_broker_id": broker.user_id}
    existing = client.post(
        f"{API}/firms",
        json={
            "name": "Acme Capital",
            "lei": LEI,
            "address": {"city": "London", "country": "GB"},
            **cover,
        },
        headers=hb,
    ).json()
    url = f"{API}/firms/{existing['firm_id']}"
    for bad, field in BAD_FIRM_FIELDS:
        for method, path, body in (
            ("POST", f"{API}/firms", {"name": "Brand New", **cover, **bad}),
            ("PUT", url, {"name": "Acme Capital", **cover, **bad}),
            ("PATCH", url, bad),
        ):
            r = client.request(method, path, json=body, headers=hb)
            assert r.status_code == 422, (method, bad, r.text)
            assert field in field_names(r), (method, bad, r.text)
            assert field in r.json()["detail"] or len(field_names(r)) > 1, r.text
    assert client.get(url, headers=hb).json() == existing
    listed = client.get(f"{API}/firms", headers=hb).json()
    assert listed["total"] == 1

    for raw in (b"{not json", b"[]", b'"name"', b""):
        r = client.post(
            f"{API}/firms", content=raw, headers={**hb, "Content-Type": "application/json"}
        )
        assert r.status_code == 422, (raw, r.text)
        assert r.json()["errors"], r.text
    r = client.patch(url, json={"account_status": None}, headers=hb)
    assert r.status_code == 422 and field_names(r) == {"account_status"}
    assert client.get(url, headers=hb).json() == existing


def test_unseen_firm_is_404_and_forbidden_action_403(client):
    compliance, owner, other = (
        make_user(Role.COMPLIANCE),
        make_user(Role.BROKER),
        make_user(Role.BROKER),
    )
    firm = make_firm(owner, name="Owned")
    url = f"{API}/firms/{firm.firm_id}"
    hc, ho = headers_for(compliance), headers_for(other)
    assert client.get(url, headers=hc).status_code == 200
    assert client.patch(url, json={"tier": "A"}, headers=hc).status_code == 403
    assert client.delete(url, headers=hc).status_code == 403
    for method in ("GET", "PATCH", "DELETE"):
        body = {"tier": "A"} if method == "PATCH" else None
        seen = client.request(method, url, json=body, headers=ho)
        missing = client.request(method, f"{API}/firms/999999", json=body, headers=ho)
        assert seen.status_code == missing.status_code == 404
        assert seen.json() == missing.json()
    for bad_id in ("abc", "1.5", "-1", "0", str(2**31), str(2**64)):
        r = client.get(f"{API}/firms/{bad_id}", headers=hc)
        assert r.status_code == 422 and field_names(r) == {"firm_id"}, (bad_id, r.text)
    assert client.get(url).status_code == 401


# services.firms._after_cursor trusts parts of a (client-supplied) cursor: a datetime without a
# timezone reaches UTCDateTime and raises, an id beyond 64 bits overflows the integer column,
# `true` passes isinstance(..., int) and breaks the SQL comparison, and a NUL character in the
# value reaches PostgreSQL (which cannot hold it). They answer 500 today; the fix belongs in the
# service (see the report), and then this test passes and its marker should go.
CRAFTED_CURSORS = [
    {"s": "updated", "d": "asc", "v": "2024-01-01", "id": 1},
    {"s": "name", "d": "asc", "v": "firm", "id": 2**70},
    {"s": "name", "d": "asc", "v": "firm", "id": True},
    {"s": "name", "d": "asc", "v": "a\x00", "id": 1},
]


def test_crafted_cursor_is_422(client):
    headers = headers_for(make_user(Role.MANAGER))
    failures = []
    for data in CRAFTED_CURSORS:
        params = {"cursor": _cursor(data), "sort": data["s"], "direction": data["d"]}
        r = client.get(f"{API}/firms", params=params, headers=headers)
        if r.status_code != 422 or field_names(r) != {"cursor"}:
            failures.append(f"{data}: {r.status_code} {r.text[:100]}")
    assert not failures, "\n".join(failures)
