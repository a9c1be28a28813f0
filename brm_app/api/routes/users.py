"""Users: /api/v1/users/me for everyone; listing, creating and changing users for admins."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from brm_app.api.deps import DB, CurrentActor, SetupActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Offset, OneTimeCode, SearchText
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.user import Role, UserCreate, UserName, UserPublic, UserUpdate
from brm_app.services import authentication, two_factor, users
from brm_app.services.pagination import PageRequest
from brm_app.settings import get_settings

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="A user id")]

router = ApiRouter(prefix="/api/v1/users", tags=["users"], responses=ERRORS)


class UserCreatedOut(UserPublic):
    initial_password: str | None = Field(
        default=None, description="Only when the password was generated: shown this once."
    )


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: UserName | None = None
    email_reminders: StrictBool | None = Field(
        default=None, description="Also email me my reminders"
    )
    locale: str | None = Field(
        default=None,
        max_length=35,
        description="How dates, times and numbers are written in the app: "
        + ", ".join(loc for loc in users.LOCALES if loc)
        + ', or "" for the browser\'s own',
    )


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)
    otp: OneTimeCode | None = Field(
        default=None,
        description="With two-factor sign-in on: the current code of your app, or a recovery code",
    )


@router.get("/me", response_model=UserPublic)
def me(db: DB, actor: CurrentActor) -> UserPublic:
    return users.get_me(db, actor=actor)


@router.patch("/me", response_model=UserPublic)
def update_me(body: ProfileIn, db: DB, actor: CurrentActor) -> UserPublic:
    """Change your name, locale and whether your reminders are also emailed to you (omitted:
    unchanged)."""
    if body.name is not None or body.locale is not None:
        name = body.name if body.name is not None else users.get_me(db, actor=actor).name
        users.update_profile(db, actor=actor, name=name, locale=body.locale)
    if body.email_reminders is not None:
        users.set_email_reminders(db, actor=actor, enabled=body.email_reminders)
    return users.get_me(db, actor=actor)


@router.post("/me/password", status_code=204)
def change_password(body: PasswordChangeIn, db: DB, actor: SetupActor) -> None:
    """Change your password. The one call open to an account whose password an admin chose
    (every other answers 403 until this is done); afterwards, request a new token."""
    authentication.change_own_password(
        db,
        actor=actor,
        current_password=body.current_password,
        new_password=body.new_password,
        otp=body.otp,
        settings=get_settings(),
    )


@router.get("", response_model=PageOut[UserPublic])
def list_users(
    db: DB,
    actor: CurrentActor,
    q: SearchText = None,
    role: Role | None = None,
    status: Literal["active", "inactive", "locked"] | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PageOut[UserPublic]:
    page = users.list_users(
        db,
        actor=actor,
        page=PageRequest(offset=offset, limit=limit),
        q=q,
        role=role.value if role else None,
        status=status,
    )
    return PageOut.of(page)


@router.post("", response_model=UserCreatedOut, status_code=201)
def create_user(body: UserCreate, db: DB, actor: CurrentActor) -> UserCreatedOut:
    created = users.create_user(db, actor=actor, data=body)
    return UserCreatedOut(**created.user.model_dump(), initial_password=created.initial_password)


@router.get("/{user_id}", response_model=UserPublic)
def get_user(user_id: UserId, db: DB, actor: CurrentActor) -> UserPublic:
    return users.get_user(db, actor=actor, user_id=user_id)


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: UserId, body: UserUpdate, db: DB, actor: CurrentActor) -> UserPublic:
    return users.update_user(db, actor=actor, user_id=user_id, data=body)


@router.post("/{user_id}/mfa/reset", response_model=UserPublic)
def reset_mfa(user_id: UserId, db: DB, actor: CurrentActor) -> UserPublic:
    """Turn a user's two-factor sign-in off (a lost phone); their sessions and tokens end.
    409 when they have none."""
    return two_factor.admin_reset(db, actor=actor, user_id=user_id)


@router.post("/{user_id}/unlock", response_model=UserPublic)
def unlock_user(user_id: UserId, db: DB, actor: CurrentActor) -> UserPublic:
    return users.unlock(db, actor=actor, user_id=user_id)
