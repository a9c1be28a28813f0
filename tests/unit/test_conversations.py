"""Conversations and messages: who sees them (coverage, team, portal trader, read-only roles),
sending, corrections, read receipts and unread counts, attachments, and the append-only log
vouched for by the audit chain — on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlmodel import select

from brm_app import events
from brm_app.db import unit_of_work
from brm_app.encryption.columns import seal_value
from brm_app.models.audit import AuditEvent
from brm_app.models.communication import CommunicationLogEntry
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role, User
from brm_app.services import (
    attachments,
    audit,
    communication_log,
    conversations,
    firms,
    traders,
)
from brm_app.services.authentication import actor_of
from brm_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from tests.factories import make_firm, make_trader, make_user

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def call(fn, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, **kw)


def portal_actor(trader_id: int):
    with unit_of_work() as db:
        from brm_app.models.trader import Trader

        t = db.get(Trader, trader_id)
        return actor_of(db.get(User, t.user_id), ip="127.0.0.1")


@pytest.fixture
def world(database_url):
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    other = make_user(Role.BROKER)
    other_manager = make_user(Role.MANAGER)
    compliance = make_user(Role.COMPLIANCE)
    admin = make_user(Role.ADMIN)
    firm = make_firm(broker, name="Chat Capital")
    elsewhere = make_firm(other, name="Elsewhere Ltd")
    portal = [TraderPermission.PORTAL_ACCESS, TraderPermission.RECEIVE_EMAIL]
    tess = make_trader(manager, firm.firm_id, name="Tess Portal", permissions=portal)
    nopo = make_trader(broker, firm.firm_id, name="Nora NoPortal")
    xena = make_trader(manager, elsewhere.firm_id, name="Xena Elsewhere", permissions=portal)
    return {
        "manager": manager,
        "broker": broker,
        "other": other,
        "other_manager": other_manager,
        "compliance": compliance,
        "admin": admin,
        "firm": firm,
        "elsewhere": elsewhere,
        "tess": tess,
        "nopo": nopo,
        "xena": xena,
        "tess_actor": portal_actor(tess.trader_id),
        "xena_actor": portal_actor(xena.trader_id),
    }


def start(w, traders_=None, actor=None):
    conv = call(
        conversations.start_conversation,
        actor=actor or w["broker"],
        trader_ids=traders_ or [w["tess"].trader_id],
        subject="Q3 allocation",
    )
    return conv.id


def send(actor, conv_id, text="Hello", **kw):
    return call(
        conversations.send_message, actor=actor, conversation_id=conv_id, content=text, **kw
    )


def visible_ids(actor):
    with unit_of_work() as db:
        page = conversations.list_conversations(db, actor=actor)
    return {c.conversation_id for c in page.items}


def test_who_sees_a_conversation(world):
    w = world
    cid = start(w)
    send(w["broker"], cid, "Morning Tess")
    for who in ("broker", "manager", "compliance", "admin", "tess_actor"):
        assert cid in visible_ids(w[who]), who
        with unit_of_work() as db:
            conversations.get_conversation(db, actor=w[who], conversation_id=cid)
    for who in ("other", "other_manager", "xena_actor"):
        assert cid not in visible_ids(w[who]), who
        with unit_of_work() as db, pytest.raises(NotFound):
            conversations.get_conversation(db, actor=w[who], conversation_id=cid)
        with unit_of_work() as db, pytest.raises(NotFound):
            conversations.list_messages(db, actor=w[who], conversation_id=cid)


def test_broker_side_follows_coverage_and_departed_broker_stays_with_manager(world):
    w = world
    cid = start(w)
    # The other broker takes over coverage of the firm: they see it now.
    call(
        firms.set_coverage,
        actor=w["manager"],
        firm_id=w["firm"].firm_id,
        primary_broker_id=w["other"].user_id,
        secondary_broker_ids=[],
    )
    assert cid in visible_ids(w["other"])
    # The starter still sees their own conversation; their manager too (their team's).
    assert cid in visible_ids(w["broker"])
    assert cid in visible_ids(w["manager"])


def test_trader_who_moves_firm_leaves_the_conversation(world):
    w = world
    cid = start(w)
    send(w["broker"], cid, "Before the move")
    call(
        traders.move_trader,
        actor=w["admin"],
        trader_id=w["tess"].trader_id,
        to_firm_id=w["elsewhere"].firm_id,
    )
    assert cid not in visible_ids(w["tess_actor"])
    with pytest.raises(NotFound):
        send(w["tess_actor"], cid, "Can I still write?")
    # Still in the log.
    with unit_of_work() as db:
        n = db.exec(
            select(sa.func.count())
            .select_from(CommunicationLogEntry)
            .where(CommunicationLogEntry.conversation_id == cid)
        ).one()
    assert n == 1


def test_messages_corrections_and_bad_input(world):
    w = world
    cid = start(w)
    first = send(w["broker"], cid, "Price is 101")
    assert first.message_type == "in_app" and first.direction == "outbound"
    assert first.broker_id == w["broker"].user_id and first.trader_id == w["tess"].trader_id
    fixed = send(w["broker"], cid, "Price is 102", correction_of=first.communication_id)
    assert fixed.correction_of == first.communication_id
    reply = send(w["tess_actor"], cid, "Thanks")
    assert reply.direction == "inbound" and reply.trader_id == w["tess"].trader_id
    with unit_of_work() as db:
        msgs = conversations.list_messages(db, actor=w["broker"], conversation_id=cid)
    assert [m.content for m in msgs] == ["Price is 101", "Price is 102", "Thanks"]
    before = _log_count()
    for bad in ("", "   ", "x" * 10_001, "bad\x00nul"):
        with pytest.raises(ValidationFailed):
            send(w["broker"], cid, bad)
    # Someone else's message cannot be "corrected".
    with pytest.raises(ValidationFailed):
        send(w["tess_actor"], cid, "fix", correction_of=first.communication_id)
    # Read-only roles do not write.
    for who in ("compliance", "admin"):
        with pytest.raises(PermissionDenied):
            send(w[who], cid, "hi")
    assert _log_count() == before


def test_in_app_needs_portal_access(world):
    w = world
    with pytest.raises(ValidationFailed, match="portal access"):
        start(w, traders_=[w["nopo"].trader_id])
    # A trader of a firm the broker does not cover cannot be messaged.
    with pytest.raises(ValidationFailed):
        start(w, traders_=[w["xena"].trader_id])
    # Traders do not start conversations.
    with pytest.raises(PermissionDenied):
        start(w, actor=w["tess_actor"])


def test_unread_counts_and_read_receipts(world):
    w = world
    cid = start(w)
    m1 = send(w["broker"], cid, "One")
    send(w["broker"], cid, "Two")
    with unit_of_work() as db:
        assert conversations.unread_total(db, actor=w["tess_actor"]) == 2
        assert conversations.unread_total(db, actor=w["broker"]) == 0
    left = call(
        conversations.mark_read,
        actor=w["tess_actor"],
        conversation_id=cid,
        up_to=m1.communication_id,
    )
    assert left == 1
    assert call(conversations.mark_read, actor=w["tess_actor"], conversation_id=cid) == 0
    with unit_of_work() as db:
        msgs = conversations.list_messages(db, actor=w["broker"], conversation_id=cid)
    assert [r.name for r in msgs[0].read_by] == ["Tess Portal"]
    assert [r.name for r in msgs[1].read_by] == ["Tess Portal"]
    with pytest.raises(PermissionDenied):
        call(conversations.mark_read, actor=w["compliance"], conversation_id=cid)


def test_a_message_publishes_a_live_event_for_its_audience(world):
    w = world
    cid = start(w)
    with unit_of_work(write=True) as db:
        conversations.send_message(db, actor=w["broker"], conversation_id=cid, content="Live")
        users = events.pending(db, conversations.TOPIC)
    assert {w["broker"].user_id, w["manager"].user_id, w["tess_actor"].user_id} <= users
    assert w["other"].user_id not in users


def test_attachments_checked_by_content_and_served_only_to_viewers(world):
    w = world
    cid = start(w)
    att = call(
        attachments.upload, actor=w["broker"], conversation_id=cid, filename="terms.pdf", data=PDF
    )
    for name, data in (
        ("fake.pdf", PNG),
        ("script.exe", PDF),
        ("big.pdf", PDF + b"0" * (10 << 20)),
    ):
        with pytest.raises(ValidationFailed):
            call(
                attachments.upload, actor=w["broker"], conversation_id=cid, filename=name, data=data
            )
    # Unsent: only its uploader can fetch it.
    with unit_of_work() as db, pytest.raises(NotFound):
        attachments.download(db, actor=w["tess_actor"], attachment_id=att.attachment_id)
    msg = send(w["broker"], cid, "See attached", attachment_ids=[att.attachment_id])
    assert [a.sha256 for a in msg.attachments] == [att.sha256]
    with unit_of_work() as db:
        meta, data = attachments.download(
            db, actor=w["tess_actor"], attachment_id=att.attachment_id
        )
    assert data == PDF and meta.content_type == "application/pdf"
    with unit_of_work() as db, pytest.raises(NotFound):
        attachments.download(db, actor=w["xena_actor"], attachment_id=att.attachment_id)
    # Stored under the data folder, not reflex's public upload folder.
    from brm_app.settings import get_settings

    assert (get_settings().data_dir / "attachments" / att.sha256[:2] / att.sha256).exists()
    # The log records its hash; it cannot be attached twice.
    with unit_of_work() as db:
        entry = db.exec(
            select(CommunicationLogEntry).where(
                CommunicationLogEntry.message_id == msg.communication_id
            )
        ).one()
    assert json.loads(entry.attachments)[0]["sha256"] == att.sha256
    with pytest.raises(ValidationFailed):
        send(w["broker"], cid, "Again", attachment_ids=[att.attachment_id])


def test_log_is_vouched_by_the_audit_chain_and_a_sql_edit_is_named(world):
    w = world
    cid = start(w)
    msg = send(w["broker"], cid, "Original words")
    with unit_of_work() as db:
        assert audit.verify_chain(db).ok
        report = communication_log.verify_log(db)
        assert report.ok and report.entries == 1
        assert db.exec(
            select(AuditEvent).where(AuditEvent.action == "communication.logged")
        ).first()
    # The database itself refuses a direct edit or removal of an entry (triggers, 0008c, 0010c),
    # even one with a well-formed ciphertext of this entry ...
    with unit_of_work() as db:
        row_key = db.exec(
            select(CommunicationLogEntry.row_key).where(
                CommunicationLogEntry.message_id == msg.communication_id
            )
        ).one()
    doctor = (
        sa.update(CommunicationLogEntry)
        .where(CommunicationLogEntry.message_id == msg.communication_id)
        .values(content=seal_value("communication_log", "content", row_key, "Doctored words"))
    )
    remove = sa.delete(CommunicationLogEntry).where(
        CommunicationLogEntry.message_id == msg.communication_id
    )
    for statement in (doctor, remove):
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            unit_of_work(write=True) as db,
        ):
            db.exec(statement)
    with unit_of_work() as db:
        entry = db.exec(
            select(CommunicationLogEntry).where(
                CommunicationLogEntry.message_id == msg.communication_id
            )
        ).one()
        assert entry.content == "Original words" and communication_log.verify_log(db).ok
    # ... and with its triggers dropped, an edit is named by the audit chain.
    with unit_of_work(write=True) as db:
        conn = db.connection()
        for name in ("communication_log_no_update", "communication_log_no_reseal"):
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"DROP TRIGGER {name} ON communication_log")
            else:
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        db.exec(doctor)
    with unit_of_work() as db:
        assert audit.verify_chain(db).ok  # the chain itself is untouched ...
        report = communication_log.verify_log(db)
    assert not report.ok  # ... but the entry no longer matches what it vouched for
    assert f"entry {report.entry_id}" in report.problem and "altered" in report.problem
    # And the operator's command names it.
    from tests.unit.test_cli import brm

    run = brm("audit", "verify")
    assert run.returncode == 1
    assert f"communication log entry {report.entry_id}" in run.stderr


def test_an_entry_logged_before_encryption_is_checked_by_its_plain_hash(world):
    """Entries logged before 0010c carry a plain SHA-256 (the chain vouches for it): still
    verified, by that hash; a keyed one is what new entries get."""
    w = world
    cid = start(w)
    send(w["broker"], cid, "Keyed words")
    with unit_of_work(write=True) as db:
        first = db.exec(select(CommunicationLogEntry)).one()
        assert len(first.content_hash) == 32  # keyed
        old = CommunicationLogEntry(
            **{
                k: getattr(first, k)
                for k in communication_log._HASHED
                if k not in ("content", "occurred_at")
            },
            content="Words from before",
            occurred_at=first.occurred_at,
            content_hash="",
        )
        old.content_hash = communication_log.content_hash(old, legacy=True)
        db.add(old)
        db.flush()
        audit.record(
            db,
            actor=None,
            action=communication_log.ACTION,
            entity=communication_log.ENTITY,
            entity_id=old.id,
            changes=communication_log._vouched(old),
            actor_label="system:test",
        )
    with unit_of_work() as db:
        assert communication_log.verify_log(db).ok
        assert communication_log.verify_log(db).entries == 2


def test_trader_communications_lists_every_channel_for_those_who_see_them(world):
    w = world
    cid = start(w)
    send(w["broker"], cid, "One")
    send(w["tess_actor"], cid, "Two")
    with unit_of_work() as db:
        page = conversations.trader_communications(
            db, actor=w["broker"], trader_id=w["tess"].trader_id
        )
        assert [m.content for m in page.items] == ["Two", "One"]
        mine = conversations.trader_communications(
            db, actor=w["tess_actor"], trader_id=w["tess"].trader_id
        )
        assert mine.total == 2
        with pytest.raises(NotFound):
            conversations.trader_communications(db, actor=w["other"], trader_id=w["tess"].trader_id)
        with pytest.raises(NotFound):
            conversations.get_message(
                db, actor=w["xena_actor"], communication_id=page.items[0].communication_id
            )


def test_search_by_trader_firm_and_text(world):
    w = world
    cid = start(w)
    send(w["broker"], cid, "About the convertible bond")
    with unit_of_work() as db:
        for q in ("tess", "chat capital", "convertible"):
            found = conversations.list_conversations(db, actor=w["broker"], q=q)
            assert [c.conversation_id for c in found.items] == [cid], q
        assert conversations.list_conversations(db, actor=w["broker"], q="nothing").items == []


def _log_count() -> int:
    with unit_of_work() as db:
        return db.exec(select(sa.func.count()).select_from(CommunicationLogEntry)).one()


def test_messages_show_in_the_firm_and_trader_timelines(world):
    from brm_app.services import relationship

    w = world
    cid = start(w)
    send(w["broker"], cid, "Timeline hello\nsecond line")
    with unit_of_work() as db:
        for kw in ({"firm_id": w["firm"].firm_id}, {"trader_id": w["tess"].trader_id}):
            line = relationship.timeline(db, actor=w["broker"], **kw)
            kinds = [(e.kind, e.communication.content) for e in line.entries if e.communication]
            assert kinds == [("communication", "Timeline hello\nsecond line")], kw
        # Someone who cannot see the conversation sees no message in a timeline.
        line = relationship.timeline(db, actor=w["other_manager"], firm_id=w["firm"].firm_id)
        assert not [e for e in line.entries if e.kind == "communication"]


def test_unread_counts_with_several_conversations_and_read_states(world):
    """Each conversation's count uses its own read state (on PostgreSQL a wrongly correlated
    subquery fails outright; on SQLite it silently takes another conversation's)."""
    w = world
    first, second = start(w), start(w)
    send(w["broker"], first, "One")
    send(w["broker"], second, "Two")
    send(w["broker"], second, "Three")
    call(conversations.mark_read, actor=w["tess_actor"], conversation_id=first)
    with unit_of_work() as db:
        page = conversations.list_conversations(db, actor=w["tess_actor"])
        counts = {c.conversation_id: c.unread for c in page.items}
        assert counts == {first: 0, second: 2}
        assert conversations.unread_total(db, actor=w["tess_actor"]) == 2
        # The manager (their team's conversations) has read none of them.
        assert conversations.unread_total(db, actor=w["manager"]) == 3
