"""Encryption at rest: the key ring, values bound to their row, the start-up key check, the
raw database bytes, blind-index lookups."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from brm_app import settings as settings_module
from brm_app.db import get_engine, unit_of_work
from brm_app.encryption import get_keyring
from brm_app.encryption.check import check_keys
from brm_app.encryption.columns import PlaintextRefused, open_value
from brm_app.encryption.keyring import (
    KeyError_,
    KeyRing,
    UndecryptableValue,
    blind_index_key,
    key_id_of,
    parse_ring,
)
from brm_app.models.trader import Trader, TraderPermission, TraderWrite
from brm_app.models.user import Role
from brm_app.services import traders
from brm_app.settings import SettingsError
from tests.factories import make_firm, make_trader, make_user


def _key(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


def _ring(spec: str) -> KeyRing:
    return KeyRing(parse_ring(spec, source="test"), blind_index_key("s" * 40))


# ---- the mechanism ---------------------------------------------------------------------------


def test_newest_key_encrypts_and_every_key_decrypts():
    old = _ring(f"a:{_key(1)}")
    both = _ring(f"a:{_key(1)},b:{_key(2)}")
    sealed_old = old.seal("traders", "email", "r1", "ann@x.example")
    sealed_new = both.seal("traders", "email", "r1", "ann@x.example")
    assert key_id_of(sealed_old) == "a" and key_id_of(sealed_new) == "b"
    assert both.open("traders", "email", "r1", sealed_old) == "ann@x.example"
    assert both.open("traders", "email", "r1", sealed_new) == "ann@x.example"
    # Each value its own nonce: the same plaintext twice gives two ciphertexts.
    assert both.seal("traders", "email", "r1", "x") != both.seal("traders", "email", "r1", "x")
    with pytest.raises(UndecryptableValue, match="not in the key ring"):
        old.open("traders", "email", "r1", sealed_new)


def test_a_value_opens_only_in_its_table_column_and_row():
    ring = _ring(f"a:{_key(1)}")
    sealed = ring.seal("traders", "email", "row-1", "ann@x.example")
    for table, column, row in (
        ("traders", "email", "row-2"),
        ("traders", "phone", "row-1"),
        ("firms", "email", "row-1"),
    ):
        with pytest.raises(UndecryptableValue):
            ring.open(table, column, row, sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UndecryptableValue):
        ring.open("traders", "email", "row-1", tampered)
    wrong = _ring(f"a:{_key(9)}")
    with pytest.raises(UndecryptableValue):
        wrong.open("traders", "email", "row-1", sealed)


@pytest.mark.parametrize(
    "spec",
    ["", "nokey", f"a:{base64.b64encode(b'short').decode()}", "a:!!!", f"a:{_key(1)},a:{_key(2)}"],
)
def test_malformed_rings_are_refused(spec):
    with pytest.raises(KeyError_):
        parse_ring(spec, source="BRM_ENCRYPTION_KEYS")


def test_keys_file_is_generated_owner_only_on_sqlite(sqlite_url, tmp_path):
    ring = get_keyring()
    path = tmp_path / "data" / "encryption_keys"
    assert ring.source_file == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert parse_ring(path.read_text(), source="f") == ring.keys


def test_postgresql_refuses_to_start_without_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("BRM_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
    monkeypatch.setenv("BRM_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("BRM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BRM_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(SettingsError, match="BRM_ENCRYPTION_KEYS must be set"):
        settings_module.load_settings()
    monkeypatch.setenv("BRM_ENCRYPTION_KEYS", "k1:notbase64")
    with pytest.raises(SettingsError, match="not valid base64"):
        settings_module.load_settings()


def test_a_wrong_or_missing_key_stops_the_start(sqlite_url, monkeypatch):
    with unit_of_work(write=True) as db:
        check_keys(db.connection())  # the first start records k1's check value
    good = get_keyring()
    with unit_of_work(write=True) as db:
        check_keys(db.connection())  # and the same ring passes again
        wrong = KeyRing((("k1", b"\x07" * 32),), good.index_key)
        with pytest.raises(KeyError_, match="not the key this database was encrypted with"):
            check_keys(db.connection(), wrong)
        other = KeyRing((("k9", b"\x07" * 32),), good.index_key)
        with pytest.raises(KeyError_, match="'k1', which is not in"):
            check_keys(db.connection(), other)


# ---- through the services --------------------------------------------------------------------

SECRETS = ("ann.secret@hidden.example", "+442079460123", "+447911123456")
# A staff user's sign-in email (users.email, encrypted like the trader's; the trader's is also
# their portal login's).
STAFF_EMAIL = "stan.staff@hidden-staff.example"


def _raw_bytes(url: str) -> bytes:
    path = Path(url.removeprefix("sqlite:///"))
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def test_trader_contact_details_are_not_in_the_database_file(sqlite_url):
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id, email=STAFF_EMAIL)
    firm = make_firm(broker, name="Hidden Capital")
    saved = make_trader(
        manager,
        firm.firm_id,
        name="Ann Hidden",
        email=SECRETS[0],
        phone=SECRETS[1],
        mobile=SECRETS[2],
        permissions=[TraderPermission.PORTAL_ACCESS],
    )
    assert (saved.email, saved.phone, saved.mobile) == SECRETS
    assert saved.portal_user_id  # a login account with the trader's email
    raw = _raw_bytes(sqlite_url)
    assert b"Ann Hidden" in raw  # names stay in clear (search)
    for secret in (*SECRETS, STAFF_EMAIL):
        assert secret.encode() not in raw, secret
    with unit_of_work() as db:
        loaded = traders.get_trader(db, actor=broker, trader_id=saved.trader_id)
    assert (loaded.email, loaded.phone, loaded.mobile) == SECRETS


def test_a_ciphertext_copied_to_another_row_does_not_decrypt(database_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker)
    a = make_trader(broker, firm.firm_id, email="a@copy.example")
    b = make_trader(broker, firm.firm_id, email="b@copy.example")
    t = Trader.__table__
    with get_engine().begin() as conn:
        sealed_a = conn.execute(sa.select(t.c.email).where(t.c.id == a.trader_id)).scalar_one()
        conn.execute(sa.update(t).where(t.c.id == b.trader_id).values(email=sealed_a))
        row_b = conn.execute(sa.select(t.c.row_key).where(t.c.id == b.trader_id)).scalar_one()
    with pytest.raises(UndecryptableValue):
        open_value("traders", "email", row_b, sealed_a)
    with unit_of_work() as db, pytest.raises(UndecryptableValue):
        traders.get_trader(db, actor=broker, trader_id=b.trader_id)


def test_clear_text_cannot_be_written_to_an_encrypted_column(database_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker)
    a = make_trader(broker, firm.firm_id)
    t = Trader.__table__
    with get_engine().begin() as conn, pytest.raises(sa.exc.StatementError) as err:
        conn.execute(sa.update(t).where(t.c.id == a.trader_id).values(phone="+15550001"))
    assert isinstance(err.value.orig, PlaintextRefused)


def test_email_is_unique_in_a_firm_through_its_blind_index(database_url):
    from brm_app.services.errors import Conflict

    broker = make_user(Role.BROKER)
    firm, other = make_firm(broker), make_firm(broker)
    make_trader(broker, firm.firm_id, email="same@x.example")
    make_trader(broker, other.firm_id, email="same@x.example")  # another firm: fine
    with unit_of_work(write=True) as db, pytest.raises(Conflict):
        traders.create_trader(
            db,
            actor=broker,
            firm_id=firm.firm_id,
            data=TraderWrite(name="Twin", email="Same@X.example"),
        )


def test_audit_keeps_a_digest_in_the_chain_and_the_value_encrypted(database_url):
    import json

    from brm_app.models.audit import AuditEvent
    from brm_app.services import audit

    broker = make_user(Role.BROKER)
    firm = make_firm(broker)
    trader = make_trader(broker, firm.firm_id, email="audited@x.example")
    with unit_of_work() as db:
        event = db.exec(
            sa.select(AuditEvent).where(
                AuditEvent.action == "trader.created", AuditEvent.entity_id == str(trader.trader_id)
            )
        ).scalar_one()
        assert "audited@x.example" not in event.changes
        after = json.loads(event.changes)["after"]
        assert after["email"] == {"digest": get_keyring().digest("audit", "audited@x.example")}
        assert audit.sealed_values(db, event.seq)["/after/email"] == "audited@x.example"
        assert audit.verify_chain(db).ok


def test_firm_address_contact_details_and_notes_are_not_in_the_database_file(sqlite_url):
    from brm_app.models.firm import Address, ContactDetails
    from brm_app.services import firms

    broker = make_user(Role.BROKER)
    hidden = {
        "street": "17 Secret Lane",
        "postal_code": "ZZ9 9ZZ",
        "phone": "+442079460777",
        "email": "desk@secret-firm.example",
        "website": "https://secret-firm.example",
        "notes": "Confidential: merger talks",
    }
    firm = make_firm(
        broker,
        name="Open Name Capital",
        address=Address(street=hidden["street"], city="London", postal_code=hidden["postal_code"]),
        contact_details=ContactDetails(
            phone=hidden["phone"], email=hidden["email"], website=hidden["website"]
        ),
        notes=hidden["notes"],
    )
    with unit_of_work() as db:
        got = firms.get_firm(db, actor=broker, firm_id=firm.firm_id)
    assert got.notes == hidden["notes"] and got.address.street == hidden["street"]
    assert got.contact_details.email == hidden["email"]
    raw = _raw_bytes(sqlite_url)
    assert b"Open Name Capital" in raw and b"London" in raw  # in clear on purpose
    for value in hidden.values():
        assert value.encode() not in raw, value


def test_a_postgresql_dump_holds_none_of_the_encrypted_values(database_url):
    import shutil
    import subprocess

    if database_url.startswith("sqlite") or shutil.which("pg_dump") is None:
        pytest.skip("needs PostgreSQL and pg_dump")
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id, email=STAFF_EMAIL)
    firm = make_firm(broker, name="Dumped Capital", notes="Dump-secret note")
    dee = make_trader(
        manager,
        firm.firm_id,
        name="Dee Dump",
        email=SECRETS[0],
        phone=SECRETS[1],
        mobile=SECRETS[2],
        permissions=[TraderPermission.PORTAL_ACCESS],
    )
    assert dee.portal_user_id  # a login account with the trader's email
    _notes_book()  # notes, versions, follow-up, notification, review items, transaction
    url = sa.engine.make_url(database_url)
    dump = subprocess.run(
        ["pg_dump", "--format=plain", "-h", url.host, "-p", str(url.port or 5432),
         "-U", url.username, url.database],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert b"Dee Dump" in dump
    for secret in (*SECRETS, STAFF_EMAIL, "Dump-secret note", *NOTE_SECRETS.values()):
        assert secret.encode() not in dump, secret
        # bytea is dumped as hex: clear text stored as bytes would show up this way.
        assert secret.encode().hex().encode() not in dump.lower(), secret


# ---- notes and every copy of them (issue 13, part 2) -----------------------------------------

NOTE_SECRETS = {
    "interaction": "Client guarantees the Zephyr block trade before Friday",
    "edited": "Edited: client guarantees the Quasar merger financing",
    "follow_up": "Call back about the Nimbus rights issue allocation",
    "notification": "Snippet: the Orion tender closes at 4pm sharp",
    "transaction": "Client wired this ahead of the Vega estate settlement",
    "reversal": "Reversed: the Altair family trust asked to unwind it",
}


def _bearer(actor) -> dict[str, str]:
    from brm_app.auth import tokens
    from brm_app.models.user import User
    from brm_app.settings import get_settings

    with unit_of_work() as db:
        user = db.get(User, actor.user_id)
        token, _ = tokens.issue(
            user.id,
            cv=tokens.credentials_version(user.credentials_changed_at),
            secret=get_settings().secret_key,
            minutes=15,
        )
    return {"Authorization": f"Bearer {token}"}


def _notes_book():
    """A broker's interaction (edited once: two versions) and follow-up saved through the API, a
    notification, and the review items selected from the interaction's versions."""
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from brm_app.api.app import create_api
    from brm_app.db import utcnow
    from brm_app.services import notifications, review

    broker = make_user(Role.BROKER)
    compliance = make_user(Role.COMPLIANCE)
    firm = make_firm(broker, name="Notes Capital")
    trader = make_trader(broker, firm.firm_id, name="Nora Notes")
    h = _bearer(broker)
    when = (utcnow() - timedelta(hours=2)).isoformat()
    with TestClient(create_api(), raise_server_exceptions=False) as api:
        body = {
            "trader_ids": [trader.trader_id],
            "interaction_type": "Call",
            "interaction_date": when,
            "subject": "Call about blocks",
            "notes": NOTE_SECRETS["interaction"],
        }
        r = api.post("/api/v1/interactions", json=body, headers=h)
        assert r.status_code == 201, r.text
        iid = r.json()["interaction_id"]
        r = api.put(
            f"/api/v1/interactions/{iid}",
            json={**body, "notes": NOTE_SECRETS["edited"]},
            headers=h,
        )
        assert r.status_code == 200 and r.json()["version"] == 2, r.text
        r = api.post(
            "/api/v1/follow-ups",
            json={
                "title": "Call back",
                "notes": NOTE_SECRETS["follow_up"],
                "due_at": (utcnow() + timedelta(days=3)).isoformat(),
                "firm_id": firm.firm_id,
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
        fid = r.json()["follow_up_id"]
        r = api.post(
            f"/api/v1/firms/{firm.firm_id}/portfolio/transactions",
            json={
                "kind": "deposit",
                "amount": "5000",
                "currency": "USD",
                "trade_date": "2026-03-01",
                "note": NOTE_SECRETS["transaction"],
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
        r = api.post(
            f"/api/v1/firms/{firm.firm_id}/portfolio/transactions/{r.json()['transaction_id']}"
            "/reverse",
            json={"reason": NOTE_SECRETS["reversal"]},
            headers=h,
        )
        assert r.status_code in (200, 201), r.text
    with unit_of_work(write=True) as db:
        notifications.notify(
            db, user_id=broker.user_id, kind="message", title="New message",
            body=NOTE_SECRETS["notification"],
        )  # fmt: skip
        made = review.select_new(db, chance=lambda: 1.0)
    assert made == 2  # both versions hold a lexicon term
    return broker, compliance, iid, fid


def test_notes_versions_notifications_and_excerpts_are_not_in_the_database_file(sqlite_url):
    from fastapi.testclient import TestClient

    from brm_app.api.app import create_api

    broker, compliance, iid, fid = _notes_book()
    raw = _raw_bytes(sqlite_url)
    assert b"Call about blocks" in raw and b"New message" in raw  # subject, title: in clear
    for secret in NOTE_SECRETS.values():
        assert secret.encode() not in raw, secret
    # No part of a note either (an excerpt, a snippet, the version's JSON).
    for word in (b"Zephyr", b"Quasar", b"Nimbus", b"Orion", b"Vega", b"Altair"):
        assert word not in raw, word
    # Every read path still shows the plaintext.
    h, hc = _bearer(broker), _bearer(compliance)
    with TestClient(create_api(), raise_server_exceptions=False) as api:
        got = api.get(f"/api/v1/interactions/{iid}", headers=h).json()
        assert got["notes"] == NOTE_SECRETS["edited"]
        listed = api.get("/api/v1/interactions", headers=h).json()["items"]
        assert [i["notes"] for i in listed] == [NOTE_SECRETS["edited"]]
        versions = api.get(f"/api/v1/interactions/{iid}/versions", headers=h).json()
        assert [json.loads(v["data"])["notes"] for v in versions] == [
            NOTE_SECRETS["interaction"],
            NOTE_SECRETS["edited"],
        ]
        fu = api.get(f"/api/v1/follow-ups/{fid}", headers=h).json()
        assert fu["notes"] == NOTE_SECRETS["follow_up"]
        bell = api.get("/api/v1/notifications", headers=h).json()["items"]
        assert [n["body"] for n in bell] == [NOTE_SECRETS["notification"]]
        txs = api.get(f"/api/v1/firms/{got['firm_id']}/portfolio/transactions", headers=h).json()[
            "items"
        ]
        assert {t["note"] for t in txs} == {NOTE_SECRETS["transaction"], NOTE_SECRETS["reversal"]}
        queue = api.get("/api/v1/reviews", headers=hc).json()["items"]
        excerpts = sorted(i["before"] + i["hit"] + i["after"] for i in queue)
        assert excerpts == sorted(
            f"Call about blocks\n{NOTE_SECRETS[k]}" for k in ("interaction", "edited")
        )


def test_a_notes_ciphertext_copied_to_another_row_does_not_open(sqlite_url):
    from brm_app.models.follow_up import FollowUp
    from brm_app.models.interaction import Interaction, InteractionVersion
    from brm_app.services import interactions

    broker, _, iid, _ = _notes_book()
    v = InteractionVersion.__table__
    with get_engine().begin() as conn:
        first, second = conn.execute(
            sa.select(v.c.id, v.c.row_key, v.c.data).order_by(v.c.version)
        ).all()
        # Version 1's sealed JSON put in place of version 2's: it does not open there.
        conn.execute(sa.update(v).where(v.c.id == second.id).values(data=first.data))
        # The interaction's notes moved to the follow-up's row: neither opens elsewhere.
        notes = conn.execute(sa.select(Interaction.__table__.c.notes)).scalar_one()
        conn.execute(sa.update(FollowUp.__table__).values(notes=notes))
        fu_key = conn.execute(sa.select(FollowUp.__table__.c.row_key)).scalar_one()
    with pytest.raises(UndecryptableValue):
        open_value("interaction_versions", "data", second.row_key, first.data)
    with pytest.raises(UndecryptableValue):
        open_value("follow_ups", "notes", fu_key, notes)
    with unit_of_work() as db, pytest.raises(UndecryptableValue):
        interactions.versions(db, actor=broker, interaction_id=iid)


def test_clear_text_cannot_be_written_to_notes_or_their_copies(sqlite_url):
    from brm_app.models.follow_up import Notification
    from brm_app.models.review import ReviewItem

    _notes_book()
    for table, column in (
        (Notification.__table__, "body"),
        (ReviewItem.__table__, "excerpt"),
    ):
        with get_engine().begin() as conn, pytest.raises(sa.exc.StatementError) as err:
            conn.execute(sa.update(table).values({column: "clear text"}))
        assert isinstance(err.value.orig, PlaintextRefused)
