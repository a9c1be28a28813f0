"""Supervisory review over REST: the queue, one item with its evidence, acting on it, the
reports, and the rules that select items (compliance and admins; managers see only what was
escalated to them; nobody sees their own communications)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Limit, NoNul, Offset
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.review import COMMENT_MAX
from brm_app.services import review
from brm_app.services.pagination import PageRequest
from brm_app.services.review import ReviewItemPublic, ReviewReport

router = ApiRouter(prefix="/api/v1/reviews", tags=["supervisory review"], responses=ERRORS)

ItemId = Annotated[int, Path(ge=1, le=MAX_ID, description="A review item id")]
Term = Annotated[str, StringConstraints(max_length=review.TERM_MAX), NoNul]


class ReviewActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["approve", "escalate", "flag"]
    comment: Annotated[str, StringConstraints(max_length=COMMENT_MAX), NoNul] | None = Field(
        default=None, description="Required to escalate or flag"
    )
    escalate_to: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="The user an escalation goes to"
    )


class ReviewRulesOut(BaseModel):
    terms: list[str] = Field(description="Words and phrases; `*` matches any ending")
    attachments: bool = Field(description="Every message with an attachment is reviewed")
    sample_percent: float = Field(description="Share of each broker's other records, at random")
    overdue_days: int = Field(description="Undecided this long: reported as open too long")


class ReviewRulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    terms: list[Term] | None = Field(default=None, max_length=review.TERMS_MAX)
    attachments: bool | None = None
    sample_percent: float | None = Field(default=None, ge=0, le=100)
    overdue_days: int | None = Field(default=None, ge=1, le=365)


class EscalationTarget(BaseModel):
    id: int
    name: str
    role: str


def _rules_out(rules: review.ReviewRules) -> ReviewRulesOut:
    return ReviewRulesOut(
        terms=rules.terms,
        attachments=rules.attachments,
        sample_percent=rules.sample_percent,
        overdue_days=rules.overdue_days,
    )


@router.get("", response_model=PageOut[ReviewItemPublic])
def list_items(
    db: DB,
    actor: CurrentActor,
    status: Annotated[Literal["open", "escalated", "approved", "flagged", "all"], Query()] = "open",
    reason: Annotated[Literal["lexicon", "attachment", "sample"] | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[ReviewItemPublic]:
    """The review queue: undecided items oldest first, decided ones newest first."""
    page = review.list_items(
        db, actor=actor, status=status, reason=reason, page=PageRequest(offset, limit)
    )
    return PageOut[ReviewItemPublic].of(page)


@router.get("/report", response_model=ReviewReport)
def report(
    db: DB,
    actor: CurrentActor,
    months: Annotated[int, Query(ge=1, le=36, description="Months of coverage")] = 6,
) -> ReviewReport:
    """Coverage per broker and month, items open too long, flags by rule."""
    return review.report(db, actor=actor, months=months)


@router.get("/rules", response_model=ReviewRulesOut)
def get_rules(db: DB, actor: CurrentActor) -> ReviewRulesOut:
    """The rules that select items for review."""
    return _rules_out(review.read_rules(db, actor=actor))


@router.put("/rules", response_model=ReviewRulesOut)
def put_rules(body: ReviewRulesIn, db: DB, actor: CurrentActor) -> ReviewRulesOut:
    """Change the rules (admins); what is left out stays as it is."""
    values: dict[str, Any] = body.model_dump(exclude_unset=True)
    return _rules_out(review.update_rules(db, actor=actor, **values))


@router.get("/{item_id}", response_model=ReviewItemPublic)
def get_item(item_id: ItemId, db: DB, actor: CurrentActor) -> ReviewItemPublic:
    """One item with the hit in context and every action taken on it."""
    return review.get_item(db, actor=actor, item_id=item_id)


@router.get("/{item_id}/escalation-targets", response_model=list[EscalationTarget])
def escalation_targets(item_id: ItemId, db: DB, actor: CurrentActor) -> list[EscalationTarget]:
    """Who the item can be escalated to (other reviewers and managers, not its broker)."""
    return [
        EscalationTarget(**t) for t in review.escalation_targets(db, actor=actor, item_id=item_id)
    ]


@router.post("/{item_id}/actions", response_model=ReviewItemPublic)
def act(item_id: ItemId, body: ReviewActionIn, db: DB, actor: CurrentActor) -> ReviewItemPublic:
    """Approve, escalate (with `escalate_to`) or flag an item; a comment is required to escalate
    or flag. The action is kept as evidence and cannot be changed."""
    return review.act(
        db,
        actor=actor,
        item_id=item_id,
        action=body.action,
        comment=body.comment,
        escalate_to=body.escalate_to,
    )
