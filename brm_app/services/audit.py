"""The audit trail: append-only, hash-chained events for every change and every sign-in.

Each event stores the previous event's hash and its own hash over its content, so
`verify_chain` finds an edited event (its hash no longer matches), a removed one (a gap in `seq`)
and a reordered one (its `prev_hash` no longer names its predecessor).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.encryption import get_keyring
from brm_app.encryption.columns import new_row_key
from brm_app.models.audit import AuditEvent, AuditEventPublic, AuditSealedValues
from brm_app.models.user import User, email_index
from brm_app.services.errors import NotFound
from brm_app.services.pagination import Page, PageRequest, escape_like
from brm_app.services.validation import require_id

GENESIS = "0" * 64
# Any fixed number: the advisory lock that serialises chain appends on PostgreSQL.
_PG_LOCK_KEY = 7_270_001


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)


_HASHED = (
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "entity",
    "entity_id",
    "changes",
    "ip",
    "prev_hash",
)


def _hash_of(values: dict[str, Any]) -> str:
    """The hash over an event's content (`values`: its fields by name, occurred_at a datetime)."""
    body = canonical(
        {k: values[k].isoformat() if k == "occurred_at" else values[k] for k in _HASHED}
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _content_hash(event: AuditEvent) -> str:
    return _hash_of({k: getattr(event, k) for k in _HASHED})


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Only what changed, as {field: {"before": x, "after": y}}."""
    out = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            out[key] = {"before": before.get(key), "after": after.get(key)}
    return out


_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
# Core statements on the caller's connection: every change of every service appends an event,
# and the ORM's unit of work around two plain statements cost more than the statements.
_HEAD = sa.select(_EVENTS.c.seq, _EVENTS.c.hash).order_by(_EVENTS.c.seq.desc()).limit(1)
_APPEND = sa.insert(_EVENTS)
_PG_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")


def _lock_chain(db: Session) -> tuple[int, str]:
    """Hold the chain (until the transaction ends) and answer its head: (next seq, prev hash).
    What the caller added is flushed first, as before (its ids are assigned when this returns)."""
    db.flush()
    conn = db.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_LOCK, {"k": _PG_LOCK_KEY})
    head = conn.execute(_HEAD).first()
    return (head[0] + 1, head[1]) if head else (1, GENESIS)


def _who(
    actor: Actor | SystemActor | None, ip: str | None, actor_label: str | None
) -> tuple[int | None, str, str | None]:
    """(actor_id, actor_label, ip) of an event."""
    if actor is None:
        actor_id, label = None, actor_label or "anonymous"
    else:
        actor_id, label = actor.user_id, actor_label or actor.label
    return actor_id, label[:300], (ip if ip is not None else getattr(actor, "ip", None))


# The fields each entity keeps encrypted (brm_app/encryption): in an event they become a keyed
# digest (covered by the chain), their value goes encrypted into audit_sealed_values.
SENSITIVE_FIELDS: dict[str, frozenset[str]] = {
    "trader": frozenset({"email", "phone", "mobile"}),
    # A user's (sign-in) email: encrypted in users (user created / changed).
    "user": frozenset({"email", "mobile"}),
    "firm": frozenset({"street", "postal_code", "phone", "email", "website", "notes"}),
    "interaction": frozenset({"notes"}),
    "follow_up": frozenset({"notes"}),
    # A reversal's reason is the transaction's note (encrypted there).
    "portfolio_transaction": frozenset({"reason", "note"}),
    # An opt-out (STOP) or opt-in (START): the mobile number (encrypted in sms_opt_outs).
    "sms_opt_out": frozenset({"number"}),
}
_SEALED = AuditSealedValues.__table__  # type: ignore[attr-defined]


def _protect(value: Any, fields: frozenset[str], out: dict[str, str], path: str) -> Any:
    """`value` with every string under a sensitive key replaced by {"digest": ...}; the
    strings collected into `out` by their path."""
    if isinstance(value, dict):
        done = {}
        for key, item in value.items():
            here = f"{path}/{key}"
            if key in fields or (path.rsplit("/", 1)[-1] in fields and key in ("before", "after")):
                if isinstance(item, str):
                    out[here] = item
                    done[key] = {"digest": get_keyring().digest("audit", item)}
                    continue
                if isinstance(item, dict):
                    done[key] = _protect(item, fields | {"before", "after"}, out, here)
                    continue
            done[key] = _protect(item, fields, out, here)
        return done
    if isinstance(value, list):
        return [_protect(v, fields, out, f"{path}/{i}") for i, v in enumerate(value)]
    return value


def _sealed(seq: int, values: dict[str, str]) -> dict[str, Any]:
    row_key = new_row_key()
    payload = get_keyring().seal("audit_sealed_values", "payload", row_key, canonical(values))
    return {"seq": seq, "row_key": row_key, "payload": payload}


def sealed_values(db: Session, seq: int) -> dict[str, str]:
    """The encrypted values of event `seq` (path -> plaintext), for compliance."""
    return sealed_values_of(db, [seq]).get(seq, {})


def sealed_values_of(db: Session, seqs: Sequence[int]) -> dict[int, dict[str, str]]:
    """The encrypted values of many events (seq -> path -> plaintext), read in chunks."""
    out: dict[int, dict[str, str]] = {}
    ordered = sorted(set(seqs))
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        for row in db.connection().execute(sa.select(_SEALED).where(_SEALED.c.seq.in_(chunk))):
            out[row.seq] = json.loads(
                get_keyring().open("audit_sealed_values", "payload", row.row_key, row.payload)
            )
    return out


def reveal_values(db: Session, *, actor: Actor, seq: object) -> dict[str, str]:
    """The encrypted values of event `seq` in clear (path -> value; empty when it has none), to
    admins and compliance, who browse the trail; the reading is traced like a contact reveal."""
    require(actor, Permission.AUDIT_VIEW)
    number = require_id(seq, "seq")
    if db.exec(select(AuditEvent.id).where(AuditEvent.seq == number)).first() is None:
        raise NotFound("No such audit event.")
    values = sealed_values(db, number)
    if values:
        from brm_app.services import read_traces  # it imports services that import this one

        read_traces.trace(db, actor, "audit_values", number)
    return values


def _row(
    seq: int,
    prev: str,
    who: tuple[int | None, str, str | None],
    action: str,
    entity: str,
    entity_id: Any,
    changes: dict[str, Any] | None,
) -> dict[str, Any]:
    """One event's column values, its hash included."""
    row: dict[str, Any] = {
        "seq": seq,
        "occurred_at": utcnow(),
        "actor_id": who[0],
        "actor_label": who[1],
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "changes": canonical(json.loads(canonical(changes or {}))),
        "_sealed": {},
        "ip": who[2],
        "prev_hash": prev,
    }
    fields = SENSITIVE_FIELDS.get(entity)
    if fields:
        protected = _protect(json.loads(row["changes"]), fields, row["_sealed"], "")
        row["changes"] = canonical(protected)
    row["hash"] = _hash_of(row)
    return row


def _append(db: Session, rows: list[dict[str, Any]]) -> None:
    sealed = [_sealed(r["seq"], r["_sealed"]) for r in rows if r["_sealed"]]
    db.connection().execute(_APPEND, [{k: v for k, v in r.items() if k != "_sealed"} for r in rows])
    if sealed:
        db.connection().execute(sa.insert(_SEALED), sealed)


def record(
    db: Session,
    *,
    actor: Actor | SystemActor | None,
    action: str,
    entity: str,
    entity_id: Any = None,
    changes: dict[str, Any] | None = None,
    ip: str | None = None,
    actor_label: str | None = None,
) -> None:
    """Append one event to the chain, inside the caller's transaction."""
    seq, prev = _lock_chain(db)
    row = _row(seq, prev, _who(actor, ip, actor_label), action, entity, entity_id, changes)
    _append(db, [row])


@dataclass(frozen=True)
class Change:
    """One event of a batch (see record_many)."""

    action: str
    entity: str
    entity_id: Any
    changes: dict[str, Any]


def record_many(
    db: Session,
    *,
    actor: Actor | SystemActor | None,
    events: Sequence[Change],
    actor_label: str | None = None,
) -> None:
    """Append one event per change, in order, inside the caller's transaction: the same events
    (one each, chained one after the other) as calling `record` for each, in one round trip.
    For bulk work (imports), where a flush per event was most of the cost."""
    if not events:
        return
    seq, prev = _lock_chain(db)
    who = _who(actor, None, actor_label)
    rows = []
    for offset, c in enumerate(events):
        row = _row(seq + offset, prev, who, c.action, c.entity, c.entity_id, c.changes)
        prev = row["hash"]
        rows.append(row)
    _append(db, rows)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    head_hash: str
    problem: str | None = None
    first_bad_seq: int | None = None
    first_bad_id: int | None = None


# The retention purge's event for a removed prefix of the chain (services.retention): it names
# the last removed event's seq and hash, and verification starts from them.
PURGE_ANCHOR_ACTION = "retention.purged_audit"


def _start_of_chain(db: Session) -> tuple[int, str] | ChainReport:
    """Where verification starts: (first seq, the hash it must follow). At #1 that is the genesis
    hash; after a purge, the anchor event's `through_hash` (the anchor is itself in the chain,
    so its hash covers what it says). A missing start without an anchor is a removal."""
    first = db.exec(
        select(AuditEvent.seq, AuditEvent.id).order_by(col(AuditEvent.seq)).limit(1)
    ).first()
    if first is None or first[0] == 1:
        return 1, GENESIS
    anchors = db.exec(
        select(AuditEvent)
        .where(AuditEvent.action == PURGE_ANCHOR_ACTION)
        .order_by(col(AuditEvent.seq).desc())
    ).all()
    for ev in anchors:
        data = json.loads(ev.changes)
        if data.get("through_seq") == first[0] - 1 and isinstance(data.get("through_hash"), str):
            return first[0], data["through_hash"]
    for ev in anchors:  # an edited anchor is named as what it is
        if _content_hash(ev) != ev.hash:
            return ChainReport(
                False,
                0,
                GENESIS,
                f"event #{ev.seq} (id {ev.id}, {ev.action}) was altered: "
                "its content no longer matches its hash",
                ev.seq,
                ev.id,
            )
    return ChainReport(
        False,
        0,
        GENESIS,
        f"events #1 to #{first[0] - 1} are missing (removed): the chain starts at #{first[0]} "
        f"(id {first[1]}) and no retention purge accounts for them",
        1,
        first[1],
    )


def verify_chain(db: Session, *, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in order and name the first event that was altered, removed or moved.
    A prefix removed by the retention purge is accounted for by the purge's own event."""
    start = _start_of_chain(db)
    if isinstance(start, ChainReport):
        return start
    expected_seq, prev_hash, count = start[0], start[1], 0
    last_seq = expected_seq - 1
    while True:
        rows = db.exec(
            select(AuditEvent)
            .where(AuditEvent.seq > last_seq)
            .order_by(AuditEvent.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for ev in rows:
            if ev.seq != expected_seq:
                return ChainReport(
                    False,
                    count,
                    prev_hash,
                    f"event #{expected_seq} is missing (removed): the chain jumps from "
                    f"#{expected_seq - 1} to #{ev.seq} (id {ev.id})",
                    expected_seq,
                    ev.id,
                )
            if _content_hash(ev) != ev.hash:
                return ChainReport(
                    False,
                    count,
                    prev_hash,
                    f"event #{ev.seq} (id {ev.id}, {ev.action}) was altered: "
                    "its content no longer matches its hash",
                    ev.seq,
                    ev.id,
                )
            if ev.prev_hash != prev_hash:
                return ChainReport(
                    False,
                    count,
                    prev_hash,
                    f"event #{ev.seq} (id {ev.id}, {ev.action}) is out of place: it does not "
                    f"follow event #{ev.seq - 1} (events were reordered or removed)",
                    ev.seq,
                    ev.id,
                )
            prev_hash, expected_seq, count = ev.hash, expected_seq + 1, count + 1
            last_seq = ev.seq
        db.expunge_all()
    return ChainReport(True, count, prev_hash)


def _public(ev: AuditEvent) -> AuditEventPublic:
    return AuditEventPublic(
        event_id=ev.id,
        seq=ev.seq,
        occurred_at=ev.occurred_at,
        actor_id=ev.actor_id,
        actor_label=ev.actor_label,
        action=ev.action,
        entity=ev.entity,
        entity_id=ev.entity_id,
        changes=json.loads(ev.changes),
        ip=ev.ip,
    )


def list_events(
    db: Session,
    *,
    actor: Actor,
    page: PageRequest,
    actor_q: str | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Page[AuditEventPublic]:
    """Admins and compliance browse the trail, newest first, filtered in SQL."""
    require(actor, Permission.AUDIT_VIEW)
    conds: list[Any] = []
    if actor_q and actor_q.strip():
        # Events name their actor by name and id ("Mia Manager #3"); a whole email (encrypted
        # in users: matched by its blind index) finds the events of that user.
        q = actor_q.strip()
        by = [AuditEvent.actor_label.ilike(f"{escape_like(q.lower())}%", escape="\\")]
        if "@" in q:
            user_id = select(User.id).where(User.email_bidx == email_index(q)).scalar_subquery()
            by.append(AuditEvent.actor_id == user_id)
        conds.append(sa.or_(*by))
    if entity:
        conds.append(AuditEvent.entity == entity)
    if entity_id:
        conds.append(AuditEvent.entity_id == entity_id)
    if action:
        conds.append(AuditEvent.action == action)
    if date_from:
        conds.append(
            AuditEvent.occurred_at >= datetime.combine(date_from, time(), tzinfo=utcnow().tzinfo)
        )
    if date_to:
        end = datetime.combine(date_to + timedelta(days=1), time(), tzinfo=utcnow().tzinfo)
        conds.append(AuditEvent.occurred_at < end)
    stmt = select(AuditEvent).where(*conds).order_by(AuditEvent.seq.desc())
    total = db.exec(select(func.count()).select_from(AuditEvent).where(*conds)).one()
    rows = db.exec(stmt.offset(page.offset).limit(page.limit + 1)).all()
    return Page.build([_public(r) for r in rows], page=page, total=total)


def entity_names(db: Session) -> list[str]:
    return list(db.exec(select(AuditEvent.entity).distinct().order_by(AuditEvent.entity)).all())
