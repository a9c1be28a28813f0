"""Regulator export: everything about a firm, a trader or a broker over a date range, as one zip.

Inside: each kind of record as JSON lines and as CSV (firms, coverage, traders and their moves,
interactions with every saved version, follow-ups, portfolio transactions, conversations,
messages, deliveries, the communication log), the attachments, the audit events that touch any of
those records (they re-create every change), a README, and `manifest.json` with the SHA-256 of
every file. `brm export verify ARCHIVE` recomputes the digests and names any file altered,
missing or added.

A request is a row and a job: the job builds the archive with its progress in the row, and keeps
it on disk encrypted (AES-256-GCM, key derived from BRM_SECRET_KEY, bound to the export's id) until
someone downloads it. Requesting and each download are in the audit trail.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel
from sqlmodel import Session, SQLModel, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import unit_of_work, utcnow
from brm_app.encryption import files as sealed_files
from brm_app.jobs import queue
from brm_app.jobs.queue import ClaimedJob, PermanentJobError
from brm_app.models.audit import AuditEvent
from brm_app.models.communication import (
    CommunicationLogEntry,
    Conversation,
    Message,
    MessageAttachment,
    MessageDelivery,
)
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.follow_up import FollowUp, FollowUpTrader
from brm_app.models.interaction import Interaction, InteractionTrader, InteractionVersion
from brm_app.models.portfolio import Portfolio, PortfolioTransaction
from brm_app.models.review import ExportScope, RegulatorExport
from brm_app.models.trader import Trader, TraderMove
from brm_app.models.user import Role, User
from brm_app.services import audit
from brm_app.services.errors import NotFound, ValidationFailed
from brm_app.services.validation import require_day, require_id, rid
from brm_app.settings import get_settings

AnyActor = Actor | SystemActor
P = Permission
BUILD_KIND = "regulator_export.build"
MAX_DAYS = 3660  # ten years
_CHUNK = 500  # ids per IN (...) list
# The user columns an archive may hold (never a password hash or a second-factor secret).
_USER_COLUMNS = ("id", "email", "name", "role", "manager_id", "is_active", "created_at")


# ---- requesting, listing, downloading ---------------------------------------------------------


class ExportPublic(BaseModel):
    export_id: int
    scope: str
    scope_id: int
    scope_label: str
    date_from: date
    date_to: date
    status: str
    progress: int
    records: int
    files: int
    size: int
    archive_sha256: str | None
    error: str | None
    requested_by_id: int
    created_at: datetime
    finished_at: datetime | None
    downloads: int


def _public(e: RegulatorExport) -> ExportPublic:
    return ExportPublic(
        export_id=rid(e.id),
        scope=e.scope,
        scope_id=e.scope_id,
        scope_label=e.scope_label,
        date_from=e.date_from,
        date_to=e.date_to,
        status=e.status,
        progress=e.progress,
        records=e.records,
        files=e.files,
        size=e.size,
        archive_sha256=e.archive_sha256,
        error=e.error,
        requested_by_id=e.requested_by_id,
        created_at=e.created_at,
        finished_at=e.finished_at,
        downloads=e.downloads,
    )


def _day(value: Any, name: str) -> date:
    return require_day(value, name)


def _label(db: Session, scope: ExportScope, scope_id: int) -> str:
    """The subject's name; NotFound when there is no such firm, trader or broker."""
    if scope == ExportScope.FIRM:
        firm = db.get(Firm, scope_id)
        if firm is not None:
            return f"Firm {firm.name}"
        raise NotFound("Firm")
    if scope == ExportScope.TRADER:
        trader = db.get(Trader, scope_id)
        if trader is not None:
            return f"Trader {trader.name}"
        raise NotFound("Trader")
    user = db.get(User, scope_id)
    if user is None or user.role not in (Role.BROKER, Role.MANAGER):
        raise NotFound("Broker")
    return f"Broker {user.name}"


def request_export(
    db: Session,
    *,
    actor: Actor,
    scope: Any,
    scope_id: Any,
    date_from: Any,
    date_to: Any,
) -> ExportPublic:
    require(actor, P.REGULATOR_EXPORT)
    if scope not in {s.value for s in ExportScope}:
        raise ValidationFailed("must be firm, trader or broker", field="scope")
    checked_scope = ExportScope(scope)
    subject = require_id(scope_id, "scope_id")
    start, end = _day(date_from, "date_from"), _day(date_to, "date_to")
    if end < start:
        raise ValidationFailed("must not be before the start date", field="date_to")
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed("at most ten years per export", field="date_to")
    row = RegulatorExport(
        requested_by_id=actor.user_id,
        scope=checked_scope.value,
        scope_id=subject,
        scope_label=_label(db, checked_scope, subject)[:300],
        date_from=start,
        date_to=end,
    )
    db.add(row)
    db.flush()
    queue.enqueue(db, BUILD_KIND, {"export_id": rid(row.id)}, key=f"{BUILD_KIND}:{row.id}")
    audit.record(
        db,
        actor=actor,
        action="regulator_export.requested",
        entity="regulator_export",
        entity_id=row.id,
        changes={"scope": row.scope, "scope_id": subject, "from": str(start), "to": str(end)},
    )
    return _public(row)


def list_exports(db: Session, *, actor: Actor, limit: int = 50) -> list[ExportPublic]:
    require(actor, P.REGULATOR_EXPORT)
    rows = db.exec(
        select(RegulatorExport).order_by(col(RegulatorExport.id).desc()).limit(limit)
    ).all()
    return [_public(r) for r in rows]


def get_export(db: Session, *, actor: Actor, export_id: Any) -> ExportPublic:
    require(actor, P.REGULATOR_EXPORT)
    row = db.get(RegulatorExport, require_id(export_id, "export_id"))
    if row is None:
        raise NotFound("Export")
    return _public(row)


def download(db: Session, *, actor: Actor, export_id: Any) -> tuple[str, bytes]:
    """The archive (decrypted), recorded as read: (file name, zip bytes)."""
    require(actor, P.REGULATOR_EXPORT)
    row = db.get(RegulatorExport, require_id(export_id, "export_id"))
    if row is None:
        raise NotFound("Export")
    if row.status != "done":
        raise ValidationFailed(f"The export is {row.status}; it can be downloaded once done.")
    data = _unseal(rid(row.id), _path(rid(row.id)).read_bytes())
    if hashlib.sha256(data).hexdigest() != row.archive_sha256:
        raise ValidationFailed("The stored archive does not match its digest; build it again.")
    row.downloads += 1
    db.add(row)
    audit.record(
        db,
        actor=actor,
        action="regulator_export.downloaded",
        entity="regulator_export",
        entity_id=row.id,
        changes={"sha256": row.archive_sha256, "size": len(data)},
    )
    from brm_app.services import read_traces

    read_traces.trace(db, actor, "export", row.id, in_caller=True)
    return f"regulator-export-{row.id}-{row.scope}-{row.scope_id}.zip", data


# ---- encryption at rest -----------------------------------------------------------------------


def _legacy_key() -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"brm-export-v1", info=b"regulator export"
    ).derive(get_settings().secret_key.encode())


def _legacy_open(export_id: int, sealed: bytes) -> bytes:
    """An archive stored before the key ring encrypted files ("v1": a key derived from
    BRM_SECRET_KEY); the start-up step re-encrypts those (encryption.files)."""
    aad = f"regulator_exports:{export_id}".encode()
    return AESGCM(_legacy_key()).decrypt(sealed[2:14], sealed[14:], aad)


def legacy_unseal(path: Path, data: bytes) -> bytes | None:
    """The plaintext of a "v1" archive file, or None when it is not one (left as it is)."""
    m = re.fullmatch(r"regulator-(\d+)\.zip\.enc", path.name)
    if m is None or data[:2] != b"v1":
        return None
    try:
        return _legacy_open(int(m.group(1)), data)
    except InvalidTag:
        return None


def _seal(export_id: int, data: bytes) -> bytes:
    return sealed_files.seal_bytes(
        data, role=sealed_files.REGULATOR_EXPORT, name=_path(export_id).name
    )


def _unseal(export_id: int, sealed: bytes) -> bytes:
    try:
        if sealed[:2] == b"v1":
            return _legacy_open(export_id, sealed)
        return sealed_files.open_bytes(
            sealed, role=sealed_files.REGULATOR_EXPORT, name=_path(export_id).name
        )
    except (InvalidTag, sealed_files.UndecryptableFile):
        raise ValidationFailed(
            "The stored archive cannot be decrypted with this server's keys."
        ) from None


def _path(export_id: int) -> Path:
    return get_settings().data_dir / "exports" / f"regulator-{export_id}.zip.enc"


# ---- building (the job) -----------------------------------------------------------------------


@dataclass
class _Gathered:
    """Records by kind (as JSON-ready dicts), attachment files, and which records are in it."""

    kinds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    attachments: list[MessageAttachment] = field(default_factory=list)
    touched: dict[str, set[int]] = field(default_factory=dict)

    def add(self, kind: str, rows: Iterable[SQLModel], entity: str | None = None) -> list[Any]:
        out = list(rows)
        bucket = self.kinds.setdefault(kind, [])
        seen = {r["id"] for r in bucket if "id" in r}
        for row in out:
            data = row.model_dump()
            if data.get("id") is not None and data["id"] in seen:
                continue
            bucket.append(data)
            if entity and data.get("id") is not None:
                self.touched.setdefault(entity, set()).add(data["id"])
        return out


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def _in(db: Session, model: Any, column: Any, ids: Iterable[int], *extra: Any) -> list[Any]:
    found: list[Any] = []
    for chunk in _chunks(ids):
        found.extend(db.exec(select(model).where(col(column).in_(chunk), *extra)).all())
    return found


def _window(e: RegulatorExport) -> tuple[datetime, datetime]:
    start = datetime.combine(e.date_from, time(), tzinfo=UTC)
    return start, datetime.combine(e.date_to + timedelta(days=1), time(), tzinfo=UTC)


def _during(
    db: Session, model: Any, moment: Any, start: datetime, end: datetime, *who: Any
) -> list[Any]:
    """The rows of `model` for this subject (`who`) whose `moment` falls in [start, end)."""
    return list(db.exec(select(model).where(*who, col(moment) >= start, col(moment) < end)).all())


def _due_or_created(start: datetime, end: datetime) -> Any:
    """A follow-up belongs to the period when it was due or created in it."""
    return sa.or_(
        sa.and_(col(FollowUp.due_at) >= start, col(FollowUp.due_at) < end),
        sa.and_(col(FollowUp.created_at) >= start, col(FollowUp.created_at) < end),
    )


def _gather_interactions(db: Session, g: _Gathered, interactions: Sequence[Interaction]) -> None:
    g.add("interactions", interactions, "interaction")
    ids = [rid(i.id) for i in interactions]
    g.add(
        "interaction_versions", _in(db, InteractionVersion, InteractionVersion.interaction_id, ids)
    )
    g.add("interaction_traders", _in(db, InteractionTrader, InteractionTrader.interaction_id, ids))


def _gather_follow_ups(db: Session, g: _Gathered, rows: Sequence[FollowUp]) -> None:
    g.add("follow_ups", rows, "follow_up")
    ids = [rid(f.id) for f in rows]
    g.add("follow_up_traders", _in(db, FollowUpTrader, FollowUpTrader.follow_up_id, ids))


def _gather_messages(db: Session, g: _Gathered, messages: Sequence[Message]) -> None:
    g.add("messages", messages, "message")
    ids = [rid(m.id) for m in messages]
    conv_ids = {m.conversation_id for m in messages}
    g.add("conversations", _in(db, Conversation, Conversation.id, conv_ids), "conversation")
    g.add("message_deliveries", _in(db, MessageDelivery, MessageDelivery.message_id, ids))
    g.attachments.extend(_in(db, MessageAttachment, MessageAttachment.message_id, ids))
    g.add("message_attachments", g.attachments)


def _gather_firm(db: Session, e: RegulatorExport, g: _Gathered) -> None:
    start, end = _window(e)
    firm_id = e.scope_id
    g.add("firms", db.exec(select(Firm).where(Firm.id == firm_id)).all(), "firm")
    g.add(
        "firm_coverage", db.exec(select(FirmCoverage).where(FirmCoverage.firm_id == firm_id)).all()
    )
    moves = db.exec(
        select(TraderMove).where(
            sa.or_(col(TraderMove.from_firm_id) == firm_id, col(TraderMove.to_firm_id) == firm_id)
        )
    ).all()
    g.add("trader_moves", moves)
    trader_ids = {m.trader_id for m in moves}
    trader_ids |= {rid(t) for t in db.exec(select(Trader.id).where(Trader.firm_id == firm_id))}
    g.add("traders", _in(db, Trader, Trader.id, trader_ids), "trader")
    _gather_interactions(
        db,
        g,
        _during(
            db, Interaction, Interaction.occurred_at, start, end, Interaction.firm_id == firm_id
        ),
    )
    _gather_follow_ups(
        db,
        g,
        db.exec(
            select(FollowUp).where(
                FollowUp.firm_id == firm_id,
                _due_or_created(start, end),
            )
        ).all(),
    )
    g.add(
        "portfolio_transactions",
        db.exec(
            select(PortfolioTransaction)
            .join(Portfolio, col(Portfolio.id) == col(PortfolioTransaction.portfolio_id))
            .where(
                Portfolio.firm_id == firm_id,
                col(PortfolioTransaction.trade_date) >= e.date_from,
                col(PortfolioTransaction.trade_date) <= e.date_to,
            )
        ).all(),
        "portfolio_transaction",
    )
    _gather_messages(
        db,
        g,
        _during(db, Message, Message.sent_at, start, end, Message.firm_id == firm_id),
    )
    g.add(
        "communication_log",
        _during(
            db,
            CommunicationLogEntry,
            CommunicationLogEntry.occurred_at,
            start,
            end,
            CommunicationLogEntry.firm_id == firm_id,
        ),
    )


def _gather_trader(db: Session, e: RegulatorExport, g: _Gathered) -> None:
    start, end = _window(e)
    trader_id = e.scope_id
    traders = g.add(
        "traders", db.exec(select(Trader).where(Trader.id == trader_id)).all(), "trader"
    )
    moves = g.add(
        "trader_moves", db.exec(select(TraderMove).where(TraderMove.trader_id == trader_id)).all()
    )
    firm_ids = {t.firm_id for t in traders} | {m.from_firm_id for m in moves}
    firm_ids |= {m.to_firm_id for m in moves}
    g.add("firms", _in(db, Firm, Firm.id, firm_ids), "firm")
    interaction_ids = db.exec(
        select(InteractionTrader.interaction_id).where(
            InteractionTrader.trader_id == trader_id,
            col(InteractionTrader.occurred_at) >= start,
            col(InteractionTrader.occurred_at) < end,
        )
    ).all()
    _gather_interactions(db, g, _in(db, Interaction, Interaction.id, interaction_ids))
    follow_up_ids = db.exec(
        select(FollowUpTrader.follow_up_id).where(FollowUpTrader.trader_id == trader_id)
    ).all()
    _gather_follow_ups(
        db,
        g,
        _in(
            db,
            FollowUp,
            FollowUp.id,
            follow_up_ids,
            _due_or_created(start, end),
        ),
    )
    g.add(
        "portfolio_transactions",
        db.exec(
            select(PortfolioTransaction).where(
                PortfolioTransaction.trader_id == trader_id,
                col(PortfolioTransaction.trade_date) >= e.date_from,
                col(PortfolioTransaction.trade_date) <= e.date_to,
            )
        ).all(),
        "portfolio_transaction",
    )
    _gather_messages(
        db,
        g,
        _during(
            db,
            Message,
            Message.sent_at,
            start,
            end,
            sa.or_(col(Message.trader_id) == trader_id, col(Message.sender_trader_id) == trader_id),
        ),
    )
    g.add(
        "communication_log",
        _during(
            db,
            CommunicationLogEntry,
            CommunicationLogEntry.occurred_at,
            start,
            end,
            CommunicationLogEntry.trader_id == trader_id,
        ),
    )


def _gather_broker(db: Session, e: RegulatorExport, g: _Gathered) -> None:
    start, end = _window(e)
    broker_id = e.scope_id
    user = db.get(User, broker_id)
    if user is not None:
        g.kinds["users"] = [{c: getattr(user, c) for c in _USER_COLUMNS}]
        g.touched.setdefault("user", set()).add(broker_id)
    coverage = g.add(
        "firm_coverage",
        db.exec(select(FirmCoverage).where(FirmCoverage.broker_id == broker_id)).all(),
    )
    g.add("firms", _in(db, Firm, Firm.id, {c.firm_id for c in coverage}), "firm")
    _gather_interactions(
        db,
        g,
        _during(
            db, Interaction, Interaction.occurred_at, start, end, Interaction.broker_id == broker_id
        ),
    )
    _gather_follow_ups(
        db,
        g,
        db.exec(
            select(FollowUp).where(
                sa.or_(
                    col(FollowUp.assignee_id) == broker_id, col(FollowUp.created_by_id) == broker_id
                ),
                _due_or_created(start, end),
            )
        ).all(),
    )
    _gather_messages(
        db,
        g,
        _during(db, Message, Message.sent_at, start, end, Message.sender_user_id == broker_id),
    )
    g.add(
        "communication_log",
        _during(
            db,
            CommunicationLogEntry,
            CommunicationLogEntry.occurred_at,
            start,
            end,
            CommunicationLogEntry.broker_id == broker_id,
        ),
    )
    # What the broker did in the app over the period, whatever it touched.
    g.add(
        "audit_events",
        _during(
            db, AuditEvent, AuditEvent.occurred_at, start, end, AuditEvent.actor_id == broker_id
        ),
    )


def _gather_audit(db: Session, g: _Gathered) -> None:
    """Every audit event about a record in the archive (its creation and each change)."""
    events: list[AuditEvent] = []
    for entity, ids in g.touched.items():
        for chunk in _chunks(ids):
            events.extend(
                db.exec(
                    select(AuditEvent).where(
                        AuditEvent.entity == entity,
                        col(AuditEvent.entity_id).in_([str(i) for i in chunk]),
                    )
                ).all()
            )
    events.sort(key=lambda ev: ev.seq)
    g.add("audit_events", events)
    g.kinds["audit_events"].sort(key=lambda d: d["seq"])
    # An encrypted value is in the chain as its digest: the archive carries it in clear beside
    # the event (`sealed_values`, path -> value), so every original and change can be re-created.
    opened = audit.sealed_values_of(db, [d["seq"] for d in g.kinds["audit_events"]])
    for d in g.kinds["audit_events"]:
        d["sealed_values"] = opened.get(d["seq"], {})


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _cell(value: Any) -> Any:
    """CSV: numbers stay numbers; text that a spreadsheet would run as a formula is neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    text = _json_default(value) if not isinstance(value, str) else value
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    columns = list(rows[0]) if rows else []
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue().encode()


def _set_progress(export_id: int, **values: Any) -> None:
    with unit_of_work(write=True) as db:
        db.execute(
            sa.update(RegulatorExport).where(col(RegulatorExport.id) == export_id).values(**values)
        )


def build_archive(db: Session, e: RegulatorExport, progress: Any = None) -> tuple[bytes, int, int]:
    """The zip of one export: (bytes, records, files). `progress(percent)` is told as it goes."""
    from brm_app.services import attachments

    tell = progress or (lambda _p: None)
    g = _Gathered()
    {
        ExportScope.FIRM.value: _gather_firm,
        ExportScope.TRADER.value: _gather_trader,
        ExportScope.BROKER.value: _gather_broker,
    }[e.scope](db, e, g)
    tell(40)
    _gather_audit(db, g)
    tell(60)
    buffer = io.BytesIO()
    manifest: dict[str, str] = {}
    counts: dict[str, int] = {}

    def put(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
        zf.writestr(name, data)
        manifest[name] = hashlib.sha256(data).hexdigest()

    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        readme = (
            f"BrokerSync BRM regulator export {e.id}\n"
            f"Subject: {e.scope_label} ({e.scope} {e.scope_id})\n"
            f"Period: {e.date_from} to {e.date_to} (UTC days, inclusive)\n"
            f"Generated: {utcnow().isoformat()}\n\n"
            "Each kind of record is in <kind>.jsonl (one JSON object per line) and <kind>.csv.\n"
            "interaction_versions holds every saved version of each interaction; audit_events\n"
            "every recorded change of every record here (a value kept encrypted in the app is a\n"
            "keyed digest in `changes`, and in clear under its path in `sealed_values`).\n"
            "attachments/ holds the files sent.\n"
            "manifest.json lists the SHA-256 of every other file: `brm export verify` checks it.\n"
        ).encode()
        put(zf, "README.txt", readme)
        for kind in sorted(g.kinds):
            rows = g.kinds[kind]
            counts[kind] = len(rows)
            lines = "".join(
                json.dumps(r, default=_json_default, sort_keys=True) + "\n" for r in rows
            )
            put(zf, f"{kind}.jsonl", lines.encode())
            put(zf, f"{kind}.csv", _csv(rows))
        tell(80)
        for att in {a.sha256: a for a in g.attachments}.values():
            name = f"attachments/{att.sha256}-{attachments.safe_name(att.filename)}"
            put(zf, name, attachments.read_stored(att.sha256))
        body = {
            "export_id": e.id,
            "scope": e.scope,
            "scope_id": e.scope_id,
            "date_from": str(e.date_from),
            "date_to": str(e.date_to),
            "counts": counts,
            "sha256": manifest,
        }
        zf.writestr("manifest.json", json.dumps(body, indent=2, sort_keys=True))
    return buffer.getvalue(), sum(counts.values()), len(manifest)


def build(job: ClaimedJob) -> None:
    """The job handler (payload {"export_id": N}): build, encrypt and store the archive."""
    export_id = job.payload["export_id"]
    with unit_of_work(write=True) as db:
        e = db.get(RegulatorExport, export_id)
        if e is None or e.status == "done":
            return
        e.status, e.progress, e.error = "running", 5, None
        db.add(e)
    try:
        with unit_of_work() as db:
            e = db.get(RegulatorExport, export_id)
            assert e is not None
            data, records, files = build_archive(
                db, e, progress=lambda p: _set_progress(export_id, progress=p)
            )
        path = _path(export_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sealed_files.write_file(path, data, role=sealed_files.REGULATOR_EXPORT)
    except Exception as exc:
        _set_progress(export_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
        raise PermanentJobError(f"regulator export {export_id} failed: {exc}") from exc
    _set_progress(
        export_id,
        status="done",
        progress=100,
        records=records,
        files=files,
        size=len(data),
        archive_sha256=hashlib.sha256(data).hexdigest(),
        finished_at=utcnow(),
    )


# ---- verifying an archive ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    ok: bool
    files: int
    problems: list[str]


def verify_archive(path: Path) -> Verification:
    """Recompute every file's SHA-256 against manifest.json; name each file altered, missing or
    not in the manifest."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                manifest = json.loads(zf.read("manifest.json"))["sha256"]
            except (KeyError, ValueError, TypeError):
                return Verification(False, 0, ["manifest.json is missing or unreadable"])
            names = set(zf.namelist()) - {"manifest.json"}
            for name, digest in sorted(manifest.items()):
                if name not in names:
                    problems.append(f"missing: {name}")
                elif hashlib.sha256(zf.read(name)).hexdigest() != digest:
                    problems.append(f"altered: {name}")
            for name in sorted(names - set(manifest)):
                problems.append(f"not in the manifest: {name}")
    except (zipfile.BadZipFile, OSError) as exc:
        return Verification(False, 0, [f"not a readable zip archive: {exc}"])
    return Verification(not problems, len(manifest), problems)


def find_subjects(db: Session, *, actor: Actor, scope: Any, q: Any) -> list[dict[str, Any]]:
    """Up to 10 firms, traders or brokers whose name contains `q` (to pick an export's subject)."""
    require(actor, P.REGULATOR_EXPORT)
    return matching_subjects(db, scope=scope, q=q)


def matching_subjects(db: Session, *, scope: Any, q: Any) -> list[dict[str, Any]]:
    """find_subjects without its permission check (callers check their own: legal holds)."""
    from brm_app.services.pagination import escape_like
    from brm_app.services.validation import require_text

    if scope not in {s.value for s in ExportScope}:
        raise ValidationFailed("must be firm, trader or broker", field="scope")
    text = require_text(q, "q", max_length=100)
    if not text:
        return []
    like = f"%{escape_like(text.lower())}%"
    if scope == ExportScope.FIRM:
        firms = db.exec(
            select(Firm.id, Firm.name)
            .where(sa.func.lower(Firm.name).like(like, escape="\\"))
            .order_by(col(Firm.name))
            .limit(10)
        ).all()
        return [{"id": i, "label": name} for i, name in firms]
    if scope == ExportScope.TRADER:
        traders = db.exec(
            select(Trader.id, Trader.name, Firm.name)
            .join(Firm, col(Firm.id) == col(Trader.firm_id))
            .where(sa.func.lower(Trader.name).like(like, escape="\\"))
            .order_by(col(Trader.name))
            .limit(10)
        ).all()
        return [{"id": i, "label": f"{name} ({firm})"} for i, name, firm in traders]
    users = db.exec(
        select(User.id, User.name, User.role)
        .where(
            col(User.role).in_([Role.BROKER, Role.MANAGER]),
            sa.func.lower(User.name).like(like, escape="\\"),
        )
        .order_by(col(User.name))
        .limit(10)
    ).all()
    return [{"id": i, "label": f"{name} ({role})"} for i, name, role in users]
