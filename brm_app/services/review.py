"""Supervisory review (FINRA 3110(b)(4)): a principal reviews correspondence, with evidence.

Selection. A job (the runner's periodic pass, `select_new`) reads what was written since it last
looked: every message in the communication log (every channel, both directions) and every saved
version of an interaction. It selects a record when its text matches the lexicon (words and
phrases, `*` for any ending: "guarantee*"), when a message carries an attachment (if that rule is
on), or at random with the sample percentage, which applies to each broker's records alike. Each
selected record becomes one item holding the hit in its context; reviewers are told in the bell
(and by their notification preferences).

Review. Compliance and admins work the queue; an item escalated to a manager (or another
reviewer) is theirs to decide. Approve closes it; flag closes it with a comment; escalate hands it
on with a comment. Nobody sees or reviews their own communications. Every action is evidence:
appended to `review_actions` (the database refuses to change it) and to the audit chain.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, has, require
from brm_app.db import utcnow
from brm_app.models.communication import CommunicationLogEntry
from brm_app.models.firm import Firm
from brm_app.models.follow_up import AppSetting
from brm_app.models.interaction import Interaction, InteractionVersion
from brm_app.models.review import (
    COMMENT_MAX,
    ReviewAction,
    ReviewEvidence,
    ReviewItem,
    ReviewReason,
    ReviewScan,
    ReviewSource,
    ReviewStatus,
)
from brm_app.models.user import Role, User
from brm_app.services import audit
from brm_app.services.errors import NotFound, ValidationFailed
from brm_app.services.pagination import Page, PageRequest
from brm_app.services.validation import require_id, require_text, rid

AnyActor = Actor | SystemActor
P = Permission
KEY = "review_rules"
KIND = "review"  # the notification kind (preferences.KINDS)
BATCH = 500
# pg_advisory_xact_lock key of the selection pass ("brmrevue"): the job runners of several
# servers take turns, so the second reads the position the first advanced to.
SELECTION_LOCK_KEY = 0x62726D7265767565
TERM_MAX = 100
TERMS_MAX = 500
CONTEXT = 90  # characters of context either side of a hit
DEFAULT_TERMS = [
    "guarantee*",
    "risk-free",
    "risk free",
    "can't lose",
    "cannot lose",
    "promise*",
    "complain*",
    "off the record",
    "keep this between us",
]
_CLOSED = {ReviewStatus.APPROVED.value, ReviewStatus.FLAGGED.value}
STATUS_FILTERS = ("open", "escalated", "approved", "flagged", "all")


# ---- rules ------------------------------------------------------------------------------------


@dataclass
class ReviewRules:
    terms: list[str] = field(default_factory=lambda: list(DEFAULT_TERMS))
    # Every message carrying an attachment is reviewed.
    attachments: bool = True
    # This percentage of each broker's other communications and interactions, at random.
    sample_percent: float = 5.0
    # An item still undecided after this many days shows in the "open too long" report.
    overdue_days: int = 5


def get_rules(db: Session) -> ReviewRules:
    row = db.get(AppSetting, KEY)
    if row is None:
        return ReviewRules()
    data = json.loads(row.value)
    defaults = ReviewRules()
    return ReviewRules(
        terms=list(data.get("terms", defaults.terms)),
        attachments=bool(data.get("attachments", defaults.attachments)),
        sample_percent=float(data.get("sample_percent", defaults.sample_percent)),
        overdue_days=int(data.get("overdue_days", defaults.overdue_days)),
    )


def read_rules(db: Session, *, actor: AnyActor) -> ReviewRules:
    require(actor, P.REVIEWS_WORK)
    return get_rules(db)


def _terms(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list):
        raise ValidationFailed("must be a list of words or phrases", field="terms")
    terms: list[str] = []
    for raw in value:
        term = require_text(raw, "terms", max_length=TERM_MAX)
        term = " ".join(term.split())
        if not term:
            continue
        if not re.search(r"\w", term):
            raise ValidationFailed(f"{term!r} has no letter or digit to look for", field="terms")
        if term.lower() not in {t.lower() for t in terms}:
            terms.append(term)
    if len(terms) > TERMS_MAX:
        raise ValidationFailed(f"at most {TERMS_MAX} words or phrases", field="terms")
    return terms


def update_rules(
    db: Session,
    *,
    actor: AnyActor,
    terms: Any = None,
    attachments: Any = None,
    sample_percent: Any = None,
    overdue_days: Any = None,
) -> ReviewRules:
    require(actor, P.REVIEW_RULES)
    rules = get_rules(db)
    before = asdict(rules)
    if terms is not None:
        rules.terms = _terms(terms)
    if attachments is not None:
        if not isinstance(attachments, bool):
            raise ValidationFailed("must be true or false", field="attachments")
        rules.attachments = attachments
    if sample_percent is not None:
        if (
            isinstance(sample_percent, bool)
            or not isinstance(sample_percent, int | float)
            or not 0 <= sample_percent <= 100
        ):
            raise ValidationFailed("must be a percentage from 0 to 100", field="sample_percent")
        rules.sample_percent = round(float(sample_percent), 2)
    if overdue_days is not None:
        if isinstance(overdue_days, bool) or not isinstance(overdue_days, int):
            raise ValidationFailed("must be a whole number of days", field="overdue_days")
        if not 1 <= overdue_days <= 365:
            raise ValidationFailed("must be from 1 to 365 days", field="overdue_days")
        rules.overdue_days = overdue_days
    after = asdict(rules)
    if after == before:
        return rules
    row = db.get(AppSetting, KEY) or AppSetting(key=KEY, value="{}")
    row.value = json.dumps(after)
    row.updated_at = utcnow()
    row.updated_by_id = actor.user_id if isinstance(actor, Actor) else None
    db.add(row)
    changes = {k: {"from": before[k], "to": after[k]} for k in after if after[k] != before[k]}
    audit.record(
        db,
        actor=actor,
        action="review.rules_changed",
        entity="app_settings",
        entity_id=KEY,
        changes=changes,
    )
    return rules


# ---- matching ---------------------------------------------------------------------------------


def term_pattern(term: str) -> str:
    """A term as a regular expression: whole words, any whitespace between them, `*` for any
    ending of a word, straight and curly apostrophes alike, case-insensitive (see `lexicon`)."""
    words = []
    for word in term.replace("\u2019", "'").split():
        parts = [re.escape(p).replace("'", "['\u2019]") for p in word.split("*")]
        words.append(r"\w*".join(parts))
    return r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)"


def lexicon(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    named = "|".join(f"(?P<t{i}>{term_pattern(t)})" for i, t in enumerate(terms))
    return re.compile(named, re.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    terms: list[str]  # every term found in the text, the first hit's first


def find_hit(text: str, pattern: re.Pattern[str] | None, terms: list[str]) -> Hit | None:
    if pattern is None or not text:
        return None
    first: re.Match[str] | None = None
    found: list[str] = []
    for match in pattern.finditer(text):
        first = first or match
        term = terms[int((match.lastgroup or "t0")[1:])]
        if term not in found:
            found.append(term)
    if first is None:
        return None
    return Hit(first.start(), first.end(), found)


def excerpt(text: str, start: int, end: int) -> tuple[str, int, int]:
    """The hit with up to CONTEXT characters either side, and where the hit is in it."""
    lo, hi = max(0, start - CONTEXT), min(len(text), end + CONTEXT)
    prefix = "…" if lo > 0 else ""
    suffix = "…" if hi < len(text) else ""
    cut = prefix + text[lo:hi] + suffix
    return cut, start - lo + len(prefix), end - lo + len(prefix)


# ---- selection (the job) ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    source: ReviewSource
    source_id: int
    firm_id: int
    broker_id: int | None
    link: str
    occurred_at: datetime
    text: str
    has_attachment: bool


def _last_id(db: Session, source: ReviewSource) -> int:
    row = db.get(ReviewScan, source.value)
    return row.last_id if row else 0


def _advance(db: Session, source: ReviewSource, last_id: int) -> None:
    row = db.get(ReviewScan, source.value) or ReviewScan(source=source.value)
    row.last_id = last_id
    db.add(row)


def _new_messages(db: Session, after: int, batch: int) -> list[_Candidate]:
    rows = db.exec(
        select(CommunicationLogEntry)
        .where(col(CommunicationLogEntry.id) > after, CommunicationLogEntry.kind == "message")
        .order_by(col(CommunicationLogEntry.id))
        .limit(batch)
    ).all()
    return [
        _Candidate(
            source=ReviewSource.MESSAGE,
            source_id=rid(e.id),
            firm_id=e.firm_id,
            broker_id=e.broker_id,
            link=f"/communications?conversation={e.conversation_id}",
            occurred_at=e.occurred_at,
            text=e.content or "",
            has_attachment=e.attachments not in ("", "[]"),
        )
        for e in rows
    ]


def _new_interaction_versions(db: Session, after: int, batch: int) -> list[_Candidate]:
    rows = db.exec(
        select(InteractionVersion, Interaction.firm_id)
        .join(Interaction, col(Interaction.id) == col(InteractionVersion.interaction_id))
        .where(col(InteractionVersion.id) > after)
        .order_by(col(InteractionVersion.id))
        .limit(batch)
    ).all()
    out = []
    for version, firm_id in rows:
        data = json.loads(version.data)
        text = "\n".join(str(data.get(k) or "") for k in ("subject", "notes")).strip()
        out.append(
            _Candidate(
                source=ReviewSource.INTERACTION,
                source_id=rid(version.id),
                firm_id=firm_id,
                broker_id=version.saved_by_id,
                link=f"/interactions/{version.interaction_id}",
                occurred_at=version.saved_at,
                text=text,
                has_attachment=False,
            )
        )
    return out


def _reason(
    c: _Candidate, rules: ReviewRules, pattern: re.Pattern[str] | None, chance: Callable[[], float]
) -> tuple[ReviewReason, Hit | None] | None:
    hit = find_hit(c.text, pattern, rules.terms)
    if hit is not None:
        return ReviewReason.LEXICON, hit
    if rules.attachments and c.has_attachment:
        return ReviewReason.ATTACHMENT, None
    if rules.sample_percent > 0 and chance() * 100 < rules.sample_percent:
        return ReviewReason.SAMPLE, None
    return None


def select_new(
    db: Session, *, batch: int = BATCH, chance: Callable[[], float] = random.random
) -> int:
    """Read what was written since the last pass, make an item of each record a rule selects,
    and tell the reviewers. Returns how many items were made. One pass at a time (on PostgreSQL
    a lock held until the caller's transaction ends; SQLite's write lock does the same)."""
    if db.get_bind().dialect.name == "postgresql":
        db.connection().execute(
            sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SELECTION_LOCK_KEY}
        )
    rules = get_rules(db)
    pattern = lexicon(rules.terms)
    made: list[ReviewItem] = []
    for source, fetch in (
        (ReviewSource.MESSAGE, _new_messages),
        (ReviewSource.INTERACTION, _new_interaction_versions),
    ):
        candidates = fetch(db, _last_id(db, source), batch)
        if not candidates:
            continue
        for c in candidates:
            chosen = _reason(c, rules, pattern, chance)
            if chosen is None:
                continue
            reason, hit = chosen
            if hit is not None:
                text, hs, he = excerpt(c.text, hit.start, hit.end)
            else:
                text, hs, he = excerpt(c.text, 0, 0)
            made.append(
                ReviewItem(
                    source=c.source.value,
                    source_id=c.source_id,
                    firm_id=c.firm_id,
                    broker_id=c.broker_id,
                    link=c.link,
                    occurred_at=c.occurred_at,
                    reason=reason.value,
                    rule=", ".join(hit.terms)[:500] if hit else None,
                    excerpt=text,
                    hit_start=hs,
                    hit_end=he,
                )
            )
        _advance(db, source, candidates[-1].source_id)
    if not made:
        db.flush()
        return 0
    db.add_all(made)
    db.flush()
    audit.record_many(
        db,
        actor=SystemActor(),
        events=[
            audit.Change(
                action="review.selected",
                entity="review_item",
                entity_id=i.id,
                changes={
                    "source": i.source,
                    "source_id": i.source_id,
                    "reason": i.reason,
                    "rule": i.rule,
                },
            )
            for i in made
        ],
    )
    _tell_reviewers(db, made)
    return len(made)


def _tell_reviewers(db: Session, made: list[ReviewItem]) -> None:
    from brm_app.services import notifications, preferences

    reviewers = db.exec(
        select(User).where(col(User.role) == Role.COMPLIANCE, col(User.is_active).is_(True))
    ).all()
    for reviewer in reviewers:
        mine = [i for i in made if i.broker_id != reviewer.id]
        if not mine:
            continue
        channels = preferences.channels_for(db, rid(reviewer.id), KIND) or ("in_app",)
        notifications.notify(
            db,
            user_id=rid(reviewer.id),
            kind=KIND,
            title=f"{len(mine)} new item(s) to review",
            body="Selected by the review rules: " + ", ".join(sorted({i.reason for i in mine})),
            link="/compliance/review",
            channels=("in_app", *[c for c in channels if c != "in_app"]),
        )


# ---- the queue --------------------------------------------------------------------------------


def item_visible(actor: Actor, permission: Permission, item: ReviewItem, db: Any) -> bool:
    """Record rule: never one's own communications; a manager only what was escalated to them."""
    if item.broker_id == actor.user_id:
        return False
    return has(actor, P.REVIEWS_ALL) or item.assigned_to_id == actor.user_id


class ReviewActionPublic(BaseModel):
    id: int
    action: str
    reviewer_id: int
    reviewer_name: str
    comment: str | None
    escalated_to_id: int | None
    escalated_to_name: str | None
    acted_at: datetime


class ReviewItemPublic(BaseModel):
    id: int
    source: str
    source_id: int
    firm_id: int
    firm_name: str
    broker_id: int | None
    broker_name: str | None
    link: str
    occurred_at: datetime
    reason: str
    rule: str | None
    # The excerpt in three parts, the hit in the middle (empty when selected by another rule).
    before: str
    hit: str
    after: str
    status: str
    assigned_to_id: int | None
    assigned_to_name: str | None
    created_at: datetime
    closed_at: datetime | None
    overdue: bool
    actions: list[ReviewActionPublic] = []


def _names(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.exec(select(User.id, User.name).where(col(User.id).in_(ids))).all()
    return {rid(uid): name for uid, name in rows}


def _public(
    item: ReviewItem, firm_name: str, names: dict[int, str], overdue_before: datetime
) -> ReviewItemPublic:
    return ReviewItemPublic(
        id=rid(item.id),
        source=item.source,
        source_id=item.source_id,
        firm_id=item.firm_id,
        firm_name=firm_name,
        broker_id=item.broker_id,
        broker_name=names.get(item.broker_id) if item.broker_id else None,
        link=item.link,
        occurred_at=item.occurred_at,
        reason=item.reason,
        rule=item.rule,
        before=item.excerpt[: item.hit_start],
        hit=item.excerpt[item.hit_start : item.hit_end],
        after=item.excerpt[item.hit_end :],
        status=item.status,
        assigned_to_id=item.assigned_to_id,
        assigned_to_name=names.get(item.assigned_to_id) if item.assigned_to_id else None,
        created_at=item.created_at,
        closed_at=item.closed_at,
        overdue=item.status not in _CLOSED and item.created_at < overdue_before,
    )


def _visible_to(actor: Actor, stmt: Any) -> Any:
    stmt = stmt.where(
        sa.or_(col(ReviewItem.broker_id).is_(None), col(ReviewItem.broker_id) != actor.user_id)
    )
    if not has(actor, P.REVIEWS_ALL):
        stmt = stmt.where(col(ReviewItem.assigned_to_id) == actor.user_id)
    return stmt


def list_items(
    db: Session,
    *,
    actor: Actor,
    status: Any = "open",
    reason: Any = None,
    page: PageRequest = PageRequest(),
) -> Page[ReviewItemPublic]:
    """The queue: undecided items oldest first; decided ones newest first."""
    require(actor, P.REVIEWS_WORK)
    if status not in STATUS_FILTERS:
        raise ValidationFailed(f"must be one of: {', '.join(STATUS_FILTERS)}", field="status")
    if reason not in (None, "", *[r.value for r in ReviewReason]):
        raise ValidationFailed("must be lexicon, attachment or sample", field="reason")
    stmt = _visible_to(
        actor, select(ReviewItem, Firm.name).join(Firm, col(Firm.id) == col(ReviewItem.firm_id))
    )
    if status != "all":
        stmt = stmt.where(col(ReviewItem.status) == status)
    if reason:
        stmt = stmt.where(col(ReviewItem.reason) == reason)
    if status in ("open", "escalated"):
        stmt = stmt.order_by(col(ReviewItem.created_at), col(ReviewItem.id))
    else:
        stmt = stmt.order_by(col(ReviewItem.created_at).desc(), col(ReviewItem.id).desc())
    rows = db.exec(stmt.offset(page.offset).limit(page.limit + 1)).all()
    evidence = _evidence(db, [rid(i.id) for i, _ in rows[: page.limit]])
    ids = {i.broker_id for i, _ in rows} | {i.assigned_to_id for i, _ in rows}
    ids |= {e.reviewer_id for es in evidence.values() for e in es}
    ids |= {e.escalated_to_id for es in evidence.values() for e in es}
    names = _names(db, {x for x in ids if x})
    overdue_before = utcnow() - timedelta(days=get_rules(db).overdue_days)
    items = []
    for i, firm in rows:
        public = _public(i, firm, names, overdue_before)
        public.actions = _actions(evidence.get(rid(i.id), []), names)
        items.append(public)
    return Page.build(items, page=page, total=None)


def _evidence(db: Session, item_ids: list[int]) -> dict[int, list[ReviewEvidence]]:
    """Each item's decisions, oldest first (the queue shows them with the item)."""
    out: dict[int, list[ReviewEvidence]] = {}
    if not item_ids:
        return out
    for e in db.exec(
        select(ReviewEvidence)
        .where(col(ReviewEvidence.item_id).in_(item_ids))
        .order_by(col(ReviewEvidence.id))
    ).all():
        out.setdefault(e.item_id, []).append(e)
    return out


def _actions(evidence: list[ReviewEvidence], names: dict[int, str]) -> list[ReviewActionPublic]:
    return [
        ReviewActionPublic(
            id=rid(e.id),
            action=e.action,
            reviewer_id=e.reviewer_id,
            reviewer_name=names.get(e.reviewer_id, ""),
            comment=e.comment,
            escalated_to_id=e.escalated_to_id,
            escalated_to_name=names.get(e.escalated_to_id) if e.escalated_to_id else None,
            acted_at=e.acted_at,
        )
        for e in evidence
    ]


def _load(db: Session, actor: Actor, item_id: Any, permission: Permission) -> ReviewItem:
    item = db.get(ReviewItem, require_id(item_id, "item_id"))
    if item is None:
        raise NotFound("Review item")
    require(actor, permission, item, db=db, what="Review item")
    return item


def get_item(db: Session, *, actor: Actor, item_id: Any) -> ReviewItemPublic:
    item = _load(db, actor, item_id, P.REVIEWS_WORK)
    firm = db.get(Firm, item.firm_id)
    evidence = _evidence(db, [rid(item.id)]).get(rid(item.id), [])
    ids = {item.broker_id, item.assigned_to_id}
    ids |= {e.reviewer_id for e in evidence} | {e.escalated_to_id for e in evidence}
    names = _names(db, {x for x in ids if x})
    overdue_before = utcnow() - timedelta(days=get_rules(db).overdue_days)
    public = _public(item, firm.name if firm else "", names, overdue_before)
    public.actions = _actions(evidence, names)
    return public


def escalation_targets(db: Session, *, actor: Actor, item_id: Any) -> list[dict[str, Any]]:
    """Who an item can be handed to: other reviewers and managers, never its broker."""
    item = _load(db, actor, item_id, P.REVIEWS_WORK)
    roles = [r for r in Role if has_role_permission(r, P.REVIEWS_WORK)]
    users = db.exec(
        select(User.id, User.name, User.role)
        .where(col(User.role).in_(roles), col(User.is_active).is_(True))
        .order_by(col(User.name))
    ).all()
    return [
        {"id": uid, "name": name, "role": str(role)}
        for uid, name, role in users
        if uid not in (actor.user_id, item.broker_id)
    ]


def has_role_permission(role: Role, permission: Permission) -> bool:
    from brm_app.auth.rbac import PERMISSIONS

    return permission in PERMISSIONS.get(role, frozenset())


def act(
    db: Session,
    *,
    actor: Actor,
    item_id: Any,
    action: Any,
    comment: Any = None,
    escalate_to: Any = None,
) -> ReviewItemPublic:
    """Approve, flag or escalate one item: evidence appended, the item's standing moved on."""
    item = _load(db, actor, item_id, P.REVIEWS_WORK)
    if action not in {a.value for a in ReviewAction}:
        raise ValidationFailed("must be approve, escalate or flag", field="action")
    if item.status in _CLOSED:
        raise ValidationFailed(f"This item was already {item.status}.", field="action")
    if item.status == ReviewStatus.ESCALATED and item.assigned_to_id != actor.user_id:
        raise ValidationFailed(
            "This item was escalated to someone else; they decide it.", field="action"
        )
    text = require_text(
        comment, "comment", max_length=COMMENT_MAX, required=action != ReviewAction.APPROVE
    )
    target: User | None = None
    if action == ReviewAction.ESCALATE:
        target_id = require_id(escalate_to, "escalate_to")
        target = db.get(User, target_id)
        if (
            target is None
            or not target.is_active
            or target.id in (actor.user_id, item.broker_id)
            or not has_role_permission(Role(target.role), P.REVIEWS_WORK)
        ):
            raise ValidationFailed(
                "must be another reviewer or a manager (not the item's broker)",
                field="escalate_to",
            )
    elif escalate_to not in (None, ""):
        raise ValidationFailed("only an escalation names someone", field="escalate_to")
    now = utcnow()
    evidence = ReviewEvidence(
        item_id=rid(item.id),
        reviewer_id=actor.user_id,
        action=action,
        comment=text or None,
        escalated_to_id=target.id if target else None,
        acted_at=now,
    )
    db.add(evidence)
    before = {"status": item.status, "assigned_to_id": item.assigned_to_id}
    if action == ReviewAction.ESCALATE:
        assert target is not None
        item.status, item.assigned_to_id = ReviewStatus.ESCALATED.value, rid(target.id)
    else:
        item.status = (
            ReviewStatus.APPROVED.value
            if action == ReviewAction.APPROVE
            else ReviewStatus.FLAGGED.value
        )
        item.closed_at = now
    db.add(item)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action=f"review.{action}",
        entity="review_item",
        entity_id=item.id,
        changes={
            "evidence_id": evidence.id,
            "comment": evidence.comment,
            "escalated_to_id": evidence.escalated_to_id,
            "status": {"from": before["status"], "to": item.status},
        },
    )
    if target is not None:
        from brm_app.services import notifications, preferences

        channels = preferences.channels_for(db, rid(target.id), KIND)
        notifications.notify(
            db,
            user_id=rid(target.id),
            kind=KIND,
            title=f"{actor.name} escalated a review item to you",
            body=text[:300],
            link="/compliance/review",
            channels=("in_app", *[c for c in channels if c != "in_app"]),
        )
    return get_item(db, actor=actor, item_id=item.id)


# ---- reports ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageRow:
    broker_id: int | None
    broker_name: str
    month: str  # YYYY-MM
    selected: int
    decided: int
    flagged: int

    @property
    def percent_decided(self) -> float:
        return round(100 * self.decided / self.selected, 1) if self.selected else 100.0


class ReviewReport(BaseModel):
    coverage: list[dict[str, Any]]
    open_too_long: list[ReviewItemPublic]
    open_too_long_count: int
    flags_by_rule: list[dict[str, Any]]
    overdue_days: int


def report(db: Session, *, actor: Actor, months: Any = 6) -> ReviewReport:
    """Coverage per broker and month, items undecided past the set days, flags by rule."""
    require(actor, P.REVIEWS_ALL)
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 36:
        raise ValidationFailed("must be from 1 to 36", field="months")
    rules = get_rules(db)
    now = utcnow()
    since = (now.replace(day=1) - timedelta(days=31 * (months - 1))).replace(day=1)
    since = since.replace(hour=0, minute=0, second=0, microsecond=0)
    month = func.strftime("%Y-%m", ReviewItem.created_at)
    if db.get_bind().dialect.name == "postgresql":
        month = func.to_char(ReviewItem.created_at, "YYYY-MM")
    decided = func.sum(sa.case((col(ReviewItem.status).in_(_CLOSED), 1), else_=0))
    flagged = func.sum(sa.case((col(ReviewItem.status) == ReviewStatus.FLAGGED.value, 1), else_=0))
    rows = db.execute(
        _visible_to(
            actor,
            sa.select(col(ReviewItem.broker_id), month, func.count(), decided, flagged)
            .where(col(ReviewItem.created_at) >= since)
            .group_by(col(ReviewItem.broker_id), month),
        )
    ).all()
    names = _names(db, {b for b, *_ in rows if b})
    coverage = [
        CoverageRow(b, names.get(b, "(no broker)") if b else "(no broker)", m, n, d or 0, f or 0)
        for b, m, n, d, f in rows
    ]
    coverage.sort(key=lambda r: (r.month, r.broker_name), reverse=False)
    overdue_before = now - timedelta(days=rules.overdue_days)
    late = _visible_to(
        actor,
        select(ReviewItem, Firm.name)
        .join(Firm, col(Firm.id) == col(ReviewItem.firm_id))
        .where(
            col(ReviewItem.status).in_([ReviewStatus.OPEN.value, ReviewStatus.ESCALATED.value]),
            col(ReviewItem.created_at) < overdue_before,
        ),
    )
    late_count = db.exec(select(func.count()).select_from(late.subquery())).one()
    late_rows = db.exec(late.order_by(col(ReviewItem.created_at)).limit(100)).all()
    late_names = _names(db, {x for i, _ in late_rows for x in (i.broker_id, i.assigned_to_id) if x})
    flags = db.exec(
        _visible_to(
            actor,
            select(col(ReviewItem.reason), col(ReviewItem.rule), func.count())
            .where(col(ReviewItem.status) == ReviewStatus.FLAGGED.value)
            .group_by(col(ReviewItem.reason), col(ReviewItem.rule)),
        )
    ).all()
    return ReviewReport(
        coverage=[{**asdict(r), "percent_decided": r.percent_decided} for r in coverage],
        open_too_long=[_public(i, f, late_names, overdue_before) for i, f in late_rows],
        open_too_long_count=late_count,
        flags_by_rule=sorted(
            ({"reason": r, "rule": rule or "", "count": n} for r, rule, n in flags),
            key=lambda x: -x["count"],
        ),
        overdue_days=rules.overdue_days,
    )
