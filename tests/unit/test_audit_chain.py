"""The audit trail is append-only and its hash chain names the first altered, removed or moved event."""

import subprocess
import sys

import pytest
import sqlalchemy as sa

from brm_app.auth.actor import SystemActor
from brm_app.db import get_engine, unit_of_work
from brm_app.models.audit import AuditEvent
from brm_app.services import audit


def seed(n: int = 6) -> None:
    with unit_of_work(write=True) as db:
        for i in range(n):
            audit.record(
                db,
                actor=SystemActor(),
                action="test.event",
                entity="thing",
                entity_id=i,
                changes={"i": i},
            )


def tamper(*statements: str) -> None:
    """What an attacker with database access would do: drop the guard triggers, then edit rows."""
    engine = get_engine()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP TRIGGER audit_events_append_only ON audit_events")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        for stmt in statements:
            conn.exec_driver_sql(stmt)


def verify():
    with unit_of_work() as db:
        return audit.verify_chain(db)


def test_intact_chain_verifies(database_url):
    seed()
    report = verify()
    assert report.ok and report.events == 6 and report.problem is None


def test_a_batch_appends_the_same_chained_events_as_one_by_one(database_url):
    """record_many (bulk imports): one event per change, in order, continuing the chain."""
    seed(2)
    changes = [audit.Change("test.batch", "thing", i, {"i": i, "at": i * 10}) for i in range(5)]
    with unit_of_work(write=True) as db:
        audit.record_many(db, actor=SystemActor(label="system:batch"), events=changes)
        audit.record_many(db, actor=SystemActor(), events=[])
    seed(1)
    report = verify()
    assert report.ok and report.events == 8
    with unit_of_work() as db:
        rows = db.exec(
            sa.select(
                AuditEvent.seq,
                AuditEvent.action,
                AuditEvent.entity_id,
                AuditEvent.changes,
                AuditEvent.actor_label,
            ).order_by(AuditEvent.seq)
        ).all()
    assert [tuple(r) for r in rows[2:7]] == [
        (3 + i, "test.batch", str(i), f'{{"at":{i * 10},"i":{i}}}', "system:batch")
        for i in range(5)
    ]
    # Tampering with a batch event is found like any other.
    tamper("UPDATE audit_events SET changes = '{\"i\":9}' WHERE seq = 5")
    report = verify()
    assert not report.ok and report.first_bad_seq == 5


def test_database_refuses_update_and_delete(database_url):
    seed(2)
    for stmt in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), get_engine().begin() as conn:
            conn.exec_driver_sql(stmt)
    assert verify().ok


def test_edited_event_is_named(database_url):
    seed()
    tamper("UPDATE audit_events SET changes = '{\"i\":99}' WHERE seq = 4")
    report = verify()
    assert not report.ok
    assert report.first_bad_seq == 4
    assert "#4" in report.problem and "altered" in report.problem
    assert report.events == 3


def test_deleted_event_is_named(database_url):
    seed()
    tamper("DELETE FROM audit_events WHERE seq = 3")
    report = verify()
    assert not report.ok and report.first_bad_seq == 3
    assert "#3 is missing" in report.problem


def test_reordered_events_are_named(database_url):
    seed()
    # Swap the positions of events 2 and 5 (three updates to dodge the unique seq).
    tamper(
        "UPDATE audit_events SET seq = -2 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = -2",
    )
    report = verify()
    assert not report.ok and report.first_bad_seq == 2
    assert "out of place" in report.problem


def test_recomputed_hash_after_edit_is_still_caught_by_the_next_link(database_url):
    """Re-hashing an edited event breaks the link from its successor."""
    seed()
    with unit_of_work() as db:
        from sqlmodel import select

        from brm_app.models.audit import AuditEvent

        ev = db.exec(select(AuditEvent).where(AuditEvent.seq == 3)).one()
        ev.changes = '{"i":42}'
        new_hash = audit._content_hash(ev)
        db.rollback()
    tamper(f"UPDATE audit_events SET changes = '{{\"i\":42}}', hash = '{new_hash}' WHERE seq = 3")
    report = verify()
    assert not report.ok and report.first_bad_seq == 4


def test_cli_verify_reports_and_exits_nonzero_when_broken(database_url):
    seed(3)
    ok = subprocess.run(
        [sys.executable, "-m", "brm_app.cli", "audit", "verify"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "intact: 3 events" in ok.stdout
    tamper("UPDATE audit_events SET actor_label = 'someone else' WHERE seq = 2")
    broken = subprocess.run(
        [sys.executable, "-m", "brm_app.cli", "audit", "verify"], capture_output=True, text=True
    )
    assert broken.returncode == 1
    assert "#2" in broken.stderr and "altered" in broken.stderr


def test_diff_keeps_only_changed_fields():
    assert audit.diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": {"before": 2, "after": 3},
        "c": {"before": None, "after": 4},
    }
