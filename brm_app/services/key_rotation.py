"""Key rotation (`brm keys rotate`): every encrypted value re-encrypted with the newest key,
online, in batches, resumable.

- Each batch is its own short write transaction; a value is replaced only if it is still the one
  read (a broker saving the same row meanwhile wins: their value is already under the newest key,
  since every process encrypts with the newest key it knows and re-reads a keys file that changed).
- Progress (the last id done per table) is recorded with each batch: after a crash the next run
  goes on from there.
- Files (attachments, kept uploads, regulator exports, backups in the data folder) have their
  data key rewrapped under the newest key (their header only); a file already under it is skipped,
  so this too goes on where it stopped.
- A last pass counts what is still under an older key (a save that began before the new key was
  known); it repeats until nothing is, then the older keys are marked retired (the start-up check
  no longer needs them) and the rotation is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from brm_app.auth.actor import SystemActor
from brm_app.db import unit_of_work, utcnow
from brm_app.encryption import files as sealed_files
from brm_app.encryption import get_keyring
from brm_app.encryption.check import check_keys
from brm_app.encryption.columns import ENCRYPTED
from brm_app.encryption.keyring import key_id_of
from brm_app.models.encryption import EncryptionCanary, KeyRotation
from brm_app.models.retention import PurgeGrant
from brm_app.services import audit

SYSTEM = SystemActor(label="system:keys")
_PROGRESS = KeyRotation.__table__  # type: ignore[attr-defined]
_CANARIES = EncryptionCanary.__table__  # type: ignore[attr-defined]
_GRANTS = PurgeGrant.__table__  # type: ignore[attr-defined]


@dataclass
class RotationReport:
    kid: str
    rewritten: dict[str, int] = field(default_factory=dict)
    passes: int = 0
    retired: list[str] = field(default_factory=list)


def _targets() -> list[tuple[str, str, tuple[str, ...]]]:
    """(table, primary key, encrypted columns) of everything encrypted in the database."""
    out = [(t, "id", cols) for t, cols in sorted(ENCRYPTED.items())]
    out.append(("audit_sealed_values", "seq", ("payload",)))
    return out


def _table(name: str, pk: str, columns: tuple[str, ...]) -> sa.TableClause:
    return sa.table(name, sa.column(pk), sa.column("row_key"), *[sa.column(c) for c in columns])


# Append-only tables whose encrypted columns the database lets change only inside a rotation's
# own transaction, while its grant row exists (the triggers of alembic 0010c).
RESEAL_GRANTS = {"communication_log": "communication_log.reseal"}


def _grant(conn: sa.Connection, table: str) -> str | None:
    """The grant that lets this transaction re-encrypt `table`'s values (None: not needed)."""
    name = RESEAL_GRANTS.get(table)
    if name is None:
        return None
    txid = None
    if conn.dialect.name == "postgresql":
        txid = conn.execute(sa.text("SELECT txid_current()")).scalar_one()
    conn.execute(sa.insert(_GRANTS).values(table_name=name, max_key=None, txid=txid))
    return name


def _progress(kid: str, table: str) -> tuple[int, bool]:
    with unit_of_work() as db:
        row = (
            db.connection()
            .execute(
                sa.select(_PROGRESS.c.last_id, _PROGRESS.c.done).where(
                    _PROGRESS.c.kid == kid, _PROGRESS.c.table_name == table
                )
            )
            .first()
        )
    return (row.last_id, row.done) if row else (0, False)


def _save_progress(conn: sa.Connection, kid: str, table: str, last_id: int, done: bool) -> None:
    values = {"last_id": last_id, "done": done, "updated_at": utcnow()}
    updated = conn.execute(
        sa.update(_PROGRESS)
        .where(_PROGRESS.c.kid == kid, _PROGRESS.c.table_name == table)
        .values(**values)
    ).rowcount
    if not updated:
        conn.execute(sa.insert(_PROGRESS).values(kid=kid, table_name=table, **values))


def _rewrite_table(
    kid: str, table: str, pk: str, columns: tuple[str, ...], batch: int, *, resume: bool
) -> int:
    """One pass over `table` from its recorded progress; the number of values re-encrypted."""
    ring = get_keyring()
    t = _table(table, pk, columns)
    last, done = _progress(kid, table) if resume else (0, False)
    if done and resume:
        return 0
    rewritten = 0
    while True:
        with unit_of_work(write=True) as db:
            conn = db.connection()
            rows = conn.execute(
                sa.select(t.c[pk], t.c.row_key, *[t.c[c] for c in columns])
                .where(t.c[pk] > last)
                .order_by(t.c[pk])
                .limit(batch)
            ).all()
            granted = _grant(conn, table) if rows else None
            for row in rows:
                for c in columns:
                    old = getattr(row, c)
                    if old is None or key_id_of(old) == kid:
                        continue
                    old = bytes(old)
                    new = ring.seal(table, c, row.row_key, ring.open(table, c, row.row_key, old))
                    # Only if still the value read: a concurrent save keeps its own value.
                    rewritten += conn.execute(
                        sa.update(t)
                        .where(t.c[pk] == getattr(row, pk), t.c[c] == old)
                        .values({c: new})
                    ).rowcount
            if granted:
                conn.execute(sa.delete(_GRANTS).where(_GRANTS.c.table_name == granted))
            if rows:
                last = getattr(rows[-1], pk)
            _save_progress(conn, kid, table, last, done=len(rows) < batch)
        if len(rows) < batch:
            return rewritten


def _left_under_old_keys(kid: str) -> int:
    left = 0
    with unit_of_work() as db:
        conn = db.connection()
        for table, pk, columns in _targets():
            t = _table(table, pk, columns)
            for c in columns:
                for (value,) in conn.execute(sa.select(t.c[c]).where(t.c[c].is_not(None))):
                    if key_id_of(value) != kid:
                        left += 1
    return left


def rotate(*, batch: int = 500, progress: Callable[[str], None] | None = None) -> RotationReport:
    """Re-encrypt every value with the ring's newest key (see the module's docstring)."""
    ring = get_keyring()
    kid = ring.current
    say = progress or (lambda _m: None)
    with unit_of_work(write=True) as db:
        check_keys(db.connection(), ring)  # the new key's check value, before any value uses it
        audit.record(db, actor=SYSTEM, action="keys.rotation_started", entity="keys", entity_id=kid)
    report = RotationReport(kid)
    resume = True
    while True:
        report.passes += 1
        for table, pk, columns in _targets():
            n = _rewrite_table(kid, table, pk, columns, batch, resume=resume)
            report.rewritten[table] = report.rewritten.get(table, 0) + n
            say(f"{table}: {n} values re-encrypted")
        n = sealed_files.rewrap_files(say=say)
        report.rewritten["files"] = report.rewritten.get("files", 0) + n
        left = _left_under_old_keys(kid) + sealed_files.left_under_old_keys(kid)
        if left == 0:
            break
        say(f"{left} values written meanwhile under an older key: another pass")
        resume = False
    with unit_of_work(write=True) as db:
        conn = db.connection()
        old = [
            k
            for (k,) in conn.execute(
                sa.select(_CANARIES.c.kid).where(
                    _CANARIES.c.kid != kid, _CANARIES.c.retired_at.is_(None)
                )
            )
        ]
        if old:
            conn.execute(
                sa.update(_CANARIES).where(_CANARIES.c.kid.in_(old)).values(retired_at=utcnow())
            )
        report.retired = old
        audit.record(
            db,
            actor=SYSTEM,
            action="keys.rotated",
            entity="keys",
            entity_id=kid,
            changes={"rewritten": report.rewritten, "passes": report.passes, "retired": old},
        )
    return report
