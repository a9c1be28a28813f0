"""Traders at client firms, the roles they can hold, and where they worked before."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow
from brm_app.encryption.columns import (
    EncryptedText,
    new_row_key,
    normalise_email,
    normalise_phone,
    register,
)
from brm_app.models.fields import Email, Mobile, Phone, RecordId, name_text

NAME_MAX = 200
BUILT_IN_ROLES = ("Portfolio Manager", "Analyst", "Trader", "Head of Desk", "Operations")


class TraderStatus(StrEnum):
    ACTIVE = "active"
    LEFT = "left"


class TraderPermission(StrEnum):
    PORTAL_ACCESS = "portal_access"
    VIEW_PORTFOLIO = "view_portfolio"
    RECEIVE_EMAIL = "receive_email"
    RECEIVE_SMS = "receive_sms"


PERMISSION_LABELS = {
    TraderPermission.PORTAL_ACCESS: "Portal access",
    TraderPermission.VIEW_PORTFOLIO: "View portfolio",
    TraderPermission.RECEIVE_EMAIL: "Receive email",
    TraderPermission.RECEIVE_SMS: "Receive SMS",
}


class Trader(SQLModel, table=True):
    __tablename__ = "traders"
    __table_args__ = (
        # Email is unique within a firm (among traders not archived or merged away): on its
        # blind index, the email itself is encrypted.
        sa.Index(
            "ux_traders_firm_email",
            "firm_id",
            "email_bidx",
            unique=True,
            sqlite_where=sa.text("archived_at IS NULL"),
            postgresql_where=sa.text("archived_at IS NULL"),
        ),
        sa.Index("ix_traders_firm_name", "firm_id", "archived_at", "name_key", "id"),
        sa.Index("ix_traders_live_name", "archived_at", "name_key", "id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    firm_id: int = Field(foreign_key="firms.id")
    name: str = Field(max_length=NAME_MAX)
    name_key: str = Field(max_length=NAME_MAX)
    # Encrypted (brm_app/encryption/columns.py): bound to this row by its row_key.
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    email: str = Field(sa_type=EncryptedText)
    # Keyed digests for exact-match lookups: inbound email and SMS senders, the palette.
    email_bidx: str = Field(default="", max_length=32, index=True)
    phone: str | None = Field(default=None, sa_type=EncryptedText)
    # A mobile number (E.164): SMS go only here.
    mobile: str | None = Field(default=None, sa_type=EncryptedText)
    mobile_bidx: str | None = Field(default=None, max_length=32, index=True)
    role: str = Field(max_length=60)
    portal_access: bool = Field(default=False)
    view_portfolio: bool = Field(default=False)
    receive_email: bool = Field(default=True)
    receive_sms: bool = Field(default=False)
    status: str = Field(default=TraderStatus.ACTIVE.value, max_length=10)
    # The portal account (role "trader") when portal access was granted.
    user_id: int | None = Field(default=None, foreign_key="users.id", unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when a firm merge found the same person at the surviving firm.
    merged_into_id: int | None = Field(default=None, foreign_key="traders.id")

    @property
    def permissions(self) -> list[TraderPermission]:
        return [p for p in TraderPermission if getattr(self, p.value)]


register(
    Trader,
    columns=("email", "phone", "mobile"),
    indexes={"email": normalise_email, "mobile": normalise_phone},
)


class TraderRole(SQLModel, table=True):
    """The roles a trader can hold at a firm: five built in, more added by admins."""

    __tablename__ = "trader_roles"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    name_key: str = Field(max_length=60, unique=True)
    built_in: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TraderMove(SQLModel, table=True):
    """A trader moving firms keeps their history: each move is recorded, never delete and re-create."""

    __tablename__ = "trader_moves"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    trader_id: int = Field(foreign_key="traders.id", index=True)
    from_firm_id: int = Field(foreign_key="firms.id")
    to_firm_id: int = Field(foreign_key="firms.id")
    moved_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    moved_by_id: int | None = Field(default=None, foreign_key="users.id")
    reason: str | None = Field(default=None, max_length=200)


# ---- schemas ---------------------------------------------------------------------------------

TraderName = name_text(NAME_MAX)
RoleName = name_text(60)


class TraderWrite(BaseModel):
    """A whole trader (POST and PUT)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: TraderName
    email: Email
    phone: Phone = None
    mobile: Mobile = None
    role: RoleName = "Trader"
    permissions: list[TraderPermission] = PField(
        default_factory=lambda: [TraderPermission.RECEIVE_EMAIL], max_length=10
    )
    status: TraderStatus = TraderStatus.ACTIVE
    # Sending another firm's id moves the trader there (the move is recorded).
    firm_id: RecordId | None = None


class TraderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: TraderName | None = None
    email: Email | None = None
    phone: Phone = None
    mobile: Mobile = None
    role: RoleName | None = None
    permissions: list[TraderPermission] | None = PField(default=None, max_length=10)
    status: TraderStatus | None = None
    firm_id: RecordId | None = None


class TraderPublic(BaseModel):
    trader_id: int
    firm_id: int
    firm_name: str
    name: str
    email: str
    phone: str | None
    role: str
    permissions: list[TraderPermission]
    status: TraderStatus
    portal_user_id: int | None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None
    mobile: str | None = None


class TraderMovePublic(BaseModel):
    from_firm_id: int
    from_firm_name: str
    to_firm_id: int
    to_firm_name: str
    moved_at: datetime
    moved_by: str | None
    reason: str | None
