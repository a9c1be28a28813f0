"""Retention: how long each kind of record is kept, and the daily purge of what is past it.

A record's clock starts at its end, its last change: a conversation at its last message, an
interaction at the latest of its date, its last edit and its voiding, a follow-up (done or
cancelled; open ones are never due) at the latest of its due date and its last change, an
attachment at its upload, an audit event at its time. The purge removes what is past retention
and not under a legal hold (services.legal_holds), in batches of BATCH, one transaction each,
and records each batch in the audit trail: the kind, how many, their ids and the SHA-256 of each
record as it was (its row and its children's rows, canonical JSON).

The audit trail and the communication log are append-only (database triggers). The purge goes
past them through the one sanctioned path: a row in `retention_purge_grants` that exists only
inside the purge's own transaction (on PostgreSQL the triggers also check it is that
transaction; for the audit trail only up to the granted seq). Audit events go as a prefix of the
chain: the purge's own event carries the last removed event's seq and hash, and
`audit.verify_chain` starts from it, so verification still passes after a purge and still names
any other change.

Portfolio transactions: holdings and cash are computed from the whole ledger, so a portfolio's
transactions dated before the cut go portfolio by portfolio, replaced in the same transaction by
opening entries (kind `opening`, dated the day before the cut): one per position (quantity,
cost, realized P&L) and one per cash currency (balance, contributions), the state the removed
entries left. The ledger computed after equals the one before (checked before anything is
deleted; a portfolio that would differ is left alone and logged), so holdings, cash and each
day's value from the cut on are unchanged. A portfolio of a held firm, or with an old transaction
a hold covers (its trader, the broker who booked it, its date), keeps all its transactions.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, has, require
from brm_app.db import unit_of_work, utcnow
from brm_app.encryption.columns import ENCRYPTED, new_row_key, open_row, seal_row
from brm_app.jobs.queue import ClaimedJob, enqueue
from brm_app.models.audit import AuditEvent, AuditSealedValues
from brm_app.models.communication import (
    CommunicationLogEntry,
    CommunicationLogTerm,
    Conversation,
    ConversationParticipant,
    ConversationRead,
    InboundTriage,
    Message,
    MessageAttachment,
    MessageDelivery,
    MessageRead,
    MessageSearchTerm,
)
from brm_app.models.follow_up import AppSetting, FollowUp, FollowUpStatus, FollowUpTrader, Reminder
from brm_app.models.interaction import Interaction, InteractionTrader, InteractionVersion
from brm_app.models.portfolio import OmsExecution, Portfolio, PortfolioTransaction, TxKind
from brm_app.models.retention import PurgeGrant, RetentionPublic
from brm_app.services import app_settings, attachments, audit, legal_holds
from brm_app.services.errors import ValidationFailed
from brm_app.services.legal_holds import HeldSets

log = logging.getLogger(__name__)

KEY = "retention"
DEFAULTS = {
    "communications": 3,
    "attachments": 3,
    "interactions": 6,
    "follow_ups": 6,
    "transactions": 6,
    "audit_trail": 6,
}
MIN_YEARS, MAX_YEARS = 1, 10
BATCH = 200
PURGE_KIND = "retention.purge"
AUDIT_PURGE_ACTION = "retention.purged_audit"
PURGED_ACTION = "retention.purged"


# ---- settings ----------------------------------------------------------------------------------


def get_retention(db: Session) -> RetentionPublic:
    row = db.get(AppSetting, KEY)
    stored = json.loads(row.value) if row is not None else {}
    return RetentionPublic(**{k: int(stored.get(k, v)) for k, v in DEFAULTS.items()})


def read_retention(db: Session, *, actor: Actor | SystemActor) -> RetentionPublic:
    """Admins (settings) and compliance (legal holds) read the periods."""
    require(
        actor,
        Permission.APP_SETTINGS if has(actor, Permission.APP_SETTINGS) else Permission.LEGAL_HOLDS,
    )
    return get_retention(db)


def update_retention(
    db: Session, *, actor: Actor | SystemActor, years: dict[str, Any]
) -> RetentionPublic:
    """Admins set each kind's period, 1 to 10 years; audited."""
    require(actor, Permission.APP_SETTINGS)
    if not isinstance(years, dict):
        raise ValidationFailed("must give years per kind of record", field="years")
    unknown = set(years) - set(DEFAULTS)
    if unknown:
        raise ValidationFailed(f"unknown kind {sorted(unknown)[0]}", field="years")
    current = get_retention(db).model_dump()
    after = dict(current)
    for kind, value in years.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not MIN_YEARS <= value <= MAX_YEARS
        ):
            raise ValidationFailed(
                f"must be a whole number of years from {MIN_YEARS} to {MAX_YEARS}", field=kind
            )
        after[kind] = value
    app_settings._store(db, actor, KEY, current, after)
    return RetentionPublic(**after)


def cutoff(now: datetime, years: int) -> datetime:
    """`years` calendar years before `now` (29 February goes to the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


# ---- the daily job -------------------------------------------------------------------------------


def schedule_daily(db: Session) -> None:
    """The runner's periodic chore: one purge job per UTC day (the idempotency key)."""
    day = utcnow().date()
    enqueue(
        db,
        PURGE_KIND,
        {"day": day.year * 10_000 + day.month * 100 + day.day},
        key=f"{PURGE_KIND}:{day.isoformat()}",
    )


def purge_job(job: ClaimedJob) -> None:
    run_purge()


@dataclass
class PurgeReport:
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def run_purge(
    *, now: datetime | None = None, engine: Engine | None = None, batch: int = BATCH
) -> PurgeReport:
    """Purge every kind, batch after batch (one transaction each) until nothing is due."""
    now = now or utcnow()
    counts: dict[str, int] = {}
    for kind, purge in _PURGES:
        counts[kind] = 0
        while True:
            with unit_of_work(write=True, engine=engine) as db:
                years = getattr(get_retention(db), kind)
                done, files = purge(db, cutoff(now, years), legal_holds.active(db), batch)
            attachments.remove_unused(engine, files)
            counts[kind] += done
            if done < batch:
                break
    if any(counts.values()):
        log.info("retention purge: %s", counts)
    return PurgeReport(counts)


# ---- helpers ---------------------------------------------------------------------------------------


def _rows(db: Session, table: Any, where: Any) -> list[dict[str, Any]]:
    """The rows as their plaintext: a purged record's digest must not depend on the key
    that happened to encrypt it (or on its row_key, a storage detail)."""
    result = db.connection().execute(sa.select(table).where(where).order_by(table.c[_pk(table)]))
    rows = [dict(r._mapping) for r in result]
    sealed = ENCRYPTED.get(table.name)
    if sealed:
        for r in rows:
            r.update(open_row(table.name, r, sealed))
            del r["row_key"]
    return rows


def _pk(table: Any) -> str:
    return str(next(iter(table.primary_key.columns)).name)


def _digest(record: dict[str, Any]) -> str:
    return str(hashlib.sha256(audit.canonical(record).encode()).hexdigest())


def _group(rows: Iterable[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out


def _record(db: Session, kind: str, cut: datetime, ids: list[Any], hashes: list[str]) -> None:
    audit.record(
        db,
        actor=SystemActor(),
        action=PURGED_ACTION,
        entity="retention",
        entity_id=kind,
        changes={"kind": kind, "count": len(ids), "before": cut, "ids": ids, "hashes": hashes},
    )


def _grant(db: Session, table: str, max_key: int | None = None) -> None:
    """Open the append-only table for this transaction's DELETE (see the module docstring)."""
    conn = db.connection()
    txid = None
    if conn.dialect.name == "postgresql":
        txid = conn.execute(sa.text("SELECT txid_current()")).scalar_one()
    conn.execute(
        sa.insert(PurgeGrant.__table__).values(  # type: ignore[attr-defined]
            table_name=table, max_key=max_key, txid=txid
        )
    )


def _revoke(db: Session, table: str) -> None:
    grants = PurgeGrant.__table__  # type: ignore[attr-defined]
    db.connection().execute(sa.delete(grants).where(grants.c.table_name == table))


def _t(model: Any) -> Any:
    return model.__table__


# ---- one batch per kind --------------------------------------------------------------------------


def _purge_communications(
    db: Session, cut: datetime, held: HeldSets, batch: int
) -> tuple[int, list[str]]:
    """Conversations whose last message is older than the cut, with everything in them."""
    c = Conversation
    ids = list(
        db.exec(
            select(c.id)
            .where(c.last_message_at < cut, sa.not_(legal_holds.conversation_held(held)))
            .order_by(col(c.id))
            .limit(batch)
        ).all()
    )
    if not ids:
        return 0, []
    convs = _rows(db, _t(c), col(c.id).in_(ids))
    msgs = _rows(db, _t(Message), col(Message.conversation_id).in_(ids))
    msg_ids = [m["id"] for m in msgs] or [0]
    files = _rows(db, _t(MessageAttachment), col(MessageAttachment.conversation_id).in_(ids))
    by_conv = _group(msgs, "conversation_id")
    files_by_conv = _group(files, "conversation_id")
    hashes = [
        _digest(
            {
                "conversation": conv,
                "messages": by_conv.get(conv["id"], []),
                "attachments": files_by_conv.get(conv["id"], []),
            }
        )
        for conv in convs
    ]
    conn = db.connection()
    conn.execute(sa.delete(_t(MessageRead)).where(col(MessageRead.message_id).in_(msg_ids)))
    conn.execute(
        sa.delete(_t(CommunicationLogTerm)).where(
            col(CommunicationLogTerm.entry_id).in_(
                sa.select(_t(CommunicationLogEntry).c.id).where(
                    col(CommunicationLogEntry.conversation_id).in_(ids)
                )
            )
        )
    )
    _grant(db, "communication_log")
    conn.execute(
        sa.delete(_t(CommunicationLogEntry)).where(
            col(CommunicationLogEntry.conversation_id).in_(ids)
        )
    )
    _revoke(db, "communication_log")
    conn.execute(sa.delete(_t(MessageDelivery)).where(col(MessageDelivery.message_id).in_(msg_ids)))
    conn.execute(
        sa.update(_t(InboundTriage))
        .where(
            sa.or_(
                col(InboundTriage.conversation_id).in_(ids),
                col(InboundTriage.message_id).in_(msg_ids),
            )
        )
        .values(conversation_id=None, message_id=None)
    )
    conn.execute(
        sa.delete(_t(MessageAttachment)).where(col(MessageAttachment.conversation_id).in_(ids))
    )
    conn.execute(
        sa.update(_t(Message))
        .where(col(Message.conversation_id).in_(ids))
        .values(correction_of_id=None)
    )
    conn.execute(
        sa.delete(_t(MessageSearchTerm)).where(col(MessageSearchTerm.message_id).in_(msg_ids))
    )
    conn.execute(sa.delete(_t(Message)).where(col(Message.conversation_id).in_(ids)))
    for model in (ConversationParticipant, ConversationRead):
        conn.execute(sa.delete(_t(model)).where(col(model.conversation_id).in_(ids)))
    conn.execute(sa.delete(_t(c)).where(col(c.id).in_(ids)))
    _record(db, "communications", cut, ids, hashes)
    return len(ids), [f["sha256"] for f in files]


def _purge_attachments(
    db: Session, cut: datetime, held: HeldSets, batch: int
) -> tuple[int, list[str]]:
    """Files uploaded before the cut (their messages stay, naming the file and its hash)."""
    a, c = MessageAttachment, Conversation
    held_conv = select(c.id).where(legal_holds.conversation_held(held))
    ids = list(
        db.exec(
            select(a.id)
            .where(a.created_at < cut, col(a.conversation_id).not_in(held_conv))
            .order_by(col(a.id))
            .limit(batch)
        ).all()
    )
    if not ids:
        return 0, []
    rows = _rows(db, _t(a), col(a.id).in_(ids))
    db.connection().execute(sa.delete(_t(a)).where(col(a.id).in_(ids)))
    _record(db, "attachments", cut, ids, [_digest(r) for r in rows])
    return len(ids), [r["sha256"] for r in rows]


def _purge_interactions(
    db: Session, cut: datetime, held: HeldSets, batch: int
) -> tuple[int, list[str]]:
    i, it = Interaction, InteractionTrader
    ids = list(
        db.exec(
            select(i.id)
            .where(
                i.occurred_at < cut,
                i.updated_at < cut,
                sa.or_(col(i.voided_at).is_(None), col(i.voided_at) < cut),
                sa.not_(legal_holds.interaction_held(held)),
            )
            .order_by(col(i.id))
            .limit(batch)
        ).all()
    )
    if not ids:
        return 0, []
    rows = _rows(db, _t(i), col(i.id).in_(ids))
    versions = _group(
        _rows(db, _t(InteractionVersion), col(InteractionVersion.interaction_id).in_(ids)),
        "interaction_id",
    )
    links = _group(_rows(db, _t(it), col(it.interaction_id).in_(ids)), "interaction_id")
    hashes = [
        _digest(
            {
                "interaction": r,
                "versions": versions.get(r["id"], []),
                "traders": links.get(r["id"], []),
            }
        )
        for r in rows
    ]
    conn = db.connection()
    conn.execute(sa.delete(_t(it)).where(col(it.interaction_id).in_(ids)))
    conn.execute(
        sa.delete(_t(InteractionVersion)).where(col(InteractionVersion.interaction_id).in_(ids))
    )
    conn.execute(
        sa.update(_t(FollowUp))
        .where(col(FollowUp.interaction_id).in_(ids))
        .values(interaction_id=None)
    )
    conn.execute(sa.delete(_t(i)).where(col(i.id).in_(ids)))
    from brm_app.services.interactions import _refresh_last_contact

    for firm_id in sorted({r["firm_id"] for r in rows}):
        _refresh_last_contact(db, firm_id)
    _record(db, "interactions", cut, ids, hashes)
    return len(ids), []


def _purge_follow_ups(
    db: Session, cut: datetime, held: HeldSets, batch: int
) -> tuple[int, list[str]]:
    f, ft = FollowUp, FollowUpTrader
    ids = list(
        db.exec(
            select(f.id)
            .where(
                col(f.status).in_([FollowUpStatus.DONE.value, FollowUpStatus.CANCELLED.value]),
                f.due_at < cut,
                f.updated_at < cut,
                sa.not_(legal_holds.follow_up_held(held)),
            )
            .order_by(col(f.id))
            .limit(batch)
        ).all()
    )
    if not ids:
        return 0, []
    rows = _rows(db, _t(f), col(f.id).in_(ids))
    links = _group(_rows(db, _t(ft), col(ft.follow_up_id).in_(ids)), "follow_up_id")
    hashes = [_digest({"follow_up": r, "traders": links.get(r["id"], [])}) for r in rows]
    conn = db.connection()
    conn.execute(sa.delete(_t(ft)).where(col(ft.follow_up_id).in_(ids)))
    conn.execute(sa.delete(_t(Reminder)).where(col(Reminder.follow_up_id).in_(ids)))
    conn.execute(sa.delete(_t(f)).where(col(f.id).in_(ids)))
    _record(db, "follow_ups", cut, ids, hashes)
    return len(ids), []


def _tx_held(held: HeldSets) -> Any:
    """SQL: a portfolio transaction a hold covers (its trader, the broker who booked it, a day
    that meets a held date range)."""
    t = PortfolioTransaction
    conds: list[Any] = [sa.false()]
    if held.trader_ids:
        conds.append(col(t.trader_id).in_(held.trader_ids))
    if held.broker_ids:
        conds.append(col(t.created_by_id).in_(held.broker_ids))
    for a, b in held.ranges:
        last = (b - timedelta(microseconds=1)).date()
        conds.append(sa.and_(col(t.trade_date) >= a.date(), col(t.trade_date) <= last))
    return sa.or_(*conds)


def _ledger_key(ledger: Any) -> tuple[Any, ...]:
    """A ledger as compared before and after (to the 10 decimals the database keeps)."""
    q = Decimal("1e-10")

    def n(v: Decimal) -> Decimal:
        return v.quantize(q)

    positions = {
        iid: (p.currency, n(p.quantity), n(p.cost), n(p.realized))
        for iid, p in ledger.positions.items()
        if p.quantity or p.cost or p.realized
    }
    cash = {c: n(v) for c, v in ledger.cash.items() if v}
    contrib = {c: n(v) for c, v in ledger.contributions.items() if v}
    return positions, cash, contrib


def _openings(ledger: Any) -> list[tuple[int | None, str, Decimal | None, Decimal, Decimal]]:
    """(instrument, currency, quantity, amount, price) of the opening entries of a ledger."""
    out: list[tuple[int | None, str, Decimal | None, Decimal, Decimal]] = []
    for iid, p in sorted(ledger.positions.items()):
        if p.quantity or p.cost or p.realized:
            out.append((iid, p.currency, p.quantity, p.cost, p.realized))
    for currency in sorted(set(ledger.cash) | set(ledger.contributions)):
        cash, contrib = ledger.cash.get(currency, Decimal(0)), ledger.contributions.get(currency)
        if cash or contrib:
            out.append((None, currency, None, cash, contrib or Decimal(0)))
    return out


def _purge_transactions(
    db: Session, cut: datetime, held: HeldSets, batch: int
) -> tuple[int, list[str]]:
    """Transactions dated before the cut, portfolio by portfolio, each replaced by opening
    entries first (see the module docstring). Stops once `batch` transactions went."""
    from brm_app.services.ledger import Tx, compute
    from brm_app.services.portfolios import _txs, refresh_snapshot

    t = PortfolioTransaction
    cut_day = cut.date()
    opening_day = cut_day - timedelta(days=1)
    old = sa.and_(col(t.portfolio_id) == col(Portfolio.id), col(t.trade_date) < cut_day)
    conds: list[Any] = [
        sa.exists().where(old, col(t.kind) != TxKind.OPENING.value),
        sa.not_(sa.exists().where(old, _tx_held(held))),
    ]
    if held.firm_ids:
        conds.append(col(Portfolio.firm_id).not_in(held.firm_ids))
    portfolio_ids = list(
        db.exec(select(Portfolio.id).where(*conds).order_by(col(Portfolio.id)).limit(batch)).all()
    )
    purged: list[int] = []
    hashes: list[str] = []
    for pid in portfolio_ids:
        if len(purged) >= batch:
            break
        portfolio = db.get(Portfolio, pid)
        assert portfolio is not None and pid is not None
        every = _txs(db, pid)
        old_ids = {x.id for x in every if x.trade_date < cut_day}
        # An old transaction reversed by a kept one stays (the pair counts for nothing).
        kept_originals = {
            x.reverses_id for x in every if x.reverses_id in old_ids and x.id not in old_ids
        }
        gone = [x for x in every if x.id in old_ids and x.id not in kept_originals]
        if not any(x.kind != TxKind.OPENING.value for x in gone):
            continue
        gone_ids = {x.id for x in gone}
        start = compute(gone, allow_short=True)
        entries = _openings(start)
        opening_txs = [
            Tx(
                id=-(i + 1),
                kind=TxKind.OPENING.value,
                trade_date=opening_day,
                currency=currency,
                instrument_id=iid,
                quantity=qty,
                price=price,
                amount=amount,
            )
            for i, (iid, currency, qty, amount, price) in enumerate(entries)
        ]
        before = compute(every, allow_short=True)
        after = compute(
            [*opening_txs, *(x for x in every if x.id not in gone_ids)], allow_short=True
        )
        if _ledger_key(before) != _ledger_key(after):
            log.error("retention: portfolio %s kept whole (its opening balances differ)", pid)
            continue
        rows = _rows(db, _t(t), col(t.id).in_(gone_ids))
        conn = db.connection()
        for iid, currency, qty, amount, price in entries:
            conn.execute(
                sa.insert(_t(t)).values(
                    seal_row(
                        "portfolio_transactions",
                        {
                            "portfolio_id": pid,
                            "kind": TxKind.OPENING.value,
                            "instrument_id": iid,
                            "trade_date": opening_day,
                            "settlement_date": opening_day,
                            "quantity": qty,
                            "price": price,
                            "amount": amount,
                            "currency": currency,
                            "fees": Decimal(0),
                            "source": "manual",
                            "row_key": new_row_key(),
                            "note": "Opening balance: transactions before "
                            f"{cut_day.isoformat()} purged",
                            "created_at": utcnow(),
                        },
                    )
                )
            )
        conn.execute(
            sa.update(_t(OmsExecution))
            .where(col(OmsExecution.transaction_id).in_(gone_ids))
            .values(transaction_id=None)
        )
        # Reversing entries first: they name their originals.
        conn.execute(
            sa.delete(_t(t)).where(col(t.id).in_(gone_ids), col(t.reverses_id).is_not(None))
        )
        conn.execute(sa.delete(_t(t)).where(col(t.id).in_(gone_ids)))
        refresh_snapshot(db, portfolio)
        purged.extend(r["id"] for r in rows)
        hashes.extend(_digest(r) for r in rows)
    if not purged:
        return 0, []
    _record(db, "transactions", cut, purged, hashes)
    return len(purged), []


def _audit_event_held(ev: AuditEvent, held: HeldSets) -> bool:
    """Directly: the event is about a held firm, trader or broker, was made by a held broker,
    or happened in a held date range."""
    entity_id = ev.entity_id or ""
    return (
        (ev.entity == "firm" and entity_id in {str(i) for i in held.firm_ids})
        or (ev.entity == "trader" and entity_id in {str(i) for i in held.trader_ids})
        or (ev.entity == "user" and entity_id in {str(i) for i in held.broker_ids})
        or (ev.actor_id is not None and ev.actor_id in held.broker_ids)
        or held.moment_held(ev.occurred_at)
    )


def _ids(value: Any) -> set[int]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, int) and not isinstance(v, bool)}
    return set()


def _held_records(db: Session, entity: str, ids: set[int], held: HeldSets) -> set[int]:
    """Of these records of `entity`, the ids a hold covers (as the purge of that kind sees it)."""
    t = PortfolioTransaction
    checks: dict[str, tuple[Any, Any]] = {
        "interaction": (Interaction.id, legal_holds.interaction_held(held)),
        "follow_up": (FollowUp.id, legal_holds.follow_up_held(held)),
        "conversation": (Conversation.id, legal_holds.conversation_held(held)),
        "portfolio_transaction": (
            t.id,
            sa.or_(
                _tx_held(held),
                sa.exists().where(
                    col(Portfolio.id) == col(t.portfolio_id),
                    col(Portfolio.firm_id).in_(held.firm_ids or {0}),
                ),
            ),
        ),
        "portfolio": (Portfolio.id, col(Portfolio.firm_id).in_(held.firm_ids or {0})),
    }
    if entity not in checks or not ids:
        return set()
    id_col, cond = checks[entity]
    return set(db.exec(select(id_col).where(col(id_col).in_(ids), cond)).all())


def _held_events(db: Session, events: list[AuditEvent], held: HeldSets) -> set[int]:
    """The seqs of the events a hold covers: directly (`_audit_event_held`), by what their
    changes name (a firm, traders, an assignee, a conversation), or because the record they are
    about is held (an interaction, follow-up, conversation or portfolio transaction of a held
    firm, trader or broker, or of a held period)."""
    if not held.any():
        return set()
    out: set[int] = set()
    about: dict[str, dict[int, list[int]]] = {}
    for ev in events:
        if _audit_event_held(ev, held):
            out.add(ev.seq)
            continue
        try:
            changes = json.loads(ev.changes) if ev.changes else {}
        except ValueError:
            changes = {}
        if not isinstance(changes, dict):
            changes = {}
        firms = _ids(changes.get("firm_id"))
        traders = _ids(changes.get("trader_id")) | _ids(changes.get("trader_ids"))
        brokers = _ids(changes.get("assignee_id")) | _ids(changes.get("broker_id"))
        if firms & held.firm_ids or traders & held.trader_ids or brokers & held.broker_ids:
            out.add(ev.seq)
            continue
        for conv in _ids(changes.get("conversation_id")):
            about.setdefault("conversation", {}).setdefault(conv, []).append(ev.seq)
        if ev.entity_id and ev.entity_id.isdigit():
            about.setdefault(ev.entity, {}).setdefault(int(ev.entity_id), []).append(ev.seq)
    for entity, by_id in about.items():
        for record_id in _held_records(db, entity, set(by_id), held):
            out.update(by_id[record_id])
    return out


def _purge_audit_trail(
    db: Session, cut: datetime, held: HeldSets, batch: int
) -> tuple[int, list[str]]:
    """The chain's oldest events, as a prefix: up to the first one that is recent or held."""
    events = db.exec(select(AuditEvent).order_by(col(AuditEvent.seq)).limit(batch)).all()
    head = db.exec(select(sa.func.max(AuditEvent.seq))).one()
    held_seqs = _held_events(db, list(events), held)
    gone: list[AuditEvent] = []
    for ev in events:
        if ev.seq == head:  # the head stays: the chain never starts over from nothing
            break
        occurred = ev.occurred_at
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=cut.tzinfo)
        if occurred >= cut or ev.seq in held_seqs:
            break
        gone.append(ev)
    if not gone:
        return 0, []
    last = gone[-1]
    changes = {
        "kind": "audit_trail",
        "count": len(gone),
        "before": cut,
        "first_seq": gone[0].seq,
        "through_seq": last.seq,
        "through_hash": last.hash,
        "hashes": [ev.hash for ev in gone],
    }
    db.expunge_all()
    _grant(db, "audit_events", last.seq)
    db.connection().execute(sa.delete(_t(AuditEvent)).where(col(AuditEvent.seq) <= last.seq))
    # Their encrypted values (encryption at rest) go with them: kept apart from the chain, not past it.
    db.connection().execute(
        sa.delete(_t(AuditSealedValues)).where(col(AuditSealedValues.seq) <= last.seq)
    )
    _revoke(db, "audit_events")
    audit.record(
        db,
        actor=SystemActor(),
        action=AUDIT_PURGE_ACTION,
        entity="retention",
        entity_id="audit_trail",
        changes=changes,
    )
    return len(gone), []


_PURGES = (
    ("communications", _purge_communications),
    ("attachments", _purge_attachments),
    ("interactions", _purge_interactions),
    ("follow_ups", _purge_follow_ups),
    ("transactions", _purge_transactions),
    ("audit_trail", _purge_audit_trail),
)
