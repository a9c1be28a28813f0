"""Users of the app (staff and traders with portal access) and their public/input schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow
from brm_app.encryption.columns import (
    EncryptedText,
    blind_index,
    new_row_key,
    normalise_email,
    register,
)
from brm_app.models.fields import RecordId, check_text, name_text


class Role(StrEnum):
    ADMIN = "admin"
    COMPLIANCE = "compliance"
    MANAGER = "manager"
    BROKER = "broker"
    TRADER = "trader"


ROLE_LABELS = {
    Role.ADMIN: "Admin",
    Role.COMPLIANCE: "Compliance",
    Role.MANAGER: "Manager",
    Role.BROKER: "Broker",
    Role.TRADER: "Trader",
}

EMAIL_MAX = 254
NAME_MAX = 120
UserName = name_text(NAME_MAX)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        # Emails are unique ignoring case: on the blind index (of the lower-cased address), the
        # email itself is encrypted.
        sa.Index("ux_users_email_bidx", "email_bidx", unique=True),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    # Encrypted (brm_app/encryption/columns.py), bound to this row by its row_key; stored
    # normalised (lower case). Looked up by `email_bidx` (sign-in, uniqueness, the throttle).
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    email: str = Field(sa_type=EncryptedText)
    email_bidx: str = Field(default="", max_length=32)
    name: str = Field(max_length=NAME_MAX)
    role: str = Field(max_length=20, index=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = Field(default=True)
    # The manager a broker reports to (team views, overdue escalation).
    manager_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    # Tokens and sessions issued before this instant are void (password change, deactivation).
    credentials_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # IANA name; dates and times are entered and shown in it.
    time_zone: str = Field(default="UTC", max_length=64)
    # BCP 47 tag dates, times and numbers are shown in ("": the browser's own).
    locale: str = Field(default="", max_length=35, sa_column_kwargs={"server_default": ""})
    # "Also email me my reminders" (per-channel preferences come with the communications work).
    email_reminders: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # A password an admin set or generated: the user must choose their own before anything else.
    must_change_password: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    # Two-factor sign-in (TOTP) is on; the secret itself lives encrypted in user_totp.
    mfa_enabled: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # A mobile number (E.164) for notifications by SMS (their preferences say which).
    # Encrypted like the email (a portal trader's may be their trader record's mobile).
    mobile: str | None = Field(default=None, sa_type=EncryptedText)


register(User, columns=("email", "mobile"), indexes={"email": normalise_email})


def email_index(email: str) -> str:
    """The blind index to look a user up by email (any case)."""
    return blind_index("users", "email", email) or ""


class UserPublic(BaseModel):
    """What any caller may see of a user: never the hash."""

    model_config = ConfigDict(from_attributes=True)

    user_id: int
    email: str
    name: str
    role: Role
    is_active: bool
    manager_id: int | None
    created_at: datetime
    last_login_at: datetime | None
    time_zone: str = "UTC"
    locale: str = ""
    locked_until: datetime | None = None
    email_reminders: bool = False
    must_change_password: bool = False
    mfa_enabled: bool = False

    @classmethod
    def of(cls, user: User, locked_until: datetime | None = None) -> UserPublic:
        return cls(
            user_id=user.id,
            email=user.email,
            name=user.name,
            role=Role(user.role),
            is_active=user.is_active,
            manager_id=user.manager_id,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
            time_zone=user.time_zone,
            locale=user.locale or "",
            locked_until=locked_until,
            email_reminders=user.email_reminders,
            must_change_password=user.must_change_password,
            mfa_enabled=user.mfa_enabled,
        )


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: Annotated[str, PField(max_length=EMAIL_MAX), AfterValidator(check_text)]
    name: UserName
    role: Role
    password: str | None = PField(default=None, max_length=1024)
    manager_id: RecordId | None = None


class UserUpdate(BaseModel):
    """Partial update by an admin; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: Annotated[str, PField(max_length=EMAIL_MAX), AfterValidator(check_text)] | None = None
    name: UserName | None = None
    role: Role | None = None
    is_active: bool | None = None
    manager_id: RecordId | None = None
    password: str | None = PField(default=None, max_length=1024)


class ProfileUpdate(BaseModel):
    """What every user may change about themselves."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: UserName
