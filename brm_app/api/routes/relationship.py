"""The relationship view: /api/v1/firms/{firm_id}/timeline, /api/v1/traders/{trader_id}/timeline
(interactions and follow-ups, newest first) and /api/v1/due-for-contact (the firms whose last
contact is older than their tier allows).

Every rule lives in services.relationship; a firm or trader the caller may not see answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.interactions import NameFilter
from brm_app.api.routes.params import MAX_ID, FirmId, Instant, Offset, TraderId
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.communication import CommunicationPublic
from brm_app.models.follow_up import FollowUpPublic
from brm_app.models.interaction import InteractionPublic
from brm_app.models.portfolio import TransactionPublic
from brm_app.services import relationship
from brm_app.services.pagination import PageRequest

router = ApiRouter(prefix="/api/v1", tags=["relationship"], responses=ERRORS)

Types = Annotated[
    list[NameFilter],
    Query(alias="type", max_length=20, description="Interaction type (repeat for several)"),
]
Outcomes = Annotated[
    list[NameFilter],
    Query(
        alias="outcome",
        max_length=20,
        description="Outcome (repeat for several; leaves follow-ups out)",
    ),
]
Before = Annotated[
    Instant | None,
    Query(description="Only entries before this moment: the `before` of the previous answer"),
]
IncludeFollowUps = Annotated[bool, Query(description="Also the follow-ups")]
TimelineLimit = Annotated[int, Query(ge=1, le=100, description="Entries, 1 to 100")]


class TimelineEntryOut(BaseModel):
    kind: Literal["interaction", "follow_up", "trade", "communication"]
    at: datetime = Field(
        description="The interaction's date, the follow-up's due time, the trade date or when "
        "the message was sent"
    )
    interaction: InteractionPublic | None = None
    follow_up: FollowUpPublic | None = None
    # Orders' fills and other portfolio transactions.
    transaction: TransactionPublic | None = None
    # Messages with the firm's traders on every channel.
    communication: CommunicationPublic | None = None


class TimelineOut(BaseModel):
    entries: list[TimelineEntryOut]
    has_more: bool
    before: datetime | None = Field(description="Pass back as `before` for older entries")

    @classmethod
    def of(cls, line: relationship.Timeline) -> TimelineOut:
        return cls(
            entries=[
                TimelineEntryOut(
                    kind=e.kind,
                    at=e.at,
                    interaction=e.interaction,
                    follow_up=e.follow_up,
                    transaction=e.transaction,
                    communication=e.communication,
                )
                for e in line.entries
            ],
            has_more=line.has_more,
            before=line.before,
        )


class DueFirmOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    firm_id: int
    name: str
    tier: str
    account_status: str
    primary_broker: str
    last_contact_at: datetime | None
    days_since: int | None
    interval_days: int = Field(description="Days its tier allows between contacts")
    interactions_30d: int
    interactions_90d: int
    open_follow_ups: int
    overdue_follow_ups: int


async def timeline_filters(
    types: Types = [],  # noqa: B006 (FastAPI copies defaults)
    outcomes: Outcomes = [],  # noqa: B006
    include_follow_ups: IncludeFollowUps = True,
    before: Before = None,
    limit: TimelineLimit = 30,
) -> dict:
    """The query parameters both timelines take, as relationship.timeline's keywords."""
    return {
        "types": list(types),
        "outcomes": list(outcomes),
        "include_follow_ups": include_follow_ups,
        "before": before,
        "limit": limit,
    }


TimelineFilters = Annotated[dict, Depends(timeline_filters)]


@router.get("/firms/{firm_id}/timeline", response_model=TimelineOut)
def firm_timeline(
    firm_id: FirmId, db: DB, actor: CurrentActor, filters: TimelineFilters
) -> TimelineOut:
    """A firm's interactions and follow-ups, newest first."""
    return TimelineOut.of(relationship.timeline(db, actor=actor, firm_id=firm_id, **filters))


@router.get("/traders/{trader_id}/timeline", response_model=TimelineOut)
def trader_timeline(
    trader_id: TraderId, db: DB, actor: CurrentActor, filters: TimelineFilters
) -> TimelineOut:
    """The interactions one trader took part in and the follow-ups naming them, newest first."""
    return TimelineOut.of(relationship.timeline(db, actor=actor, trader_id=trader_id, **filters))


@router.get("/due-for-contact", response_model=PageOut[DueFirmOut])
def due_for_contact(
    db: DB,
    actor: CurrentActor,
    mine: Annotated[bool, Query(description="Only firms I cover")] = False,
    broker_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only firms this broker covers")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size, 1 to 200")] = 20,
    offset: Offset = 0,
) -> PageOut[DueFirmOut]:
    """Active and prospect firms you may see whose last contact is older than their tier's
    interval (or that were never contacted), longest-neglected first."""
    page = relationship.due_for_contact(
        db,
        actor=actor,
        page=PageRequest(offset=offset, limit=limit),
        broker_id=broker_id,
        mine=mine,
    )
    return PageOut[DueFirmOut].of(page)
