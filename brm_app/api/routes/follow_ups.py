"""Follow-ups: /api/v1/follow-ups (create, read, update, list mine / my team's / overdue, snooze).

Every rule lives in services.follow_ups; these routes only parse, call it and shape the answer.
A follow-up the caller may not see answers 404, so ids cannot be probed.

Updating: PATCH changes only the fields sent. PUT takes the same body as POST and replaces the
follow-up's content: `title` and `due_at` as sent, omitted `notes` and `trader_ids` become empty;
an omitted `assignee_id` keeps the assignee and omitted `reminders` keep the pending reminders
(moved with a new due time). A follow-up never changes firm or interaction: `firm_id` and
`interaction_id` may be omitted or repeat the current ones.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Day, Limit, Offset
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.follow_up import FollowUpPatch, FollowUpPublic, FollowUpStatus, FollowUpWrite
from brm_app.services import follow_ups
from brm_app.services.errors import ValidationFailed
from brm_app.services.follow_ups import FollowUpQuery
from brm_app.services.pagination import PageRequest

router = ApiRouter(prefix="/api/v1/follow-ups", tags=["follow-ups"], responses=ERRORS)

FollowUpId = Annotated[int, Path(ge=1, le=MAX_ID, description="A follow-up id")]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: int = Field(
        strict=True, ge=5, le=7 * 24 * 60, description="Remind again in this many minutes"
    )


@router.get("", response_model=PageOut[FollowUpPublic])
def list_follow_ups(
    db: DB,
    actor: CurrentActor,
    scope: Annotated[
        Literal["mine", "team", "all"],
        Query(
            description="mine: assigned to me; team: my brokers' (managers, compliance, "
            "admins); all: every follow-up I may see"
        ),
    ] = "mine",
    overdue: Annotated[bool, Query(description="Only open follow-ups past their due time")] = False,
    status: FollowUpStatus | None = None,
    firm_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this firm")] = None,
    trader_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only those naming this trader")
    ] = None,
    assignee_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only those assigned to this user")
    ] = None,
    date_from: Annotated[
        Day | None,
        Query(description="Due from this day (your time zone)"),
    ] = None,
    date_to: Annotated[
        Day | None,
        Query(description="Due up to this day, inclusive"),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[FollowUpPublic]:
    """Follow-ups, soonest due first: mine (default), my team's, or all I may see; filter by
    overdue, status, firm, trader, assignee and due date."""
    query = FollowUpQuery(
        scope=scope,
        assignee_id=assignee_id,
        firm_id=firm_id,
        trader_id=trader_id,
        status=status,
        overdue=overdue,
        date_from=date_from,
        date_to=date_to,
    )
    page = follow_ups.list_follow_ups(
        db, actor=actor, query=query, page=PageRequest(offset=offset, limit=limit)
    )
    return PageOut[FollowUpPublic].of(page)


@router.post("", response_model=FollowUpPublic, status_code=201)
def create_follow_up(body: FollowUpWrite, db: DB, actor: CurrentActor) -> FollowUpPublic:
    """Plan a follow-up at a firm you cover, assigned to you unless `assignee_id` names another
    broker. Reminders default to the admin's offsets (1 day and 1 hour before the due time)."""
    return follow_ups.create_follow_up(db, actor=actor, data=body)


@router.get("/{follow_up_id}", response_model=FollowUpPublic)
def get_follow_up(follow_up_id: FollowUpId, db: DB, actor: CurrentActor) -> FollowUpPublic:
    """One follow-up with its pending reminders."""
    return follow_ups.get_follow_up(db, actor=actor, follow_up_id=follow_up_id)


@router.patch("/{follow_up_id}", response_model=FollowUpPublic)
def patch_follow_up(
    follow_up_id: FollowUpId, body: FollowUpPatch, db: DB, actor: CurrentActor
) -> FollowUpPublic:
    """Change only the fields sent. A new due time moves the pending reminders with it;
    `status` done or cancelled stops them, open re-arms them."""
    return follow_ups.update_follow_up(db, actor=actor, follow_up_id=follow_up_id, data=body)


@router.put("/{follow_up_id}", response_model=FollowUpPublic)
def replace_follow_up(
    follow_up_id: FollowUpId, body: FollowUpWrite, db: DB, actor: CurrentActor
) -> FollowUpPublic:
    """Replace the follow-up's content with the POST body: omitted `notes` and `trader_ids`
    become empty, an omitted `assignee_id` or `reminders` is kept; `firm_id` and
    `interaction_id` cannot change."""
    current = follow_ups.get_follow_up(db, actor=actor, follow_up_id=follow_up_id)
    for key in ("firm_id", "interaction_id"):
        sent = getattr(body, key)
        if sent is not None and sent != getattr(current, key):
            raise ValidationFailed("cannot change (omit it or repeat the current one)", field=key)
    fields = body.model_dump(
        include={"title", "notes", "due_at", "time_zone", "trader_ids", "assignee_id", "reminders"}
    )
    for key in ("assignee_id", "reminders", "time_zone"):
        if fields[key] is None:
            del fields[key]
    return follow_ups.update_follow_up(
        db, actor=actor, follow_up_id=follow_up_id, data=FollowUpPatch(**fields)
    )


@router.post("/{follow_up_id}/snooze", response_model=FollowUpPublic)
def snooze_follow_up(
    follow_up_id: FollowUpId, body: SnoozeIn, db: DB, actor: CurrentActor
) -> FollowUpPublic:
    """Remind the assignee again in `minutes` (5 minutes to 7 days); open follow-ups only."""
    return follow_ups.snooze(db, actor=actor, follow_up_id=follow_up_id, minutes=body.minutes)
