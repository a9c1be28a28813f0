"""The command palette: one query over what the user may see, ranked, plus quick actions.

Finds firms (name words by prefix through the search index, or an exact LEI), traders (name
words by prefix, or an exact email: no partial email matching), recent interactions (subject),
follow-ups (title), conversations (subject) and instruments (symbol or name), each only where
the actor's role has the permission and only the rows the record rules let them see (the same
SQL conditions the lists use). Interactions, follow-ups and conversations are looked up among
the most recent rows the actor may see (RECENT_WINDOW), so a palette answer costs the same on a
book of millions of interactions. Quick actions ("New firm", "Go to calendar", "Log interaction
with <firm>") are offered only to roles that may do them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, has
from brm_app.encryption.columns import blind_index
from brm_app.models.communication import Conversation
from brm_app.models.firm import Firm
from brm_app.models.follow_up import FollowUp
from brm_app.models.interaction import Interaction
from brm_app.models.portfolio import Instrument
from brm_app.models.trader import Trader
from brm_app.navigation import sections_for
from brm_app.services import access, conversations, follow_ups, interactions, search
from brm_app.services.errors import ValidationFailed
from brm_app.services.pagination import escape_like

AnyActor = Actor | SystemActor

MAX_QUERY = 100
PER_KIND = 5
MAX_HITS = 12
# Interactions, follow-ups and conversations: looked for among this many of the latest visible.
RECENT_WINDOW = 500
# Candidates read per kind before ranking (the best of them are kept).
CANDIDATES = 25

KIND_ORDER = {
    "action": 0,
    "firm": 1,
    "trader": 2,
    "follow_up": 3,
    "interaction": 4,
    "conversation": 5,
    "instrument": 6,
}


class PaletteItem(BaseModel):
    kind: str  # firm, trader, interaction, follow_up, conversation, instrument, action
    id: int | None = None
    label: str
    detail: str = ""
    href: str
    # For actions that open a dialog where they land (the page reads it from the query).
    score: int = 0


class PaletteResult(BaseModel):
    query: str
    items: list[PaletteItem]


def _score(label: str, q: str, words: list[str]) -> int:
    """3: the whole label; 2: the label starts with the query; 1: every word starts a word."""
    text = label.casefold()
    needle = q.casefold().strip()
    if text == needle:
        return 3
    if text.startswith(needle):
        return 2
    label_words = search.terms(label)
    if words and all(any(w.startswith(t) for w in label_words) for t in words):
        return 1
    return 0


def _like_prefix(column: Any, q: str) -> Any:
    return sa.func.lower(column).like(escape_like(q.casefold()) + "%", escape="\\")


def _words_like(column: Any, words: list[str]) -> Any:
    """Every word the user typed starts the text or one of its words (bounded rows only)."""
    conds = []
    for w in words:
        pat = escape_like(w)
        conds.append(
            sa.or_(
                sa.func.lower(column).like(pat + "%", escape="\\"),
                sa.func.lower(column).like("% " + pat + "%", escape="\\"),
            )
        )
    return sa.and_(*conds)


def _matching(id_col: Any, ids: Any, actor: AnyActor) -> Any:
    """`id IN (the search index's matches)`. For a broker, whose book is a few thousand traders,
    written `id + 0` so that the database starts from the book
    (the coverage index) and checks each row against the matches: started from the matches,
    a short prefix ("ha": 58,000 traders) had every match read and sorted (40 ms)."""
    return (id_col + 0).in_(ids) if access.works_own_book(actor) else id_col.in_(ids)


def _sort_key(column: Any, actor: AnyActor) -> Any:
    """For a broker, the candidates (a few dozen) are sorted after they are found: ordered by
    the bare column, SQLite without planner statistics walks the whole name index (every live
    trader) to avoid that sort."""
    return column + "" if access.works_own_book(actor) else column


def _unindexed(db: Session, column: str) -> Any:
    """An ORDER BY term SQLite may not read from an index (a unary +): the few candidate firms
    are sorted after they are found by primary key, not found by walking every live firm in name
    order (the plan SQLite picks without statistics once the firms table has its name index)."""
    if db.get_bind().dialect.name == "sqlite":
        return sa.literal_column("+" + column)
    return sa.literal_column(column)


def _firms(db: Session, actor: AnyActor, q: str) -> list[PaletteItem]:
    if not has(actor, Permission.FIRMS_VIEW):
        return []
    lei = q.strip().upper()
    conds: list[Any] = [access.firm_condition(actor)]
    ids = search.firm_ids(db, q)
    if ids is None:
        return []
    if len(lei) == 20 and lei.isalnum():
        conds.append(sa.or_(col(Firm.id).in_(ids), col(Firm.lei) == lei))
    else:
        # A broker's firms are found by primary key from the coverage (firm_condition).
        conds.append(col(Firm.id).in_(ids))
    rows = db.exec(
        select(Firm.id, Firm.name, Firm.lei, Firm.city)
        .where(*conds)
        .order_by(_unindexed(db, "firms.name_key"))
        .limit(CANDIDATES)
    ).all()
    return [
        PaletteItem(
            kind="firm",
            id=fid,
            label=name,
            detail=" · ".join(x for x in ("Firm", city or "", lei or "") if x),
            href=f"/firms/{fid}",
        )
        for fid, name, lei, city in rows
    ]


def _traders(db: Session, actor: AnyActor, q: str) -> list[PaletteItem]:
    if not has(actor, Permission.TRADERS_VIEW):
        return []
    conds: list[Any] = [access.trader_condition(actor)]
    if "@" in q:
        # Exact email only, by its blind index (emails are encrypted).
        conds.append(col(Trader.email_bidx) == blind_index("traders", "email", q.strip()))
    else:
        ids = search.trader_ids(db, q)
        if ids is None:
            return []
        conds.append(_matching(col(Trader.id), ids, actor))
    rows = db.exec(
        select(Trader.id, Trader.name, Firm.name)
        .join(Firm, col(Firm.id) == Trader.firm_id)
        .where(*conds)
        .order_by(_sort_key(Trader.name_key, actor))
        .limit(CANDIDATES)
    ).all()
    return [
        PaletteItem(
            kind="trader", id=tid, label=name, detail=f"Trader · {firm}", href=f"/traders/{tid}"
        )
        for tid, name, firm in rows
    ]


def _recent(
    db: Session, model: Any, text_col: Any, when_col: Any, visible: Any, words: list[str]
) -> list[tuple[int, str, Any]]:
    """Rows among the latest RECENT_WINDOW visible ones whose text has every word. The window
    is ids only, so that it is read from an index ((firm_id, voided_at, occurred_at, id) for a
    broker's interactions): selecting the text there made SQLite read every visible row of
    the broker's firms (thousands) to sort them; the 500 rows of the window are read after."""
    window = (
        select(model.id)
        .where(visible)
        .order_by(when_col.desc(), model.id.desc())
        .limit(RECENT_WINDOW)
    )
    rows = db.exec(
        select(model.id, text_col, Firm.name)
        .join(Firm, col(Firm.id) == model.firm_id, isouter=True)
        .where(col(model.id).in_(window), _words_like(text_col, words))
        .limit(CANDIDATES)
    ).all()
    return [(i, t, f) for i, t, f in rows]


def _interactions(db: Session, actor: AnyActor, words: list[str]) -> list[PaletteItem]:
    if not has(actor, Permission.INTERACTIONS_VIEW):
        return []
    rows = _recent(
        db,
        Interaction,
        Interaction.subject,
        Interaction.occurred_at,
        interactions.visible_condition(actor),
        words,
    )
    return [
        PaletteItem(
            kind="interaction",
            id=i,
            label=t,
            detail=f"Interaction · {f or ''}",
            href=f"/interactions/{i}",
        )
        for i, t, f in rows
    ]


def _follow_ups(db: Session, actor: AnyActor, words: list[str]) -> list[PaletteItem]:
    if not has(actor, Permission.FOLLOW_UPS_VIEW):
        return []
    rows = _recent(
        db,
        FollowUp,
        FollowUp.title,
        FollowUp.due_at,
        follow_ups.visible_condition(actor),
        words,
    )
    return [
        PaletteItem(
            kind="follow_up",
            id=i,
            label=t,
            detail=f"Follow-up · {f or ''}",
            href=f"/follow-ups/{i}",
        )
        for i, t, f in rows
    ]


def _conversations(db: Session, actor: AnyActor, words: list[str]) -> list[PaletteItem]:
    if not has(actor, Permission.COMMS_VIEW):
        return []
    rows = _recent(
        db,
        Conversation,
        Conversation.subject,
        Conversation.last_message_at,
        conversations.conversation_condition(actor),
        words,
    )
    home = "/portal" if isinstance(actor, Actor) and not has(actor, Permission.FIRMS_CREATE) else ""
    return [
        PaletteItem(
            kind="conversation",
            id=i,
            label=t or "(no subject)",
            detail=f"Conversation · {f or ''}",
            href=f"{home or '/communications'}?conversation={i}",
        )
        for i, t, f in rows
    ]


def _instruments(db: Session, actor: AnyActor, q: str) -> list[PaletteItem]:
    if not has(actor, Permission.INSTRUMENTS_MANAGE):
        return []
    text = q.strip()
    rows = db.exec(
        select(Instrument.id, Instrument.symbol, Instrument.name)
        .where(sa.or_(_like_prefix(Instrument.symbol, text), _like_prefix(Instrument.name, text)))
        .order_by(Instrument.symbol)
        .limit(CANDIDATES)
    ).all()
    return [
        PaletteItem(
            kind="instrument",
            id=i,
            label=f"{symbol} · {name}",
            detail="Instrument",
            href="/admin/instruments",
        )
        for i, symbol, name in rows
    ]


def _actions(actor: AnyActor, q: str, top_firm: PaletteItem | None) -> list[PaletteItem]:
    """Quick actions: the sections the actor may open, "New firm", and logging an interaction
    with the best firm found."""
    found: list[PaletteItem] = []
    if top_firm is not None and has(actor, Permission.INTERACTIONS_LOG):
        found.append(
            PaletteItem(
                kind="action",
                id=top_firm.id,
                label=f"Log interaction with {top_firm.label}",
                detail="Action",
                href=f"/firms/{top_firm.id}?do=log",
                score=2,
            )
        )
    candidates: list[PaletteItem] = []
    if has(actor, Permission.FIRMS_CREATE):
        candidates.append(
            PaletteItem(kind="action", label="New firm", detail="Action", href="/firms?do=new")
        )
    if isinstance(actor, Actor):
        for section in sections_for(actor):
            candidates.append(
                PaletteItem(
                    kind="action",
                    label=f"Go to {section['label'].lower()}",
                    detail="Action",
                    href=section["href"],
                )
            )
    needle = q.casefold().strip()
    for item in candidates:
        label = item.label.casefold()
        words = search.terms(label)
        if not needle or label.startswith(needle) or any(w.startswith(needle) for w in words):
            item.score = 2 if label.startswith(needle) else 1
            found.append(item)
    return found


def search_palette(db: Session, *, actor: AnyActor, q: str) -> PaletteResult:
    """What the palette shows for `q`: at most MAX_HITS items, the best first."""
    if not isinstance(q, str):
        raise ValidationFailed("must be text", field="q")
    q = q.strip()
    if len(q) > MAX_QUERY:
        raise ValidationFailed(f"at most {MAX_QUERY} characters", field="q")
    words = search.terms(q)
    if not words:
        return PaletteResult(query=q, items=_actions(actor, "", None)[:MAX_HITS])
    found: list[PaletteItem] = []
    firms_found = _firms(db, actor, q)
    for group in (
        firms_found,
        _traders(db, actor, q),
        _follow_ups(db, actor, words),
        _interactions(db, actor, words),
        _conversations(db, actor, words),
        _instruments(db, actor, q),
    ):
        for item in group:
            item.score = _score(item.label, q, words)
        group.sort(key=lambda i: (-i.score, i.label.casefold()))
        found.extend(group[:PER_KIND])
    top_firm = firms_found[0] if firms_found else None  # sorted best first above
    actions = _actions(actor, q, top_firm)
    log_with = [a for a in actions if a.href.endswith("?do=log")]
    ranked = sorted(
        found + [a for a in actions if a not in log_with],
        key=lambda i: (-i.score, KIND_ORDER[i.kind]),
    )
    # "Log interaction with <firm>" right under that firm.
    if log_with and top_firm is not None and top_firm in ranked:
        ranked.insert(ranked.index(top_firm) + 1, log_with[0])
    return PaletteResult(query=q, items=ranked[:MAX_HITS])
