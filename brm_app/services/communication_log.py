"""The communication log: every message on every channel, and every change of a delivery's status,
appended as it was at that moment, never updated or deleted.

Each entry's content hash goes into the audit trail's hash chain (action "communication.logged",
in the same transaction), so an entry altered in the database no longer matches the hash the
chain vouches for, and `brm audit verify` names it (`verify_log`). Compliance and admins search
the whole log and export a result as CSV or as a package (JSON lines, the attachments, and a
manifest of every file's SHA-256).

The sender, recipients and content are encrypted at rest, and the content hash is a keyed digest
(HMAC with the blind-index key, 32 hex characters) of the plaintext: a plain SHA-256 would let
anyone holding the database confirm a guessed text. Entries written before encryption keep the
plain SHA-256 (64 hex characters) the audit chain already vouches for. The text search matches
whole words through `communication_log_terms` (keyed digests of the words).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.encryption import get_keyring, terms
from brm_app.encryption.columns import open_row
from brm_app.encryption.keyring import UndecryptableValue
from brm_app.models.audit import AuditEvent
from brm_app.models.communication import (
    Channel,
    CommunicationLogEntry,
    CommunicationLogTerm,
    Direction,
    LogEntryPublic,
    MessageAttachment,
)
from brm_app.services import audit
from brm_app.services.errors import ValidationFailed
from brm_app.services.pagination import Page, PageRequest
from brm_app.services.validation import optional_id, require_text

AnyActor = Actor | SystemActor
ACTION = "communication.logged"
ENTITY = "communication_log"
EXPORT_MAX = 50_000
_TERMS = CommunicationLogTerm.__table__  # type: ignore[attr-defined]
_LOG = CommunicationLogEntry.__table__  # type: ignore[attr-defined]

# The fields an entry's hash covers: all of its content.
_HASHED = (
    "kind",
    "occurred_at",
    "message_id",
    "conversation_id",
    "firm_id",
    "broker_id",
    "trader_id",
    "channel",
    "direction",
    "sender",
    "recipients",
    "content",
    "attachments",
    "delivery_id",
    "status",
    "attempts",
    "provider_message_id",
    "error",
)


HASH_PURPOSE = "communication_log.entry"
_LEGACY_HASH_LENGTH = 64  # a plain SHA-256, written before encryption at rest


def content_hash(entry: Any, *, legacy: bool = False) -> str:
    """The keyed digest of the entry's whole content (`legacy`: the plain SHA-256 of entries
    written before encryption at rest)."""
    data = {name: getattr(entry, name) for name in _HASHED}
    data["occurred_at"] = entry.occurred_at.isoformat()
    canonical = audit.canonical(data)
    if legacy:
        return hashlib.sha256(canonical.encode()).hexdigest()
    return get_keyring().digest(HASH_PURPOSE, canonical)


def _matches(entry: Any, recorded: str) -> bool:
    legacy = len(recorded) == _LEGACY_HASH_LENGTH
    return content_hash(entry, legacy=legacy) == recorded


def _index_terms(db: Session, entries: list[CommunicationLogEntry]) -> None:
    """The entries' words into the search index (one insert)."""
    rows = [
        {"entry_id": e.id, "term": t}
        for e in entries
        for t in terms.terms(terms.LOG, e.content, e.sender, e.recipients)
    ]
    if rows:
        db.connection().execute(sa.insert(_TERMS), rows)


def _vouched(entry: CommunicationLogEntry) -> dict[str, Any]:
    """What the audit event of an entry records (its hash: the entry's whole content)."""
    return {
        "kind": entry.kind,
        "message_id": entry.message_id,
        "channel": entry.channel,
        "direction": entry.direction,
        "status": entry.status,
        "content_hash": entry.content_hash,
    }


def append(
    db: Session, *, actor: AnyActor | None, entry: CommunicationLogEntry
) -> CommunicationLogEntry:
    """Add one entry and vouch for it in the audit chain (inside the caller's transaction)."""
    entry.occurred_at = entry.occurred_at or utcnow()
    entry.content_hash = content_hash(entry)
    db.add(entry)
    db.flush()
    _index_terms(db, [entry])
    audit.record(
        db,
        actor=actor,
        action=ACTION,
        entity=ENTITY,
        entity_id=entry.id,
        changes=_vouched(entry),
        actor_label=None if actor is not None else "system:provider",
    )
    return entry


def append_many(
    db: Session, *, actor: AnyActor | None, entries: list[CommunicationLogEntry]
) -> None:
    """`append` for several entries (a batch of deliveries): the same rows and the same audit
    events, in order, with one insert of the entries and one of the events."""
    if not entries:
        return
    for entry in entries:
        entry.occurred_at = entry.occurred_at or utcnow()
        entry.content_hash = content_hash(entry)
    db.add_all(entries)
    db.flush()
    _index_terms(db, entries)
    audit.record_many(
        db,
        actor=actor,
        events=[audit.Change(ACTION, ENTITY, entry.id, _vouched(entry)) for entry in entries],
        actor_label=None if actor is not None else "system:provider",
    )


@dataclass(frozen=True)
class LogReport:
    ok: bool
    entries: int
    problem: str | None = None
    entry_id: int | None = None


def _opened(row: Any) -> SimpleNamespace | None:
    """A raw log row with its encrypted columns opened (None: one does not open here: changed,
    or moved from another entry, whose row_key it is bound to)."""
    values = dict(row._mapping)
    try:
        values.update(open_row(ENTITY, row))
    except UndecryptableValue:
        return None
    return SimpleNamespace(**values)


def verify_log(db: Session, *, batch: int = 5000) -> LogReport:
    """Each entry against the hash the audit chain recorded for it (run after verify_chain, which
    vouches for the chain itself): names the first entry altered (a ciphertext that does not
    open counts), or missing its audit event."""
    last_id, count = 0, 0
    conn = db.connection()
    while True:
        rows = conn.execute(
            sa.select(_LOG).where(_LOG.c.id > last_id).order_by(_LOG.c.id).limit(batch)
        ).all()
        if not rows:
            break
        ids = [str(r.id) for r in rows]
        vouched: dict[str, str] = {}
        for entity_id, changes in db.exec(
            select(col(AuditEvent.entity_id), col(AuditEvent.changes)).where(
                col(AuditEvent.entity) == ENTITY,
                col(AuditEvent.action) == ACTION,
                col(AuditEvent.entity_id).in_(ids),
            )
        ).all():
            vouched[str(entity_id)] = json.loads(changes).get("content_hash", "")
        for raw in rows:
            recorded = vouched.get(str(raw.id))
            if recorded is None:
                return LogReport(
                    False,
                    count,
                    f"communication log entry {raw.id} has no audit event (added outside the app)",
                    raw.id,
                )
            entry = _opened(raw)
            if entry is None or not (_matches(entry, recorded) and entry.content_hash == recorded):
                return LogReport(
                    False,
                    count,
                    f"communication log entry {raw.id} (message {raw.message_id}) was altered: "
                    "its content no longer matches the hash in the audit trail",
                    raw.id,
                )
            count += 1
            last_id = raw.id
    return LogReport(True, count)


# ---- search and export (compliance, admins) ---------------------------------------------------


@dataclass(frozen=True)
class LogQuery:
    broker_id: int | None = None
    trader_id: int | None = None
    firm_id: int | None = None
    conversation_id: int | None = None
    channel: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    text: str | None = None


def _conditions(db: Session, actor: AnyActor, q: LogQuery) -> list[Any]:
    from brm_app.services.interactions import local_day_bounds, user_zone_name

    require(actor, Permission.COMMS_LOG)
    conds: list[Any] = []
    for name in ("broker_id", "trader_id", "firm_id", "conversation_id"):
        value = optional_id(getattr(q, name), name)
        if value is not None:
            conds.append(getattr(CommunicationLogEntry, name) == value)
    if q.channel:
        if q.channel not in {c.value for c in Channel}:
            raise ValidationFailed("must be in_app, email or sms", field="channel")
        conds.append(col(CommunicationLogEntry.channel) == q.channel)
    start, end = local_day_bounds(q.date_from, q.date_to, user_zone_name(db, actor))
    if start:
        conds.append(col(CommunicationLogEntry.occurred_at) >= start)
    if end:
        conds.append(col(CommunicationLogEntry.occurred_at) < end)
    text = require_text(q.text, "text", max_length=200)
    if text:
        conds.append(col(CommunicationLogEntry.id).in_(with_words(text)))
    return conds


def with_words(text: str) -> Any:
    """The ids of the entries whose content, sender or recipients hold every word of `text`
    (whole words; none when `text` has no word of two characters or more)."""
    wanted = terms.terms(terms.LOG, text)
    if not wanted:
        return sa.select(_TERMS.c.entry_id).where(sa.false())
    return (
        sa.select(_TERMS.c.entry_id)
        .where(_TERMS.c.term.in_(wanted))
        .group_by(_TERMS.c.entry_id)
        .having(sa.func.count(sa.distinct(_TERMS.c.term)) == len(wanted))
    )


def find_subjects(db: Session, *, actor: AnyActor, scope: Any, q: Any) -> list[dict[str, Any]]:
    """Up to 10 firms, traders or brokers whose name contains `q`: the log's filters and the
    triage's assignee are chosen by name, not typed as ids."""
    from brm_app.services.regulator_export import matching_subjects

    require(actor, Permission.COMMS_LOG)
    return matching_subjects(db, scope=scope, q=q)


def to_public(e: CommunicationLogEntry) -> LogEntryPublic:
    return LogEntryPublic(
        entry_id=e.id,
        kind=e.kind,
        occurred_at=e.occurred_at,
        communication_id=e.message_id,
        conversation_id=e.conversation_id,
        firm_id=e.firm_id,
        broker_id=e.broker_id,
        trader_id=e.trader_id,
        message_type=Channel(e.channel),
        direction=Direction(e.direction),
        sender=e.sender,
        recipients=json.loads(e.recipients),
        content=e.content,
        attachments=json.loads(e.attachments),
        status=e.status,
        attempts=e.attempts,
        provider_message_id=e.provider_message_id,
        error=e.error,
        content_hash=e.content_hash,
    )


def search(
    db: Session, *, actor: AnyActor, query: LogQuery, page: PageRequest = PageRequest()
) -> Page[LogEntryPublic]:
    """The whole log, newest first, filtered in SQL."""
    conds = _conditions(db, actor, query)
    rows = db.exec(
        select(CommunicationLogEntry)
        .where(*conds)
        .order_by(
            col(CommunicationLogEntry.occurred_at).desc(), col(CommunicationLogEntry.id).desc()
        )
        .offset(page.offset)
        .limit(page.limit + 1)
    ).all()
    total = db.exec(select(sa.func.count()).select_from(CommunicationLogEntry).where(*conds)).one()
    return Page.build([to_public(r) for r in rows], page=page, total=total)


def _all(db: Session, actor: AnyActor, query: LogQuery) -> Iterator[CommunicationLogEntry]:
    conds = _conditions(db, actor, query)
    count = db.exec(select(sa.func.count()).select_from(CommunicationLogEntry).where(*conds)).one()
    if count > EXPORT_MAX:
        raise ValidationFailed(
            f"{count} entries match: narrow the search to at most {EXPORT_MAX} to export",
            field="__all__",
        )
    yield from db.exec(
        select(CommunicationLogEntry)
        .where(*conds)
        .order_by(col(CommunicationLogEntry.occurred_at), col(CommunicationLogEntry.id))
    ).all()


CSV_COLUMNS = (
    "entry_id",
    "kind",
    "occurred_at",
    "communication_id",
    "conversation_id",
    "firm_id",
    "broker_id",
    "trader_id",
    "message_type",
    "direction",
    "sender",
    "recipients",
    "content",
    "attachments",
    "status",
    "attempts",
    "provider_message_id",
    "error",
    "content_hash",
)


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def _trace_export(db: Session, actor: AnyActor) -> None:
    from brm_app.services import read_traces

    read_traces.trace(db, actor, "export", in_caller=True)


def export_csv(db: Session, *, actor: AnyActor, query: LogQuery) -> str:
    _trace_export(db, actor)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for entry in _all(db, actor, query):
        data = to_public(entry).model_dump(mode="json")
        data["recipients"] = "; ".join(data["recipients"])
        data["attachments"] = "; ".join(
            f"{a.get('filename')} sha256:{a.get('sha256')}" for a in data["attachments"]
        )
        writer.writerow([_cell(data[c]) for c in CSV_COLUMNS])
        n += 1
    audit.record(
        db, actor=actor, action="communication.exported", entity=ENTITY, changes={"csv_rows": n}
    )
    return out.getvalue()


def export_package(db: Session, *, actor: AnyActor, query: LogQuery) -> bytes:
    """A zip: entries.jsonl, attachments/<sha256>-<name>, manifest.json (each file's SHA-256)."""
    from brm_app.services import attachments

    _trace_export(db, actor)

    buffer = io.BytesIO()
    manifest: dict[str, str] = {}
    lines: list[str] = []
    message_ids: set[int] = set()
    for entry in _all(db, actor, query):
        lines.append(json.dumps(to_public(entry).model_dump(mode="json"), sort_keys=True))
        message_ids.add(entry.message_id)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        body = ("\n".join(lines) + ("\n" if lines else "")).encode()
        zf.writestr("entries.jsonl", body)
        manifest["entries.jsonl"] = hashlib.sha256(body).hexdigest()
        if message_ids:
            for att in db.exec(
                select(MessageAttachment).where(col(MessageAttachment.message_id).in_(message_ids))
            ).all():
                name = f"attachments/{att.sha256}-{attachments.safe_name(att.filename)}"
                if name in manifest:  # the same file sent in several messages: stored once
                    continue
                data = attachments.read_stored(att.sha256)
                zf.writestr(name, data)
                manifest[name] = hashlib.sha256(data).hexdigest()
        zf.writestr("manifest.json", json.dumps({"sha256": manifest}, indent=2, sort_keys=True))
    audit.record(
        db,
        actor=actor,
        action="communication.exported",
        entity=ENTITY,
        changes={"package_entries": len(lines), "files": len(manifest)},
    )
    return buffer.getvalue()
