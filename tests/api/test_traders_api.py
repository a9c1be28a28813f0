"""/api/v1/firms/{firm_id}/traders, /api/v1/traders and /api/v1/trader-roles over HTTP: round
trips, portal access, moves and history, search/filters/sort/pages, roles, and bad input."""

from __future__ import annotations

import pytest

from brm_app.auth import tokens
from brm_app.db import unit_of_work
from brm_app.models.user import Role, User
from brm_app.settings import get_settings
from tests.api.conftest import auth, get_token
from tests.factories import make_firm, make_trader, make_user

API = "/api/v1"


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


def field_names(response) -> set[str]:
    return {e["field"] for e in response.json().get("errors") or []}


def emails(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["email"] for item in response.json()["items"]]


def test_trader_create_read_update_patch_archive(client):
    broker = make_user(Role.BROKER)
    hb = headers_for(broker)
    firm = make_firm(broker, name="Acme Capital")
    base = f"{API}/firms/{firm.firm_id}/traders"
    r = client.post(
        base,
        json={
            "name": " Alice Archer ",
            "email": "Alice@Acme.example",
            "phone": "+44 20 7946 0958",
            "role": "portfolio manager",
            "permissions": ["view_portfolio", "receive_email"],
        },
        headers=hb,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    tid = created["trader_id"]
    assert created["portal_initial_password"] is None
    assert {k: created[k] for k in ("firm_id", "firm_name", "name", "email", "phone")} == {
        "firm_id": firm.firm_id,
        "firm_name": "Acme Capital",
        "name": "Alice Archer",
        "email": "alice@acme.example",
        "phone": "+442079460958",
    }
    assert created["role"] == "Portfolio Manager"  # the canonical spelling of the role
    assert created["permissions"] == ["view_portfolio", "receive_email"]
    assert created["status"] == "active" and created["portal_user_id"] is None

    public = {k: v for k, v in created.items() if k != "portal_initial_password"}
    assert client.get(f"{base}/{tid}", headers=hb).json() == public
    assert client.get(f"{API}/traders/{tid}", headers=hb).json() == public
    assert client.get(f"{API}/firms/{firm.firm_id}", headers=hb).json()["trader_count"] == 1

    # PUT replaces: omitted fields take their defaults.
    r = client.put(
        f"{base}/{tid}", json={"name": "Alice A.", "email": "alice@acme.example"}, headers=hb
    )
    assert r.status_code == 200, r.text
    put = r.json()
    assert (put["phone"], put["role"], put["permissions"]) == (None, "Trader", ["receive_email"])
    # PATCH changes only what was sent.
    r = client.patch(
        f"{base}/{tid}", json={"status": "left", "phone": "+1 212 555 0100"}, headers=hb
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert (patched["status"], patched["phone"], patched["name"]) == (
        "left",
        "+12125550100",
        "Alice A.",
    )
    r = client.patch(f"{base}/{tid}", json={"name": None}, headers=hb)
    assert r.status_code == 422 and field_names(r) == {"name"}

    r = client.delete(f"{base}/{tid}", headers=hb)
    assert r.status_code == 204 and r.content == b""
    assert client.get(f"{base}/{tid}", headers=hb).status_code == 404
    assert client.get(f"{API}/traders/{tid}", headers=hb).status_code == 404
    assert client.get(base, headers=hb).json()["items"] == []
    assert client.get(f"{API}/firms/{firm.firm_id}", headers=hb).json()["trader_count"] == 0
    # The email is free again at this firm.
    again = client.post(base, json={"name": "Alice", "email": "alice@acme.example"}, headers=hb)
    assert again.status_code == 201


def test_trader_is_only_found_under_its_own_firm(client):
    broker = make_user(Role.BROKER)
    hb = headers_for(broker)
    home, away = make_firm(broker, name="Home"), make_firm(broker, name="Away")
    trader = make_trader(broker, home.firm_id, email="t@home.example")
    wrong = f"{API}/firms/{away.firm_id}/traders/{trader.trader_id}"
    for method, body in (("GET", None), ("PATCH", {"phone": None}), ("DELETE", None)):
        assert client.request(method, wrong, json=body, headers=hb).status_code == 404
    r = client.post(
        f"{API}/firms/{home.firm_id}/traders",
        json={"name": "Dup", "email": "T@home.example"},
        headers=hb,
    )
    assert r.status_code == 409 and field_names(r) == {"email"}
    r = client.post(
        f"{API}/firms/999999/traders", json={"name": "X", "email": "x@y.example"}, headers=hb
    )
    assert r.status_code == 404


def test_portal_access_is_granted_by_managers_and_shown_once(client):
    manager, broker = make_user(Role.MANAGER), make_user(Role.BROKER)
    hm, hb = headers_for(manager), headers_for(broker)
    firm = make_firm(broker, name="Portal Firm", notes="internal only")
    other = make_firm(broker, name="Other Firm")
    colleague = make_trader(broker, firm.firm_id, email="colleague@portal.example")
    base = f"{API}/firms/{firm.firm_id}/traders"
    body = {"name": "Pat Portal", "email": "pat@portal.example", "permissions": ["portal_access"]}

    assert client.post(base, json=body, headers=hb).status_code == 403
    assert client.get(base, headers=hb).json()["total"] == 1  # nothing was created
    r = client.post(base, json=body, headers=hm)
    assert r.status_code == 201, r.text
    saved = r.json()
    password = saved["portal_initial_password"]
    assert password and saved["portal_user_id"]
    r = client.patch(f"{base}/{saved['trader_id']}", json={"phone": "+1 212 555 0100"}, headers=hm)
    assert r.status_code == 200 and r.json()["portal_initial_password"] is None
    # A broker may edit the trader but not take portal access away.
    r = client.patch(f"{base}/{saved['trader_id']}", json={"permissions": []}, headers=hb)
    assert r.status_code == 403

    # The portal user signs in and sees only their own firm (no notes) and their own record.
    # The manager saw the first password: the trader must choose their own before anything else.
    ht = auth(get_token(client, "pat@portal.example", password))
    assert client.get(f"{API}/firms/{firm.firm_id}", headers=ht).status_code == 403
    r = client.post(
        f"{API}/users/me/password",
        json={"current_password": password, "new_password": "pat's own portal password"},
        headers=ht,
    )
    assert r.status_code == 204, r.text
    ht = auth(get_token(client, "pat@portal.example", "pat's own portal password"))
    own = client.get(f"{API}/firms/{firm.firm_id}", headers=ht).json()
    assert own["name"] == "Portal Firm" and own["notes"] is None
    assert client.get(f"{API}/firms/{other.firm_id}", headers=ht).status_code == 404
    assert [f["name"] for f in client.get(f"{API}/firms", headers=ht).json()["items"]] == [
        "Portal Firm"
    ]
    assert emails(client.get(base, headers=ht)) == ["pat@portal.example"]
    assert emails(client.get(f"{API}/traders", headers=ht)) == ["pat@portal.example"]
    assert client.get(f"{API}/traders/{colleague.trader_id}", headers=ht).status_code == 404
    assert client.get(f"{API}/brokers", headers=ht).status_code == 403
    assert (
        client.patch(f"{API}/firms/{firm.firm_id}", json={"tier": "A"}, headers=ht).status_code
        == 403
    )

    # Removing the trader ends portal access at once.
    assert client.delete(f"{base}/{saved['trader_id']}", headers=hm).status_code == 204
    assert client.get(f"{API}/firms", headers=ht).status_code == 401


def test_moves_and_history(client):
    manager, b1, b2 = make_user(Role.MANAGER), make_user(Role.BROKER), make_user(Role.BROKER)
    hm, h1 = headers_for(manager), headers_for(b1)
    first, second = make_firm(b1, name="First Firm"), make_firm(b1, name="Second Firm")
    elsewhere = make_firm(b2, name="Elsewhere")
    trader = make_trader(b1, first.firm_id, name="Mo Mover", email="mo@move.example")
    tid = trader.trader_id
    move = f"{API}/traders/{tid}/move"

    assert client.get(f"{API}/traders/{tid}/history", headers=h1).json() == []
    r = client.post(move, json={"firm_id": second.firm_id, "reason": " joined desk "}, headers=h1)
    assert r.status_code == 200, r.text
    assert r.json()["firm_id"] == second.firm_id and r.json()["firm_name"] == "Second Firm"
    assert client.get(f"{API}/firms/{first.firm_id}/traders/{tid}", headers=h1).status_code == 404
    # A move to a firm the broker does not cover looks like a move to no firm at all.
    assert client.post(move, json={"firm_id": elsewhere.firm_id}, headers=h1).status_code == 404
    assert client.post(move, json={"firm_id": 999_999}, headers=h1).status_code == 404
    r = client.post(move, json={"firm_id": second.firm_id}, headers=h1)
    assert r.status_code == 422 and field_names(r) == {"firm_id"}
    for bad, field in (
        ({"firm_id": "second"}, "firm_id"),
        ({}, "firm_id"),
        ({"firm_id": second.firm_id, "reason": "x" * 201}, "reason"),
        ({"firm_id": first.firm_id, "why": "x"}, "why"),
    ):
        r = client.post(move, json=bad, headers=h1)
        assert r.status_code == 422 and field in field_names(r), (bad, r.text)

    # PUT with another firm_id moves too (the manager sees every firm).
    r = client.put(
        f"{API}/firms/{second.firm_id}/traders/{tid}",
        json={"name": "Mo Mover", "email": "mo@move.example", "firm_id": elsewhere.firm_id},
        headers=hm,
    )
    assert r.status_code == 200 and r.json()["firm_id"] == elsewhere.firm_id
    history = client.get(f"{API}/traders/{tid}/history", headers=hm).json()
    assert [(h["from_firm_name"], h["to_firm_name"], h["reason"]) for h in history] == [
        ("Second Firm", "Elsewhere", None),
        ("First Firm", "Second Firm", "joined desk"),
    ]
    assert history[0]["moved_by"] == manager.name
    # b1 no longer covers the trader's firm, so the trader (and their history) is gone for them.
    assert client.get(f"{API}/traders/{tid}/history", headers=h1).status_code == 404


@pytest.fixture
def desk(client):
    broker, manager = make_user(Role.BROKER), make_user(Role.MANAGER)
    other = make_user(Role.BROKER)
    acme, beta = make_firm(broker, name="Acme Capital"), make_firm(broker, name="Beta Partners")
    gamma = make_firm(other, name="Gamma Trust")
    make_trader(broker, acme.firm_id, name="Alice Archer", email="alice@acme.example",
                role="Analyst")  # fmt: skip
    make_trader(broker, acme.firm_id, name="Bob Brown", email="bob@acme.example",
                role="Head of Desk", status="left")  # fmt: skip
    make_trader(broker, beta.firm_id, name="Alina Wolf", email="alina@beta.example")
    make_trader(other, gamma.firm_id, name="Zoe Zed", email="zoe@gamma.example")
    return {
        "broker": headers_for(broker),
        "manager": headers_for(manager),
        "acme": acme.firm_id,
        "gamma": gamma.firm_id,
    }


# What the manager (who sees every trader) gets for each query: emails in order.
SEARCHES = [
    ({}, ["alice@acme.example", "alina@beta.example", "bob@acme.example", "zoe@gamma.example"]),
    ({"q": "ali"}, ["alice@acme.example", "alina@beta.example"]),
    ({"q": "ALI arch"}, ["alice@acme.example"]),
    ({"q": "beta"}, []),  # emails are encrypted: not in the word index
    ({"q": "Alina@Beta.example"}, ["alina@beta.example"]),  # a whole email: its blind index
    ({"q": "nobody"}, []),
    ({"status": "left"}, ["bob@acme.example"]),
    ({"role": "Analyst"}, ["alice@acme.example"]),
    ({"firm_id": "acme"}, ["alice@acme.example", "bob@acme.example"]),
    ({"firm_id": "acme", "status": "active"}, ["alice@acme.example"]),
    ({"sort": "name", "direction": "desc"},
     ["zoe@gamma.example", "bob@acme.example", "alina@beta.example", "alice@acme.example"]),
    ({"sort": "role"}, ["alice@acme.example", "bob@acme.example", "alina@beta.example", "zoe@gamma.example"]),
    ({"covered": True}, []),
]  # fmt: skip


def test_trader_search_filters_and_sort(client, desk):
    mismatches = []
    for params, expected in SEARCHES:
        if params.get("firm_id") == "acme":
            params = {**params, "firm_id": desk["acme"]}
        got = emails(client.get(f"{API}/traders", params=params, headers=desk["manager"]))
        if got != expected:
            mismatches.append(f"{params}: expected {expected}, got {got}")
    assert not mismatches, "\n".join(mismatches)


def test_trader_lists_for_a_broker_and_per_firm(client, desk):
    hb = desk["broker"]
    assert emails(client.get(f"{API}/traders", headers=hb)) == [
        "alice@acme.example",
        "alina@beta.example",
        "bob@acme.example",
    ]
    assert emails(client.get(f"{API}/traders", params={"covered": True}, headers=hb)) == [
        "alice@acme.example",
        "alina@beta.example",
        "bob@acme.example",
    ]
    assert (
        client.get(f"{API}/traders", params={"firm_id": desk["gamma"]}, headers=hb).status_code
        == 404
    )
    per_firm = f"{API}/firms/{desk['acme']}/traders"
    assert emails(client.get(per_firm, params={"q": "bo"}, headers=hb)) == ["bob@acme.example"]
    assert emails(
        client.get(per_firm, params={"sort": "name", "direction": "desc"}, headers=hb)
    ) == [
        "bob@acme.example",
        "alice@acme.example",
    ]
    assert client.get(f"{API}/firms/{desk['gamma']}/traders", headers=hb).status_code == 404

    first = client.get(f"{API}/traders", params={"limit": 2}, headers=hb).json()
    assert (first["total"], first["has_next"], first["next_offset"]) == (3, True, 2)
    last = client.get(f"{API}/traders", params={"limit": 2, "offset": 2}, headers=hb).json()
    assert (len(last["items"]), last["has_next"], last["next_offset"]) == (1, False, None)
    assert emails_of(first) + emails_of(last) == emails(client.get(f"{API}/traders", headers=hb))

    for params, field in (
        ({"limit": 201}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"sort": "salary"}, "sort"),
        ({"direction": "sideways"}, "direction"),
        ({"status": "retired"}, "status"),
        ({"firm_id": "x"}, "firm_id"),
        ({"firm_id": 0}, "firm_id"),
        ({"firm_id": 2**64}, "firm_id"),
        ({"role": "x" * 61}, "role"),
        ({"q": "x" * 201}, "q"),
    ):
        for url in (f"{API}/traders", per_firm):
            if url == per_firm and field == "firm_id":
                continue
            r = client.get(url, params=params, headers=hb)
            assert r.status_code == 422 and field in field_names(r), (url, params, r.text)


def emails_of(page: dict) -> list[str]:
    return [item["email"] for item in page["items"]]


BAD_TRADER_FIELDS = [
    ({"email": "not-an-email"}, "email"),
    ({"email": ""}, "email"),
    ({"email": None}, "email"),
    ({"email": "a@" + "b" * 250 + ".com"}, "email"),
    ({"phone": "12345"}, "phone"),
    ({"phone": "+1 555"}, "phone"),
    ({"phone": 442079460958}, "phone"),
    ({"name": "x" * 201}, "name"),
    ({"name": ""}, "name"),
    ({"name": ["Alice"]}, "name"),
    ({"role": "Astronaut"}, "role"),
    ({"role": "x" * 61}, "role"),
    ({"permissions": ["fly"]}, "permissions.0"),
    ({"permissions": "portal_access"}, "permissions"),
    ({"status": "retired"}, "status"),
    ({"firm_id": "acme"}, "firm_id"),
    ({"firm_id": 0}, "firm_id"),
    ({"trader_id": 5}, "trader_id"),
    ({"salary": 1}, "salary"),
]


def test_bad_trader_input_is_422_naming_the_field_and_changes_nothing(client):
    manager, broker = make_user(Role.MANAGER), make_user(Role.BROKER)
    hm = headers_for(manager)
    firm = make_firm(broker, name="Acme Capital")
    base = f"{API}/firms/{firm.firm_id}/traders"
    existing = client.post(
        base, json={"name": "Alice Archer", "email": "alice@acme.example"}, headers=hm
    ).json()
    existing.pop("portal_initial_password")
    url = f"{base}/{existing['trader_id']}"
    valid = {"name": "Alice Archer", "email": "alice@acme.example"}
    for bad, field in BAD_TRADER_FIELDS:
        for method, path, body in (
            ("POST", base, {"name": "New Person", "email": "new@acme.example", **bad}),
            ("PUT", url, {**valid, **bad}),
            ("PATCH", url, bad),
        ):
            r = client.request(method, path, json=body, headers=hm)
            assert r.status_code == 422, (method, bad, r.text)
            assert field in field_names(r), (method, bad, r.text)
    assert client.get(url, headers=hm).json() == existing
    assert client.get(base, headers=hm).json()["total"] == 1
    for raw in (b"{", b"[]", b"null"):
        r = client.post(base, content=raw, headers={**hm, "Content-Type": "application/json"})
        assert r.status_code == 422, (raw, r.text)
    for bad_id in ("abc", "0", "-5", str(2**64)):
        r = client.get(f"{API}/traders/{bad_id}", headers=hm)
        assert r.status_code == 422 and field_names(r) == {"trader_id"}, (bad_id, r.text)
    assert client.get(f"{API}/traders/999999", headers=hm).status_code == 404


def test_trader_roles(client):
    admin, manager, broker = make_user(Role.ADMIN), make_user(Role.MANAGER), make_user(Role.BROKER)
    ha, hm, hb = headers_for(admin), headers_for(manager), headers_for(broker)
    builtin = ["Analyst", "Head of Desk", "Operations", "Portfolio Manager", "Trader"]
    roles = client.get(f"{API}/trader-roles", headers=hb).json()
    assert sorted(roles) == builtin

    assert client.post(f"{API}/trader-roles", json={"name": "Quant"}, headers=hm).status_code == 403
    r = client.post(f"{API}/trader-roles", json={"name": "  Quant  "}, headers=ha)
    assert r.status_code == 201 and "Quant" in r.json()
    r = client.post(f"{API}/trader-roles", json={"name": "QUANT"}, headers=ha)
    assert r.status_code == 409 and field_names(r) == {"name"}
    for bad, field in (({"name": ""}, "name"), ({"name": "x" * 61}, "name"), ({"name": 3}, "name"),
                       ({}, "name"), ({"name": "Ok", "built_in": True}, "built_in")):  # fmt: skip
        r = client.post(f"{API}/trader-roles", json=bad, headers=ha)
        assert r.status_code == 422 and field in field_names(r), (bad, r.text)

    # A trader can hold the new role; while one does, it cannot be removed.
    firm = make_firm(broker, name="Quant Shop")
    r = client.post(
        f"{API}/firms/{firm.firm_id}/traders",
        json={"name": "Quinn", "email": "quinn@quant.example", "role": "quant"},
        headers=hb,
    )
    assert r.status_code == 201 and r.json()["role"] == "Quant"
    quinn = f"{API}/firms/{firm.firm_id}/traders/{r.json()['trader_id']}"
    assert client.delete(f"{API}/trader-roles/Quant", headers=hb).status_code == 403
    r = client.delete(f"{API}/trader-roles/Quant", headers=ha)
    assert r.status_code == 422 and field_names(r) == {"name"}
    assert client.patch(quinn, json={"role": "Analyst"}, headers=hb).status_code == 200
    assert client.delete(f"{API}/trader-roles/quant", headers=ha).status_code == 204
    assert "Quant" not in client.get(f"{API}/trader-roles", headers=hb).json()
    assert client.delete(f"{API}/trader-roles/Quant", headers=ha).status_code == 404
    r = client.delete(f"{API}/trader-roles/Analyst", headers=ha)
    assert r.status_code == 422 and field_names(r) == {"name"}
    r = client.delete(f"{API}/trader-roles/{'x' * 61}", headers=ha)
    assert r.status_code == 422 and field_names(r) == {"name"}


def test_route_parameters_refuse_what_the_database_cannot_hold(client):
    """NUL characters and ids beyond 32 bits are 422 naming the parameter (PostgreSQL would fail)."""
    admin, broker = make_user(Role.ADMIN), make_user(Role.BROKER)
    ha = headers_for(admin)
    firm = make_firm(broker, name="Acme Capital")
    trader = make_trader(broker, firm.firm_id)
    too_big = 2**31
    for method, url, body, field in (
        ("GET", f"{API}/traders?role=Analyst%00", None, "role"),
        ("GET", f"{API}/traders?q=al%00", None, "q"),
        ("GET", f"{API}/firms?cursor=abc%00", None, "cursor"),
        ("GET", f"{API}/traders?firm_id={too_big}", None, "firm_id"),
        ("GET", f"{API}/firms?broker_id={too_big}", None, "broker_id"),
        ("GET", f"{API}/traders/{too_big}", None, "trader_id"),
        ("GET", f"{API}/firms/{too_big}/traders", None, "firm_id"),
        ("GET", f"{API}/firms/{firm.firm_id}/traders/{too_big}", None, "trader_id"),
        ("DELETE", f"{API}/trader-roles/Quant%00", None, "name"),
        ("POST", f"{API}/trader-roles", {"name": "Qu\x00ant"}, "name"),
        ("POST", f"{API}/traders/{trader.trader_id}/move", {"firm_id": too_big}, "firm_id"),
        ("POST", f"{API}/traders/{trader.trader_id}/move", {"firm_id": 1, "reason": "\x00"}, "reason"),
        ("POST", f"{API}/firms/{firm.firm_id}/merge", {"source_firm_id": too_big}, "source_firm_id"),
        ("PUT", f"{API}/firms/{firm.firm_id}/coverage", {"primary_broker_id": too_big}, "primary_broker_id"),
    ):  # fmt: skip
        r = client.request(method, url, json=body, headers=ha)
        assert r.status_code == 422 and field in field_names(r), (method, url, r.text)
    assert client.get(f"{API}/traders/{too_big - 1}", headers=ha).status_code == 404


def test_contact_details_saved_through_the_api_are_not_in_the_raw_database(client, database_url):
    """Encryption at rest: the SQLite file and its WAL hold none of what was saved."""
    from pathlib import Path

    if not database_url.startswith("sqlite"):
        pytest.skip("reads the SQLite file")
    broker = make_user(Role.BROKER)
    firm = make_firm(broker)
    secrets = {"email": "api.hidden@secret.example", "phone": "+442079460999"}
    r = client.post(
        f"{API}/firms/{firm.firm_id}/traders",
        json={"name": "Api Hidden", **secrets, "mobile": "+447911123456"},
        headers=headers_for(broker),
    )
    assert r.status_code == 201, r.text
    got = client.get(f"{API}/traders/{r.json()['trader_id']}", headers=headers_for(broker))
    assert got.json()["email"] == secrets["email"] and got.json()["mobile"] == "+447911123456"
    path = Path(database_url.removeprefix("sqlite:///"))
    raw = path.read_bytes() + path.with_name(path.name + "-wal").read_bytes()
    assert b"Api Hidden" in raw
    for value in (*secrets.values(), "+447911123456"):
        assert value.encode() not in raw, value
