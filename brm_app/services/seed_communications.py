"""Bulk conversations and messages for the benchmark (`python -m bench`): a million messages in
fifty thousand conversations, written in seconds.

Written straight into the tables with Core executemany in batches (like services.seed and
services.seed_portfolios), not through the conversation service: a million service calls would
take hours. What the service would otherwise guarantee is kept by construction:
- a conversation belongs to a firm, is started by a broker who covers it, and has one or two of
  its traders (given portal access, as in-app messages need) and that broker as participants;
- messages alternate between the broker (outbound, mostly in-app, some email) and the trader
  (inbound, in-app or by email), their ids grow with their times (the app pages by id), and each
  conversation's `last_message_at` is its last message's time;
- the starting broker has read all but the last few messages of each conversation (unread counts).
Sizes are skewed like real books: most conversations are short, a few have hundreds of messages.
The communication log is not seeded (no read measured here touches it; what the benchmark sends
is logged and chained by the app itself).
Everything happens in the caller's single write transaction: a failure leaves nothing behind.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from brm_app.encryption.columns import new_row_key, seal_value
from brm_app.models.communication import (
    Channel,
    Conversation,
    ConversationParticipant,
    ConversationRead,
    Direction,
    Message,
)
from brm_app.models.firm import Firm, FirmCoverage
from brm_app.models.trader import Trader
from brm_app.services.conversations import index_words

BATCH = 20_000
_SETVAL = "SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
_WORDS = [
    "price",
    "bid",
    "offer",
    "spread",
    "yield",
    "curve",
    "desk",
    "order",
    "fill",
    "block",
    "allocation",
    "margin",
    "settle",
    "trade",
    "confirm",
    "book",
    "client",
    "risk",
    "limit",
    "hedge",
    "swap",
    "bond",
    "equity",
    "call",
    "put",
    "strike",
    "expiry",
    "volume",
    "close",
    "open",
    "market",
    "session",
    "liquidity",
    "quote",
    "indicative",
    "firm",
    "level",
    "size",
    "tomorrow",
    "today",
    "thanks",
]


@dataclass(frozen=True)
class CommsPlan:
    messages: int = 1_000_000
    conversations: int = 50_000
    seed: int = 1
    # The messages span the year before this moment.
    anchor: datetime = datetime(2026, 3, 2, tzinfo=UTC)
    days: int = 365


@dataclass
class CommsSeedResult:
    conversations: int = 0
    participants: int = 0
    messages: int = 0
    portal_traders: int = 0
    largest_conversation: int = 0
    first_conversation_id: int = 0
    last_conversation_id: int = 0
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)


def _insert(
    db: Session, model: type[SQLModel], columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    table = model.__table__  # type: ignore[attr-defined]
    conn = db.connection()
    batch: list[dict[str, Any]] = []
    n = 0
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) >= BATCH:
            conn.execute(table.insert(), batch)
            n += len(batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
        n += len(batch)
    return n


def _sizes(rng: random.Random, conversations: int, messages: int) -> list[int]:
    """Messages per conversation: at least one each, the rest spread by a heavy-tailed weight."""
    weights = [min(rng.paretovariate(1.3), 400.0) for _ in range(conversations)]
    spare = messages - conversations
    total = sum(weights)
    sizes = [1 + int(w / total * spare) for w in weights]
    short = messages - sum(sizes)
    for i in rng.sample(range(conversations), min(conversations, short)):
        sizes[i] += 1
    return sizes


def _text(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(4, 30))
    return " ".join(words).capitalize() + "."


def bulk_load_communications(
    db: Session, plan: CommsPlan, *, progress: Callable[[str], None] = lambda _: None
) -> CommsSeedResult:
    if plan.conversations < 1 or plan.messages < plan.conversations:
        raise ValueError("at least one message per conversation")
    rng = random.Random(plan.seed)
    result = CommsSeedResult()
    started = t = time.perf_counter()
    conn = db.connection()
    covering: dict[int, int] = {}
    for firm_id, broker_id in conn.execute(
        sa.select(FirmCoverage.firm_id, FirmCoverage.broker_id)  # type: ignore[call-overload]
        .join(Firm, Firm.id == FirmCoverage.firm_id)
        .where(
            Firm.archived_at.is_(None),  # type: ignore[union-attr]
            FirmCoverage.role == "primary",
        )
        .order_by(FirmCoverage.firm_id)
    ):
        covering[firm_id] = broker_id
    traders: dict[int, list[int]] = {}
    for trader_id, firm_id in conn.execute(
        sa.select(Trader.id, Trader.firm_id)  # type: ignore[call-overload]
        .where(Trader.archived_at.is_(None))  # type: ignore[union-attr]
        .order_by(Trader.id)
    ):
        if firm_id in covering:
            traders.setdefault(firm_id, []).append(trader_id)
    firms = sorted(traders)
    if not firms:
        raise ValueError("no covered firm with traders: seed the book first")
    first_conv = (conn.execute(sa.select(sa.func.max(Conversation.id))).scalar() or 0) + 1
    first_msg = (conn.execute(sa.select(sa.func.max(Message.id))).scalar() or 0) + 1

    # Conversations: firm, broker, traders; sizes and times.
    sizes = _sizes(rng, plan.conversations, plan.messages)
    span = timedelta(days=plan.days).total_seconds()
    start_at = plan.anchor - timedelta(days=plan.days)
    convs: list[tuple[int, int, int, list[int]]] = []  # id, firm, broker, traders
    timeline: list[tuple[float, int, int]] = []  # (seconds after start_at, conversation, nth)
    for n in range(plan.conversations):
        firm_id = rng.choice(firms)
        pool = traders[firm_id]
        people = rng.sample(pool, 2 if len(pool) > 1 and rng.random() < 0.2 else 1)
        cid = first_conv + n
        convs.append((cid, firm_id, covering[firm_id], people))
        begin = rng.uniform(0, span * 0.9)
        step = (span - begin) / (sizes[n] + 1)
        timeline.extend((begin + step * (k + rng.random() * 0.5), cid, k) for k in range(sizes[n]))
    timeline.sort()
    result.steps["plan"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()

    conv_by_id = {c[0]: c for c in convs}
    last_at: dict[int, datetime] = {}
    ids_of: dict[int, list[int]] = {}
    # Messages written whose words are not yet in the search index (added every BATCH).
    words: list[tuple[int, str]] = []

    def message_rows() -> Iterable[tuple[Any, ...]]:
        for i, (offset, cid, k) in enumerate(timeline):
            mid = first_msg + i
            _, firm_id, broker_id, people = conv_by_id[cid]
            trader_id = people[k % len(people)]
            at = start_at + timedelta(seconds=offset)
            last_at[cid] = at
            ids_of.setdefault(cid, []).append(mid)
            if k % 2 == 0:  # the broker writes
                channel = Channel.EMAIL if rng.random() < 0.15 else Channel.IN_APP
                row: tuple[int | None, int | None, int, Channel, Direction] = (
                    broker_id,
                    None,
                    trader_id,
                    channel,
                    Direction.OUTBOUND,
                )
            else:  # the trader answers
                channel = Channel.EMAIL if rng.random() < 0.1 else Channel.IN_APP
                row = (None, trader_id, trader_id, channel, Direction.INBOUND)
            if i and i % 200_000 == 0:
                progress(f"#   {i:,} of {len(timeline):,} messages")
            text = _text(rng)
            row_key = new_row_key()
            words.append((mid, text))
            yield (
                mid,
                cid,
                firm_id,
                row[0],
                row[1],
                row[2],
                row[3].value,
                row[4].value,
                row_key,
                seal_value("messages", "text", row_key, text),
                None,
                at,
            )
            if len(words) >= BATCH:
                index_words(conn, words)
                words.clear()

    # Conversations first (the messages refer to them); their times are known from the plan.
    times: dict[int, tuple[float, float]] = {}
    for offset, cid, _ in timeline:
        lo, _hi = times.get(cid, (offset, offset))
        times[cid] = (lo, offset)
    result.conversations = _insert(
        db,
        Conversation,
        (
            "id",
            "firm_id",
            "started_by_id",
            "subject",
            "reply_token",
            "created_at",
            "last_message_at",
        ),
        (
            (
                cid,
                firm_id,
                broker_id,
                f"Bench conversation {cid}",
                f"bench-{plan.seed}-{cid}",
                start_at + timedelta(seconds=times[cid][0]),
                start_at + timedelta(seconds=times[cid][1]),
            )
            for cid, firm_id, broker_id, _ in convs
        ),
    )

    def participant_rows() -> Iterable[tuple[Any, ...]]:
        for cid, _, broker_id, people in convs:
            joined = start_at + timedelta(seconds=times[cid][0])
            for trader_id in people:
                yield (cid, trader_id, None, joined)
            yield (cid, None, broker_id, joined)

    result.participants = _insert(
        db,
        ConversationParticipant,
        ("conversation_id", "trader_id", "user_id", "joined_at"),
        participant_rows(),
    )
    result.steps["conversations"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    result.messages = _insert(
        db,
        Message,
        (
            "id",
            "conversation_id",
            "firm_id",
            "sender_user_id",
            "sender_trader_id",
            "trader_id",
            "channel",
            "direction",
            "row_key",
            "text",
            "correction_of_id",
            "sent_at",
        ),
        message_rows(),
    )
    index_words(conn, words)
    result.steps["messages"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    # The starting broker has read all but the last 0-3 messages.
    _insert(
        db,
        ConversationRead,
        ("conversation_id", "user_id", "last_read_message_id", "read_at"),
        (
            (
                cid,
                broker_id,
                ids_of[cid][max(0, len(ids_of[cid]) - 1 - rng.randint(0, 3))],
                last_at[cid],
            )
            for cid, _, broker_id, _ in convs
        ),
    )
    portal = sorted({t for c in convs for t in c[3]})
    trader_table = sa.table("traders", sa.column("id"), sa.column("portal_access"))
    for i in range(0, len(portal), 500):
        conn.execute(
            sa.update(trader_table)
            .where(trader_table.c.id.in_(portal[i : i + 500]))
            .values(portal_access=True)
        )
    result.portal_traders = len(portal)
    if conn.dialect.name == "postgresql":
        for name in ("conversations", "conversation_participants", "messages"):
            conn.exec_driver_sql(_SETVAL.format(name=name))
    conn.exec_driver_sql("ANALYZE")
    result.steps["reads_and_analyze"] = round(time.perf_counter() - t, 2)
    result.largest_conversation = max(sizes)
    result.first_conversation_id = first_conv
    result.last_conversation_id = first_conv + plan.conversations - 1
    result.seconds = round(time.perf_counter() - started, 2)
    return result
