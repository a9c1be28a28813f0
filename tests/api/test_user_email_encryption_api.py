"""Users' emails encrypted at rest (issue 13): a staff user's and a portal trader's login email,
saved through the API, are in neither the SQLite file nor its WAL (nor a PostgreSQL dump), nor
in the audit trail or the sign-in throttle; yet sign-in by email works in any case, a duplicate
email in another case is 409, the users list finds a user by their exact email and the
"locked" filter still works."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from brm_app.auth import throttle
from brm_app.db import get_engine, unit_of_work, utcnow
from brm_app.models.auth_records import LoginThrottle
from brm_app.models.user import Role
from brm_app.settings import get_settings
from tests.api.conftest import auth, get_token
from tests.factories import make_firm, make_user

API = "/api/v1"
PREFS = f"{API}/users/me"
STAFF = "Stella.Staffer@Hidden-Staff.example"
PORTAL = "pia.portal@hidden-portal.example"
# Parts of each that must not be stored either (the domain alone would be a copy, too).
NEEDLES = ("stella.staffer@hidden-staff", "hidden-staff.example", "pia.portal@hidden-portal",
           "hidden-portal.example")  # fmt: skip


def _stored(database_url: str) -> bytes:
    """Every byte the database holds: the SQLite file and its WAL, or a PostgreSQL dump."""
    get_engine().dispose()  # the WAL as written, nothing held in a connection
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    if shutil.which("pg_dump") is None:
        pytest.skip("needs pg_dump")
    url = sa.engine.make_url(database_url)
    return subprocess.run(
        ["pg_dump", "--format=plain", "-h", url.host, "-p", str(url.port or 5432),
         "-U", url.username, url.database],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


def test_users_emails_are_encrypted_and_still_work_for_sign_in_search_and_locks(
    client, database_url
):
    admin, manager = make_user(Role.ADMIN), make_user(Role.MANAGER)
    ha, hm = auth(get_token(client, admin.email)), auth(get_token(client, manager.email))
    # A staff user (mixed case: stored lower case) and a portal trader's login account.
    r = client.post(
        f"{API}/users",
        headers=ha,
        json={"email": STAFF, "name": "Stella Staffer", "role": "broker",
              "password": "stella's long password"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    staff_id = r.json()["user_id"]
    assert r.json()["email"] == STAFF.lower()
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    firm = make_firm(broker, name="Portal Hidden Firm")
    r = client.post(
        f"{API}/firms/{firm.firm_id}/traders",
        headers=hm,
        json={"name": "Pia Portal", "email": PORTAL, "permissions": ["portal_access"]},
    )
    assert r.status_code == 201, r.text
    portal_id, portal_password = r.json()["portal_user_id"], r.json()["portal_initial_password"]

    # The same email in another case is taken (409), for a staff user and for the portal login.
    for email in (STAFF.upper(), PORTAL.upper()):
        r = client.post(
            f"{API}/users", headers=ha, json={"email": email, "name": "Twin", "role": "broker"}
        )
        assert r.status_code == 409, (email, r.text)
    # Sign-in by email in any case (a password an admin chose: changed first); the token's
    # user reads back their email.
    for email, password in ((STAFF, "stella's long password"), (PORTAL, portal_password)):
        token = get_token(client, email.upper(), password)
        r = client.post(
            f"{API}/users/me/password",
            headers=auth(token),
            json={"current_password": password, "new_password": f"{email} own password"},
        )
        assert r.status_code == 204, r.text
        token = get_token(client, email.title(), f"{email} own password")
        me = client.get(f"{API}/users/me", headers=auth(token))
        assert me.status_code == 200 and me.json()["email"] == email.lower(), me.text

    # The users list: by the whole email (any case), not by a part of it; by name, any part.
    def found(q: str) -> list[int]:
        r = client.get(f"{API}/users", headers=ha, params={"q": q})
        assert r.status_code == 200, r.text
        return [u["user_id"] for u in r.json()["items"]]

    assert found(STAFF.upper()) == [staff_id] and found(f"  {PORTAL} ") == [portal_id]
    assert found("hidden-staff") == [] and found("staffer") == [staff_id]
    # Failed sign-ins are counted under the email's blind index (any case); once locked (the
    # clock moved on: set here), the "locked" filter and the user's lock show it.
    for _ in range(get_settings().login_slow_after):
        r = client.post(f"{API}/auth/token", data={"username": STAFF, "password": "wrong one!"})
        assert r.status_code == 400
    with unit_of_work(write=True) as db:
        row = db.get(LoginThrottle, throttle.account_key(STAFF.lower()))
        assert row is not None and row.failures == get_settings().login_slow_after
        row.locked_until = utcnow() + timedelta(minutes=15)
        db.add(row)
    locked = client.get(f"{API}/users", headers=ha, params={"status": "locked"}).json()["items"]
    assert [u["user_id"] for u in locked] == [staff_id] and locked[0]["locked_until"]
    r = client.post(f"{API}/users/{staff_id}/unlock", headers=ha)
    assert r.status_code == 200 and r.json()["locked_until"] is None
    assert client.get(f"{API}/users", headers=ha, params={"status": "locked"}).json()["total"] == 0
    # The staff user's own mobile (for SMS notifications) is encrypted too.
    stella = auth(get_token(client, STAFF, f"{STAFF} own password"))
    r = client.put(f"{PREFS}/mobile", headers=stella, json={"mobile": "+447911123917"})
    assert r.status_code == 200 and r.json()["mobile"] == "+447911123917", r.text
    # An admin changes the staff user's email: the old one is free again, the new one signs in.
    moved = "stella.moved@hidden-staff.example"
    r = client.patch(f"{API}/users/{staff_id}", headers=ha, json={"email": moved})
    assert r.status_code == 200 and r.json()["email"] == moved
    assert get_token(client, moved.upper(), f"{STAFF} own password")
    for _ in range(2):
        client.post(f"{API}/auth/token", data={"username": STAFF, "password": "wrong again"})

    stored = _stored(database_url).lower()
    assert b"pia portal" in stored and b"stella staffer" in stored  # names stay in clear
    for needle in (*NEEDLES, "stella.moved", "7911123917"):
        assert needle.encode() not in stored, needle
        # bytea is dumped as hex: clear text stored as bytes would show up this way.
        assert needle.encode().hex().encode() not in stored, needle
