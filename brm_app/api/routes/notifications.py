"""Notifications: /api/v1/notifications, the same list the bell shows (each caller's own only:
another user's notification answers 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, Field

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Limit, Offset
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.follow_up import NotificationPublic
from brm_app.services import notifications
from brm_app.services.pagination import PageRequest

router = ApiRouter(prefix="/api/v1/notifications", tags=["notifications"], responses=ERRORS)

NotificationId = Annotated[int, Path(ge=1, le=MAX_ID, description="A notification id")]


class UnreadCountOut(BaseModel):
    unread: int = Field(description="Your unread notifications")


class MarkedOut(BaseModel):
    marked: int = Field(description="Notifications marked read by this call")


@router.get("", response_model=PageOut[NotificationPublic])
def list_notifications(
    db: DB,
    actor: CurrentActor,
    unread: Annotated[bool, Query(description="Only unread ones")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[NotificationPublic]:
    """Your notifications, newest first."""
    page = notifications.list_notifications(
        db, actor=actor, unread_only=unread, page=PageRequest(offset=offset, limit=limit)
    )
    return PageOut[NotificationPublic].of(page)


@router.get("/unread-count", response_model=UnreadCountOut)
def unread_count(db: DB, actor: CurrentActor) -> UnreadCountOut:
    """How many of your notifications are unread (the bell's badge)."""
    return UnreadCountOut(unread=notifications.unread_count(db, actor=actor))


@router.post("/read-all", response_model=MarkedOut)
def mark_all_read(db: DB, actor: CurrentActor) -> MarkedOut:
    """Mark all your notifications read."""
    return MarkedOut(marked=notifications.mark_all_read(db, actor=actor))


@router.post("/{notification_id}/read", response_model=NotificationPublic)
def mark_read(notification_id: NotificationId, db: DB, actor: CurrentActor) -> NotificationPublic:
    """Mark one of your notifications read (already read: no change)."""
    return notifications.mark_read(db, actor=actor, notification_id=notification_id)
