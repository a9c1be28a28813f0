"""`brm keys rotate`: every value re-encrypted with the new key while brokers keep saving,
resumable after a crash, audited; the old key retired."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from brm_app.db import get_engine, unit_of_work
from brm_app.encryption import get_keyring
from brm_app.encryption.check import check_keys
from brm_app.encryption.keyring import append_key_file, key_id_of
from brm_app.models.encryption import EncryptionCanary
from brm_app.models.trader import Trader, TraderPatch
from brm_app.models.user import Role
from brm_app.services import audit, key_rotation, traders
from tests.factories import make_firm, make_trader, make_user


def _kids() -> set[str]:
    t = Trader.__table__
    with get_engine().connect() as conn:
        values = conn.execute(sa.select(t.c.email, t.c.phone)).all()
    return {key_id_of(v) for row in values for v in row if v is not None}


@pytest.fixture
def book(sqlite_url):
    broker = make_user(Role.BROKER)
    firm = make_firm(broker)
    ids = [
        make_trader(
            broker, firm.firm_id, email=f"r{i}@rot.example", phone="+442079460123"
        ).trader_id
        for i in range(30)
    ]
    with unit_of_work(write=True) as db:
        check_keys(db.connection())  # the first start: k1's check value
    return broker, firm.firm_id, ids


def test_rotation_under_concurrent_writes_leaves_every_value_readable(book):
    broker, firm_id, ids = book
    assert _kids() == {"k1"}
    new = append_key_file(get_keyring().source_file)
    stop = threading.Event()
    saved: dict[int, str] = {}
    errors: list[BaseException] = []

    def broker_keeps_saving() -> None:
        n = 0
        while not stop.is_set():
            tid = ids[n % len(ids)]
            email = f"new{n}@rot.example"
            try:
                with unit_of_work(write=True) as db:
                    traders.patch_trader(
                        db, actor=broker, trader_id=tid, firm_id=firm_id,
                        data=TraderPatch(email=email),
                    )  # fmt: skip
                saved[tid] = email
            except BaseException as exc:
                errors.append(exc)
                return
            n += 1
            time.sleep(0.002)  # a broker, not a busy loop (SQLite writers take turns)

    writer = threading.Thread(target=broker_keeps_saving)
    writer.start()
    try:
        report = key_rotation.rotate(batch=7)
    finally:
        stop.set()
        writer.join()
    assert not errors, errors
    assert report.kid == new and report.retired == ["k1"]
    assert saved, "the broker saved nothing while the rotation ran"
    assert _kids() == {new}
    with unit_of_work() as db:
        for tid in ids:
            got = traders.get_trader(db, actor=broker, trader_id=tid)
            assert got.email == saved.get(tid, got.email)
            assert got.phone == "+442079460123"
        assert audit.verify_chain(db).ok
        canaries = dict(db.exec(sa.select(EncryptionCanary.kid, EncryptionCanary.retired_at)).all())
        assert canaries["k1"] is not None and canaries[new] is None
        check_keys(db.connection())


def test_rotation_goes_on_after_a_crash(book, monkeypatch):
    broker, _, ids = book
    new = append_key_file(get_keyring().source_file)
    ring = get_keyring()
    real_seal, calls = ring.seal, {"n": 0}

    def crashing_seal(*args):
        calls["n"] += 1
        if calls["n"] > 12:
            raise SystemExit("power cut")
        return real_seal(*args)

    monkeypatch.setattr(ring, "seal", crashing_seal)
    with pytest.raises(SystemExit):
        key_rotation.rotate(batch=5)
    assert _kids() == {"k1", new}  # half done: both keys in use, every value readable
    progress = key_rotation._progress(new, "traders")
    assert progress[0] > 0 and not progress[1]
    monkeypatch.setattr(ring, "seal", real_seal)
    report = key_rotation.rotate(batch=5)
    assert _kids() == {new} and report.retired == ["k1"]
    with unit_of_work() as db:
        assert {traders.get_trader(db, actor=broker, trader_id=t).email for t in ids} == {
            f"r{i}@rot.example" for i in range(30)
        }


def test_rotation_covers_notes_and_their_copies(sqlite_url):
    """Interactions' notes, their versions, follow-ups' notes, notification bodies and review
    excerpts are re-encrypted and read back the same (the versions have no trigger in the way)."""
    import json

    from brm_app.services import follow_ups, interactions, notifications, review
    from tests.unit.test_encryption import NOTE_SECRETS, _notes_book

    broker, compliance, iid, fid = _notes_book()
    places = {
        "interactions": "notes",
        "interaction_versions": "data",
        "follow_ups": "notes",
        "notifications": "body",
        "review_items": "excerpt",
        "portfolio_transactions": "note",
    }

    def kids() -> dict[str, set[str]]:
        with get_engine().connect() as conn:
            return {
                table: {
                    key_id_of(v)
                    for (v,) in conn.execute(sa.text(f"SELECT {column} FROM {table}"))
                    if v is not None
                }
                for table, column in places.items()
            }

    assert all(found == {"k1"} for found in kids().values())
    with unit_of_work(write=True) as db:
        check_keys(db.connection())
    new = append_key_file(get_keyring().source_file)
    report = key_rotation.rotate(batch=1)
    assert all(report.rewritten[table] >= 1 for table in places)
    assert kids() == {table: {new} for table in places}
    with unit_of_work() as db:
        got = interactions.get_interaction(db, actor=broker, interaction_id=iid)
        assert got.notes == NOTE_SECRETS["edited"]
        saved = interactions.versions(db, actor=broker, interaction_id=iid)
        assert json.loads(saved[0].data)["notes"] == NOTE_SECRETS["interaction"]
        assert (
            follow_ups.get_follow_up(db, actor=broker, follow_up_id=fid).notes
            == (NOTE_SECRETS["follow_up"])
        )
        bell = notifications.list_notifications(db, actor=broker).items
        assert [n.body for n in bell] == [NOTE_SECRETS["notification"]]
        queue = review.list_items(db, actor=compliance).items
        assert len(queue) == 2 and all(i.hit.lower() == "guarantees" for i in queue)
