"""The calendar: /api/v1/calendar (follow-ups and interactions in a date range, mine, one of my
brokers' or my team's) and /api/v1/calendar-feeds (each user's own secret iCalendar URLs).

Every rule lives in services.calendar and services.calendar_feed. A feed's URL is answered once,
when it is created (only a hash of its token is kept); `GET /api/calendar/<token>.ics` serves it
until it is revoked, then answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, Field

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Day
from brm_app.api.schemas import ERRORS
from brm_app.services import calendar, calendar_feed
from brm_app.services.calendar_feed import FeedInfo
from brm_app.settings import get_settings

router = ApiRouter(prefix="/api/v1", tags=["calendar"], responses=ERRORS)

FeedId = Annotated[int, Path(ge=1, le=MAX_ID, description="A calendar feed id")]
CalendarDay = Annotated[Day, Query(description="A day, YYYY-MM-DD (your time zone)")]


class CalendarItemOut(BaseModel):
    kind: Literal["follow_up", "interaction"]
    id: int = Field(description="The follow-up's or the interaction's id")
    title: str
    starts_at: datetime
    ends_at: datetime
    firm_id: int
    firm_name: str
    person: str = Field(description="The assignee (follow-ups) or the logging broker")
    status: str = Field(description="Follow-ups: open or done; interactions: their type")
    overdue: bool
    detail: str = Field(description="Interactions: the outcome")


class BrokerOut(BaseModel):
    broker_id: int
    name: str


class CalendarOut(BaseModel):
    items: list[CalendarItemOut]
    brokers: list[BrokerOut] = Field(description="Whose calendars you may choose (`broker_id`)")
    time_zone: str = Field(description="The time zone the days were read in (yours)")


class FeedOut(BaseModel):
    feed_id: int
    created_at: datetime
    last_fetched_at: datetime | None
    active: bool

    @classmethod
    def of(cls, info: FeedInfo) -> FeedOut:
        return cls(
            feed_id=info.feed_id,
            created_at=info.created_at,
            last_fetched_at=info.last_fetched_at,
            active=info.active,
        )


class FeedCreatedOut(FeedOut):
    url: str = Field(
        description="The secret iCalendar URL to subscribe to: shown this once, keep it private"
    )


@router.get("/calendar", response_model=CalendarOut)
def calendar_items(
    db: DB,
    actor: CurrentActor,
    start: CalendarDay,
    end: CalendarDay,
    broker_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="One of your brokers (managers, compliance, admins)"),
    ] = None,
    team: Annotated[
        bool, Query(description="Your whole team (managers); everyone (compliance, admins)")
    ] = False,
) -> CalendarOut:
    """Follow-ups (by due time) and interactions from `start` to `end` inclusive (at most 62
    days): yours, one of your brokers' or your team's."""
    view = calendar.items(db, actor=actor, start=start, end=end, broker_id=broker_id, team=team)
    return CalendarOut(
        items=[
            CalendarItemOut(
                kind=i.kind,
                id=i.item_id,
                title=i.title,
                starts_at=i.starts_at,
                ends_at=i.ends_at,
                firm_id=i.firm_id,
                firm_name=i.firm_name,
                person=i.person,
                status=i.status,
                overdue=i.overdue,
                detail=i.detail,
            )
            for i in view.items
        ],
        brokers=[BrokerOut(broker_id=b, name=n) for b, n in view.brokers],
        time_zone=view.time_zone,
    )


@router.get("/calendar-feeds", response_model=list[FeedOut])
def list_feeds(db: DB, actor: CurrentActor) -> list[FeedOut]:
    """Your calendar feeds, newest first (their URLs are not kept, so not shown)."""
    return [FeedOut.of(f) for f in calendar_feed.list_feeds(db, actor=actor)]


@router.post("/calendar-feeds", response_model=FeedCreatedOut, status_code=201)
def create_feed(db: DB, actor: CurrentActor) -> FeedCreatedOut:
    """A new secret iCalendar URL with your follow-ups and meetings, for Outlook or Google
    Calendar to subscribe to. The URL is answered this once; it stops working when you revoke
    it or your password changes."""
    info, token = calendar_feed.create_feed(db, actor=actor)
    url = calendar_feed.address(token, public_url=get_settings().public_url)
    return FeedCreatedOut(**FeedOut.of(info).model_dump(), url=url)


@router.delete("/calendar-feeds/{feed_id}", status_code=204)
def revoke_feed(feed_id: FeedId, db: DB, actor: CurrentActor) -> None:
    """Revoke one of your feeds: its URL answers 404 from now on."""
    calendar_feed.revoke_feed(db, actor=actor, feed_id=feed_id)
