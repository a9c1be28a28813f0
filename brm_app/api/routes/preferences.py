"""The caller's own notification preferences: per kind of event the channels (in-app, email,
SMS), quiet hours, and the mobile number SMS go to."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, StringConstraints

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import NoNul
from brm_app.api.schemas import ERRORS
from brm_app.models.communication import PreferencePublic
from brm_app.services import preferences

router = ApiRouter(prefix="/api/v1/users/me", tags=["preferences"], responses=ERRORS)

Kind = Annotated[
    str, Path(max_length=40, description="reminder, overdue, message, assigned"), NoNul
]
Clock = Annotated[str, StringConstraints(max_length=5), NoNul]


class PreferenceWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    in_app: bool
    email: bool
    sms: bool


class QuietHoursWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: Clock | None = None
    end: Clock | None = None


class QuietHoursOut(BaseModel):
    start: str | None
    end: str | None


class MobileWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mobile: Annotated[str, StringConstraints(max_length=40), NoNul] | None = None


class MobileOut(BaseModel):
    mobile: str | None


@router.get("/notification-preferences", response_model=list[PreferencePublic])
def get_preferences(db: DB, actor: CurrentActor) -> list[PreferencePublic]:
    """Your channels per kind of event (defaults where you chose nothing)."""
    return preferences.get_preferences(db, actor=actor)


@router.put("/notification-preferences/{kind}", response_model=PreferencePublic)
def set_preference(
    kind: Kind, body: PreferenceWrite, db: DB, actor: CurrentActor
) -> PreferencePublic:
    return preferences.set_preference(
        db, actor=actor, kind=kind, in_app=body.in_app, email=body.email, sms=body.sms
    )


@router.put("/quiet-hours", response_model=QuietHoursOut)
def set_quiet_hours(body: QuietHoursWrite, db: DB, actor: CurrentActor) -> QuietHoursOut:
    """Email and SMS wait until your quiet hours end (times in your time zone; none: off)."""
    got = preferences.set_quiet_hours(db, actor=actor, start=body.start, end=body.end)
    return QuietHoursOut(start=got[0], end=got[1]) if got else QuietHoursOut(start=None, end=None)


@router.put("/mobile", response_model=MobileOut)
def set_mobile(body: MobileWrite, db: DB, actor: CurrentActor) -> MobileOut:
    """Your mobile number (E.164) for notifications by SMS; empty removes it."""
    return MobileOut(mobile=preferences.set_mobile(db, actor=actor, mobile=body.mobile))
