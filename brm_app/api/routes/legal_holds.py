"""Retention and legal hold over REST: legal holds (place, list, release: compliance and admins),
read traces (who read what sensitive data: compliance and admins), the retention periods (admins
change them; compliance reads them) and revealing a trader's contact details (traced).

Every rule lives in services.legal_holds, services.retention and services.read_traces.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Day, Limit, NoNul, Offset, TraderId
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.fields import BodyDay
from brm_app.models.retention import REASON_MAX, LegalHoldPublic, ReadTracePublic, RetentionPublic
from brm_app.services import legal_holds, read_traces, retention
from brm_app.services.pagination import PageRequest
from brm_app.services.read_traces import TraderContact

router = ApiRouter(prefix="/api/v1", tags=["compliance"], responses=ERRORS)

HoldId = Annotated[int, Path(ge=1, le=MAX_ID, description="A legal hold id")]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=REASON_MAX), NoNul
]
Years = Annotated[
    int,
    Field(strict=True, ge=retention.MIN_YEARS, le=retention.MAX_YEARS, description="Years kept"),
]


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: Literal["firm", "trader", "broker", "dates"]
    subject_id: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_ID,
        description="The firm, trader or broker (user) id; not for a date range",
    )
    date_from: BodyDay | None = Field(default=None, description="A date range hold's first day")
    date_to: BodyDay | None = Field(default=None, description="Its last day (included)")
    reason: Reason


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class RetentionIn(BaseModel):
    """Years per kind of record; kinds left out keep their period."""

    model_config = ConfigDict(extra="forbid")
    communications: Years | None = None
    attachments: Years | None = None
    interactions: Years | None = None
    follow_ups: Years | None = None
    transactions: Years | None = None
    audit_trail: Years | None = None


@router.get("/legal-holds", response_model=list[LegalHoldPublic])
def list_holds(
    db: DB,
    actor: CurrentActor,
    active: Annotated[bool, Query(description="Only holds not released")] = False,
) -> list[LegalHoldPublic]:
    """The latest 200 holds, newest first."""
    return legal_holds.list_holds(db, actor=actor, active_only=active)


@router.post("/legal-holds", status_code=201, response_model=LegalHoldPublic)
def place_hold(body: HoldIn, db: DB, actor: CurrentActor) -> LegalHoldPublic:
    """Place a hold on a firm, trader or broker, or a date range; what it covers is never purged
    and cannot be voided, archived, merged or moved until released (409 with a message)."""
    return legal_holds.place_hold(
        db,
        actor=actor,
        scope=body.scope,
        subject_id=body.subject_id,
        date_from=body.date_from,
        date_to=body.date_to,
        reason=body.reason,
    )


@router.get("/legal-holds/{hold_id}", response_model=LegalHoldPublic)
def get_hold(hold_id: HoldId, db: DB, actor: CurrentActor) -> LegalHoldPublic:
    return legal_holds.get_hold(db, actor=actor, hold_id=hold_id)


@router.post("/legal-holds/{hold_id}/release", response_model=LegalHoldPublic)
def release_hold(hold_id: HoldId, body: ReleaseIn, db: DB, actor: CurrentActor) -> LegalHoldPublic:
    """Release a hold, with a reason (audited)."""
    return legal_holds.release_hold(db, actor=actor, hold_id=hold_id, reason=body.reason)


@router.get("/read-traces", response_model=PageOut[ReadTracePublic])
def list_read_traces(
    db: DB,
    actor: CurrentActor,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this user")] = None,
    what: Annotated[
        Literal["contact_details", "attachment", "report", "export", "audit_values"] | None, Query()
    ] = None,
    date_from: Annotated[Day | None, Query()] = None,
    date_to: Annotated[Day | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[ReadTracePublic]:
    """Who read what sensitive data and when, newest first."""
    page = read_traces.list_traces(
        db,
        actor=actor,
        page=PageRequest(offset, limit),
        user_id=user_id,
        what=what,
        date_from=date_from,
        date_to=date_to,
    )
    return PageOut[ReadTracePublic].of(page)


@router.get("/settings/retention", response_model=RetentionPublic)
def get_retention(db: DB, actor: CurrentActor) -> RetentionPublic:
    """Years each kind of record is kept after its end (its last change)."""
    return retention.read_retention(db, actor=actor)


@router.put("/settings/retention", response_model=RetentionPublic)
def put_retention(body: RetentionIn, db: DB, actor: CurrentActor) -> RetentionPublic:
    """Change the periods (admins), 1 to 10 years each; audited."""
    years = {k: v for k, v in body.model_dump().items() if v is not None}
    return retention.update_retention(db, actor=actor, years=years)


@router.get("/traders/{trader_id}/contact", response_model=TraderContact, tags=["traders"])
def reveal_contact(trader_id: TraderId, db: DB, actor: CurrentActor) -> TraderContact:
    """Reveal a trader's contact details (email, phone, mobile); the reveal is recorded."""
    return read_traces.reveal_contact(db, actor=actor, trader_id=trader_id)
