"""Retention and legal hold: the purge removes exactly what is past retention (worked dates, the
boundary included) and nothing held, records each batch with the hashes of what went; the audit
chain still verifies after a purge of its own oldest events and still names a tampered or removed
event; holds block void, archive, merge and move; the settings stay within 1-10 years — on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from brm_app.auth.actor import SystemActor
from brm_app.db import get_engine, unit_of_work, utcnow
from brm_app.models.audit import AuditEvent, AuditSealedValues
from brm_app.models.communication import CommunicationLogEntry, Conversation, Message
from brm_app.models.follow_up import FollowUp, FollowUpPatch, FollowUpWrite
from brm_app.models.interaction import Interaction, InteractionVersion, InteractionWrite
from brm_app.models.retention import LegalHold
from brm_app.models.trader import TraderPermission
from brm_app.models.user import Role
from brm_app.services import (
    audit,
    conversations,
    firms,
    follow_ups,
    interactions,
    legal_holds,
    retention,
    traders,
)
from brm_app.services.errors import Conflict, PermissionDenied, ValidationFailed
from tests.factories import make_firm, make_trader, make_user

NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)
COMMS_CUT = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)  # 3 years before NOW
BOOKS_CUT = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)  # 6 years before NOW


def call(fn, **kw):
    with unit_of_work(write=True) as db:
        return fn(db, **kw)


def backdate(model, row_id, **values):
    with unit_of_work(write=True) as db:
        db.exec(sa.update(model).where(model.id == row_id).values(**values))


def exists(model, row_id) -> bool:
    with unit_of_work() as db:
        return db.get(model, row_id) is not None


@pytest.fixture
def book(database_url):
    manager = make_user(Role.MANAGER)
    broker = make_user(Role.BROKER, manager_id=manager.user_id)
    admin = make_user(Role.ADMIN)
    compliance = make_user(Role.COMPLIANCE)
    firm = make_firm(broker, name="Retained Capital")
    held_firm = make_firm(broker, name="Held Holdings")
    portal = [TraderPermission.PORTAL_ACCESS]
    tess = make_trader(manager, firm.firm_id, name="Tess Kept", permissions=portal)
    hank = make_trader(manager, held_firm.firm_id, name="Hank Held", permissions=portal)
    return {
        "broker": broker,
        "admin": admin,
        "compliance": compliance,
        "firm": firm,
        "held_firm": held_firm,
        "tess": tess,
        "hank": hank,
    }


def _conversation(broker, trader_id: int, text: str) -> int:
    conv = call(conversations.start_conversation, actor=broker, trader_ids=[trader_id])
    call(conversations.send_message, actor=broker, conversation_id=conv.id, content=text)
    return conv.id


def _interaction(broker, trader_id: int, subject: str) -> int:
    row = call(
        interactions.log_interaction,
        actor=broker,
        data=InteractionWrite(
            trader_ids=[trader_id],
            interaction_type="Call",
            interaction_date=utcnow() - timedelta(days=1),
            subject=subject,
        ),
    )
    return row.interaction_id


def test_settings_defaults_and_bounds(book):
    with unit_of_work() as db:
        r = retention.read_retention(db, actor=book["admin"])
    assert (r.communications, r.attachments, r.interactions, r.audit_trail) == (3, 3, 6, 6)
    r = call(retention.update_retention, actor=book["admin"], years={"communications": 5})
    assert r.communications == 5
    for bad in (0, 11, "3", True, 2.5):
        with pytest.raises(ValidationFailed):
            call(retention.update_retention, actor=book["admin"], years={"interactions": bad})
    with pytest.raises(ValidationFailed):
        call(retention.update_retention, actor=book["admin"], years={"nonsense": 3})
    with pytest.raises(PermissionDenied):
        call(retention.update_retention, actor=book["broker"], years={"communications": 4})
    assert retention.cutoff(datetime(2028, 2, 29, tzinfo=UTC), 3) == datetime(
        2025, 2, 28, tzinfo=UTC
    )


def test_purge_removes_exactly_what_is_due_and_nothing_held(book):
    broker = book["broker"]
    # Communications (3 years from the last message).
    due_conv = _conversation(broker, book["tess"].trader_id, "old news")
    boundary_conv = _conversation(broker, book["tess"].trader_id, "exactly three years")
    held_conv = _conversation(broker, book["hank"].trader_id, "held talk")
    backdate(Conversation, due_conv, last_message_at=COMMS_CUT - timedelta(minutes=1))
    backdate(Conversation, boundary_conv, last_message_at=COMMS_CUT)
    backdate(Conversation, held_conv, last_message_at=datetime(2020, 1, 1, tzinfo=UTC))
    # Interactions (6 years from the last change: date, edit, void).
    due_i = _interaction(broker, book["tess"].trader_id, "old call")
    edited_i = _interaction(broker, book["tess"].trader_id, "edited later")
    dated_hold_i = _interaction(broker, book["tess"].trader_id, "in a held range")
    old = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
    backdate(Interaction, due_i, occurred_at=old, updated_at=old, created_at=old)
    backdate(Interaction, edited_i, occurred_at=old, updated_at=BOOKS_CUT + timedelta(days=1))
    backdate(
        Interaction, dated_hold_i, occurred_at=datetime(2019, 3, 3, tzinfo=UTC), updated_at=old
    )
    # Follow-ups: done ones 6 years after their last change; open ones never.
    done = call(
        follow_ups.create_follow_up,
        actor=broker,
        data=FollowUpWrite(
            title="Old done", due_at=utcnow() + timedelta(days=1), firm_id=book["firm"].firm_id
        ),
    )
    call(
        follow_ups.update_follow_up,
        actor=broker,
        follow_up_id=done.follow_up_id,
        data=FollowUpPatch(status="done"),
    )
    still_open = call(
        follow_ups.create_follow_up,
        actor=broker,
        data=FollowUpWrite(
            title="Old open", due_at=utcnow() + timedelta(days=1), firm_id=book["firm"].firm_id
        ),
    )
    for fid in (done.follow_up_id, still_open.follow_up_id):
        backdate(FollowUp, fid, due_at=old, updated_at=old, created_at=old)
    # Holds: the held firm, and 2019 as a date range.
    call(
        legal_holds.place_hold,
        actor=book["compliance"],
        scope="firm",
        subject_id=book["held_firm"].firm_id,
        reason="Litigation 2030-17",
    )
    call(
        legal_holds.place_hold,
        actor=book["compliance"],
        scope="dates",
        date_from=date(2019, 1, 1),
        date_to=date(2019, 12, 31),
        reason="Regulator inquiry",
    )

    report = retention.run_purge(now=NOW)

    assert report.counts["communications"] == 1
    assert report.counts["interactions"] == 1
    assert report.counts["follow_ups"] == 1
    assert not exists(Conversation, due_conv)
    assert exists(Conversation, boundary_conv) and exists(Conversation, held_conv)
    with unit_of_work() as db:
        assert not db.exec(select(Message).where(Message.conversation_id == due_conv)).all()
        assert not db.exec(
            select(CommunicationLogEntry).where(CommunicationLogEntry.conversation_id == due_conv)
        ).all()
        assert db.exec(
            select(CommunicationLogEntry).where(CommunicationLogEntry.conversation_id == held_conv)
        ).all()
        assert not db.exec(
            select(InteractionVersion).where(InteractionVersion.interaction_id == due_i)
        ).all()
        purges = db.exec(
            select(AuditEvent).where(AuditEvent.action == retention.PURGED_ACTION)
        ).all()
    assert not exists(Interaction, due_i)
    assert exists(Interaction, edited_i) and exists(Interaction, dated_hold_i)
    assert not exists(FollowUp, done.follow_up_id) and exists(FollowUp, still_open.follow_up_id)
    recorded = {e.entity_id: json.loads(e.changes) for e in purges}
    assert recorded["communications"]["ids"] == [due_conv]
    assert recorded["interactions"]["ids"] == [due_i]
    assert all(len(h) == 64 for c in recorded.values() for h in c["hashes"])
    assert all(c["count"] == len(c["hashes"]) for c in recorded.values())
    with unit_of_work() as db:
        assert audit.verify_chain(db).ok
    # A second run finds nothing more.
    assert retention.run_purge(now=NOW).total == 0
    # Released, the held conversation goes on the next run.
    with unit_of_work() as db:
        hold_id = legal_holds.list_holds(db, actor=book["compliance"], active_only=True)[-1].hold_id
    call(legal_holds.release_hold, actor=book["compliance"], hold_id=hold_id, reason="Case closed")
    assert retention.run_purge(now=NOW).counts["communications"] == 1
    assert not exists(Conversation, held_conv)


def test_the_log_stays_append_only_outside_the_purge(book):
    _conversation(book["broker"], book["tess"].trader_id, "hello")
    with pytest.raises(sa.exc.DatabaseError), unit_of_work(write=True) as db:
        db.exec(sa.delete(CommunicationLogEntry))
    with pytest.raises(sa.exc.DatabaseError), unit_of_work(write=True) as db:
        db.exec(sa.delete(AuditEvent))


def _seed_events(n: int) -> None:
    with unit_of_work(write=True) as db:
        for i in range(n):
            audit.record(db, actor=SystemActor(), action="test.event", entity="thing", entity_id=i)


def _tamper(*statements: str) -> None:
    engine = get_engine()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_events_no_delete")
        for stmt in statements:
            conn.exec_driver_sql(stmt)


def test_audit_purge_keeps_the_chain_verifiable_and_tampering_named(book):
    _seed_events(30)
    call(retention.update_retention, actor=book["admin"], years={"audit_trail": 1})
    # A broker on hold keeps his own events (the prefix stops at the first held one).
    with unit_of_work(write=True) as db:  # encrypted values kept beside some of the events
        have = set(db.exec(select(AuditSealedValues.seq)).all())
        for seq in set(db.exec(select(AuditEvent.seq)).all()) - have:
            db.add(AuditSealedValues(seq=seq, row_key="k" * 32, payload=b"sealed"))
        assert db.exec(select(sa.func.count()).select_from(AuditSealedValues)).one() > 30
    report = retention.run_purge(now=utcnow() + timedelta(days=400), batch=7)
    assert report.counts["audit_trail"] > 7  # several batches
    with unit_of_work() as db:
        first = db.exec(select(sa.func.min(AuditEvent.seq))).one()
        sealed = db.exec(select(AuditSealedValues.seq)).all()
        result = audit.verify_chain(db)
        anchors = db.exec(
            select(AuditEvent).where(AuditEvent.action == retention.AUDIT_PURGE_ACTION)
        ).all()
    # The purged events' encrypted values went with them (none of them is kept past them).
    assert all(seq >= first for seq in sealed)
    assert first > 1
    assert result.ok, result.problem
    last = json.loads(anchors[-1].changes)
    assert last["through_seq"] == first - 1 and len(last["hashes"]) == last["count"]
    # An edited event is still named, and so is an edited purge record.
    _seed_events(3)
    with unit_of_work() as db:
        plain = db.exec(
            select(AuditEvent.seq)
            .where(AuditEvent.action != retention.AUDIT_PURGE_ACTION)
            .order_by(AuditEvent.seq)
        ).first()
    _tamper(f"UPDATE audit_events SET changes = '{{\"x\":1}}' WHERE seq = {plain}")
    with unit_of_work() as db:
        bad = audit.verify_chain(db)
    assert not bad.ok and bad.first_bad_seq == plain and "altered" in bad.problem
    _tamper(
        f"UPDATE audit_events SET changes = '{{\"through_seq\":0}}' WHERE seq = {anchors[-1].seq}"
    )
    with unit_of_work() as db:
        bad = audit.verify_chain(db)
    assert not bad.ok and bad.first_bad_seq == anchors[-1].seq and "altered" in bad.problem


def test_removing_the_first_events_after_a_purge_is_named(book):
    _seed_events(5)
    call(retention.update_retention, actor=book["admin"], years={"audit_trail": 1})
    retention.run_purge(now=utcnow() + timedelta(days=400))
    _seed_events(3)
    with unit_of_work() as db:
        first = db.exec(select(sa.func.min(AuditEvent.seq))).one()
    _tamper(f"DELETE FROM audit_events WHERE seq <= {first + 1}")
    with unit_of_work() as db:
        bad = audit.verify_chain(db)
    assert not bad.ok and "missing" in bad.problem


def test_a_held_broker_keeps_the_audit_prefix(book):
    call(
        legal_holds.place_hold,
        actor=book["compliance"],
        scope="broker",
        subject_id=book["broker"].user_id,
        reason="Conduct review",
    )
    call(retention.update_retention, actor=book["admin"], years={"audit_trail": 1})
    retention.run_purge(now=utcnow() + timedelta(days=400))
    with unit_of_work() as db:
        kept = db.exec(
            select(AuditEvent).where(AuditEvent.actor_id == book["broker"].user_id)
        ).all()
        assert kept and audit.verify_chain(db).ok


def test_holds_block_void_archive_merge_and_move(book):
    broker, admin, comp = book["broker"], book["admin"], book["compliance"]
    held_firm, firm, hank = book["held_firm"], book["firm"], book["hank"]
    hold = call(
        legal_holds.place_hold,
        actor=comp,
        scope="firm",
        subject_id=held_firm.firm_id,
        reason="Case A",
    )
    with pytest.raises(Conflict, match="legal hold"):
        call(firms.archive_firm, actor=broker, firm_id=held_firm.firm_id)
    with pytest.raises(Conflict, match="legal hold"):
        call(firms.merge_firms, actor=admin, source_id=held_firm.firm_id, target_id=firm.firm_id)
    with pytest.raises(Conflict, match="legal hold"):
        call(traders.move_trader, actor=admin, trader_id=hank.trader_id, to_firm_id=firm.firm_id)
    with pytest.raises(Conflict, match="legal hold"):
        call(traders.archive_trader, actor=broker, trader_id=hank.trader_id)
    i = _interaction(broker, hank.trader_id, "held call")
    with pytest.raises(Conflict, match="legal hold"):
        call(interactions.void_interaction, actor=admin, interaction_id=i, reason="mistake")
    # A trader hold blocks archiving the trader and merging away their firm.
    call(
        legal_holds.place_hold,
        actor=comp,
        scope="trader",
        subject_id=book["tess"].trader_id,
        reason="Case B",
    )
    with pytest.raises(Conflict, match="legal hold"):
        call(firms.merge_firms, actor=admin, source_id=firm.firm_id, target_id=held_firm.firm_id)
    # A date range hold over the firm's interaction blocks merging it away (its records move).
    other_firm = make_firm(broker, name="Dated Firm")
    t2 = make_trader(broker, other_firm.firm_id, name="Dora Dated")
    dated = _interaction(broker, t2.trader_id, "dated call")
    backdate(Interaction, dated, occurred_at=datetime(2021, 5, 5, 10, tzinfo=UTC))
    call(
        legal_holds.place_hold,
        actor=comp,
        scope="dates",
        date_from=date(2021, 5, 1),
        date_to=date(2021, 5, 31),
        reason="Case C",
    )
    with pytest.raises(Conflict, match="Records of this firm are under a legal hold"):
        call(firms.merge_firms, actor=admin, source_id=other_firm.firm_id, target_id=firm.firm_id)
    # Released: allowed again; both place and release are audited.
    call(legal_holds.release_hold, actor=comp, hold_id=hold.hold_id, reason="Settled")
    call(interactions.void_interaction, actor=admin, interaction_id=i, reason="mistake")
    call(firms.archive_firm, actor=broker, firm_id=held_firm.firm_id)
    with unit_of_work() as db:
        actions = db.exec(select(AuditEvent.action).where(AuditEvent.entity == "legal_hold")).all()
    assert actions.count("legal_hold.placed") == 3 and actions.count("legal_hold.released") == 1
    # Only compliance and admins place holds.
    with pytest.raises(PermissionDenied):
        call(
            legal_holds.place_hold,
            actor=broker,
            scope="firm",
            subject_id=firm.firm_id,
            reason="x y z",
        )
    with pytest.raises(ValidationFailed):
        call(
            legal_holds.place_hold,
            actor=comp,
            scope="dates",
            date_from="2026-02-01",
            date_to="2026-01-01",
            reason="bad range",
        )


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_old_attachments_go_with_their_file_and_the_message_stays(book):
    from brm_app.models.communication import MessageAttachment
    from brm_app.services import attachments

    broker = book["broker"]
    conv = call(conversations.start_conversation, actor=broker, trader_ids=[book["tess"].trader_id])
    att = call(
        attachments.upload, actor=broker, conversation_id=conv.id, filename="old.pdf", data=PDF
    )
    call(
        conversations.send_message,
        actor=broker,
        conversation_id=conv.id,
        content="Terms attached",
        attachment_ids=[att.attachment_id],
    )
    with unit_of_work() as db:
        sha = db.get(MessageAttachment, att.attachment_id).sha256
    assert attachments.read_stored(sha) == PDF
    backdate(Conversation, conv.id, last_message_at=NOW - timedelta(days=1))
    backdate(MessageAttachment, att.attachment_id, created_at=COMMS_CUT - timedelta(days=1))
    report = retention.run_purge(now=NOW)
    assert report.counts["attachments"] == 1 and report.counts["communications"] == 0
    assert not exists(MessageAttachment, att.attachment_id)
    with unit_of_work() as db:
        assert db.exec(select(Message).where(Message.conversation_id == conv.id)).all()
    with pytest.raises(FileNotFoundError):
        attachments.read_stored(sha)


def test_events_about_a_held_firms_records_keep_the_audit_prefix(database_url, monkeypatch):
    """The firm's own events went in an earlier purge, before the hold; what is left about it
    (an interaction's voiding: the event names neither the firm nor a trader) is kept once the
    firm is held, because the record it is about is held."""
    clock = {"now": datetime(2020, 1, 6, 12, tzinfo=UTC)}
    monkeypatch.setattr(audit, "utcnow", lambda: clock["now"])
    broker = make_user(Role.BROKER)
    admin, compliance = make_user(Role.ADMIN), make_user(Role.COMPLIANCE)
    firm = make_firm(broker, name="Later Held")
    tess = make_trader(broker, firm.firm_id, name="Tess Later")
    iid = _interaction(broker, tess.trader_id, "Kept by the hold")
    clock["now"] = datetime(2021, 6, 7, 12, tzinfo=UTC)
    call(interactions.void_interaction, actor=admin, interaction_id=iid, reason="Wrong firm")
    clock["now"] = datetime(2022, 1, 10, 12, tzinfo=UTC)
    call(retention.update_retention, actor=admin, years={"audit_trail": 1})
    # No hold yet: the 2020 events go (the firm's, the trader's, the interaction's logging).
    first = retention.run_purge(now=datetime(2022, 1, 3, tzinfo=UTC))
    assert first.counts["audit_trail"] > 0

    def voided() -> list[AuditEvent]:
        with unit_of_work() as db:
            return db.exec(
                select(AuditEvent).where(AuditEvent.action == "interaction.voided")
            ).all()

    [void_event] = voided()
    assert void_event.entity == "interaction" and "firm_id" not in void_event.changes
    with unit_of_work() as db:
        assert (
            db.exec(select(sa.func.min(AuditEvent.seq))).one() == void_event.seq
        )  # the prefix now starts at it
    clock["now"] = datetime(2022, 2, 7, 12, tzinfo=UTC)
    call(
        legal_holds.place_hold,
        actor=compliance,
        scope="firm",
        subject_id=firm.firm_id,
        reason="Litigation",
    )
    later = retention.run_purge(now=datetime(2030, 1, 7, tzinfo=UTC))
    assert later.counts["audit_trail"] == 0 and [e.seq for e in voided()] == [void_event.seq]
    with unit_of_work() as db:
        assert audit.verify_chain(db).ok
    # Released, the same purge goes past it.
    with unit_of_work() as db:
        hold_id = db.exec(select(LegalHold.id)).one()
    call(legal_holds.release_hold, actor=compliance, hold_id=hold_id, reason="Settled")
    assert retention.run_purge(now=datetime(2030, 1, 7, tzinfo=UTC)).counts["audit_trail"] > 0
    assert voided() == []
