"""Client firms, who covers them, and their input/output schemas (design-document field names)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow
from brm_app.encryption.columns import EncryptedText, new_row_key, register
from brm_app.models.fields import (
    LEI,
    BodyDay,
    Country,
    OptionalEmail,
    Phone,
    RecordId,
    Website,
    name_text,
    optional_text,
)

NAME_MAX = 200
NOTES_MAX = 10_000


class AccountStatus(StrEnum):
    PROSPECT = "Prospect"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    SUSPENDED = "Suspended"


class Tier(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class CoverageRole(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


class Firm(SQLModel, table=True):
    __tablename__ = "firms"
    __table_args__ = (
        sa.Index("ix_firms_live_name", "archived_at", "name_key", "id"),
        sa.Index("ix_firms_live_updated", "archived_at", "updated_at", "id"),
        sa.Index("ix_firms_live_contact", "archived_at", "tier", "last_interaction_at"),
        # A broker's book by name: the covered firms' ids looked up without reading their rows.
        sa.Index("ix_firms_id_live_name", "id", "archived_at", "name_key"),
        # Live firms in list order as partial indexes: PostgreSQL's planner walks these for a
        # page (an index-only scan), where it sorted the whole table instead of using the above.
        sa.Index(
            "ix_firms_live_by_name",
            "name_key",
            "id",
            postgresql_where=sa.text("archived_at IS NULL"),
            sqlite_where=sa.text("archived_at IS NULL"),
        ),
        sa.Index(
            "ix_firms_live_by_updated",
            "updated_at",
            "id",
            postgresql_where=sa.text("archived_at IS NULL"),
            sqlite_where=sa.text("archived_at IS NULL"),
        ),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=NAME_MAX)
    # Case-folded, space-collapsed name: unique, so "Acme  Ltd" and "acme ltd" are one firm.
    name_key: str = Field(max_length=NAME_MAX, unique=True)
    lei: str | None = Field(default=None, max_length=20, unique=True)
    # Encrypted (brm_app/encryption/columns.py): street, postal code, contact details, notes.
    # City and country stay in clear: the lists filter and sort on them.
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    street: str | None = Field(default=None, sa_type=EncryptedText)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, sa_type=EncryptedText)
    country: str | None = Field(default=None, max_length=2)
    phone: str | None = Field(default=None, sa_type=EncryptedText)
    email: str | None = Field(default=None, sa_type=EncryptedText)
    website: str | None = Field(default=None, sa_type=EncryptedText)
    account_status: str = Field(default=AccountStatus.PROSPECT.value, max_length=20, index=True)
    tier: str = Field(default=Tier.C.value, max_length=1, index=True)
    notes: str | None = Field(default=None, sa_type=EncryptedText)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    # Archived firms are kept (regulated records) but leave every list; admins can restore them.
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    merged_into_id: int | None = Field(default=None, foreign_key="firms.id")
    # The latest live interaction's date, kept by the interaction service (due-for-contact lists).
    last_interaction_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Portfolio totals are in this currency (None: the BRM_REPORTING_CURRENCY setting).
    reporting_currency: str | None = Field(default=None, max_length=3)
    # MiFID II Art. 16(7): the day the client was told their communications are recorded
    # (None: not told yet; the composer and the interaction dialog warn).
    recording_disclosed_on: date | None = Field(default=None)


register(Firm, columns=("street", "postal_code", "phone", "email", "website", "notes"))


class FirmCoverage(SQLModel, table=True):
    """Which brokers cover a firm: exactly one primary (when assigned) and any secondaries."""

    __tablename__ = "firm_coverage"
    __table_args__ = (
        sa.Index("ix_firm_coverage_broker", "broker_id", "firm_id"),
        sa.Index(
            "ux_firm_coverage_one_primary",
            "firm_id",
            unique=True,
            sqlite_where=sa.text("role = 'primary'"),
            postgresql_where=sa.text("role = 'primary'"),
        ),
        {"extend_existing": True},
    )

    firm_id: int = Field(foreign_key="firms.id", primary_key=True)
    broker_id: int = Field(foreign_key="users.id", primary_key=True)
    role: str = Field(max_length=10)
    assigned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    assigned_by_id: int | None = Field(default=None, foreign_key="users.id")


# ---- schemas ---------------------------------------------------------------------------------

FirmName = name_text(NAME_MAX)


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    street: optional_text(200) = None
    city: optional_text(100) = None
    postal_code: optional_text(20) = None
    country: Country = None


class ContactDetails(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    phone: Phone = None
    email: OptionalEmail = None
    website: Website = None


class FirmWrite(BaseModel):
    """A whole firm (POST and PUT). Omitted optional fields are empty."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: FirmName
    lei: LEI = None
    address: Address = PField(default_factory=Address)
    contact_details: ContactDetails = PField(default_factory=ContactDetails)
    account_status: AccountStatus = AccountStatus.PROSPECT
    tier: Tier = Tier.C
    notes: optional_text(NOTES_MAX) = None
    # The day the client was told their communications are recorded (MiFID II); empty: not yet.
    recording_disclosed_on: BodyDay | None = None
    primary_broker_id: RecordId | None = None
    secondary_broker_ids: list[RecordId] | None = PField(default=None, max_length=50)


class FirmPatch(BaseModel):
    """Only the fields sent change (PATCH)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: FirmName | None = None
    lei: LEI = None
    address: Address | None = None
    contact_details: ContactDetails | None = None
    account_status: AccountStatus | None = None
    tier: Tier | None = None
    notes: optional_text(NOTES_MAX) = None
    # The day the client was told their communications are recorded (MiFID II); empty: not yet.
    recording_disclosed_on: BodyDay | None = None
    primary_broker_id: RecordId | None = None
    secondary_broker_ids: list[RecordId] | None = PField(default=None, max_length=50)


class BrokerRef(BaseModel):
    user_id: int
    name: str


class Coverage(BaseModel):
    primary: BrokerRef | None
    secondary: list[BrokerRef]


class FirmPublic(BaseModel):
    firm_id: int
    name: str
    lei: str | None
    address: Address
    contact_details: ContactDetails
    account_status: AccountStatus
    tier: Tier
    # Internal notes: None for traders, who never see them.
    notes: str | None
    coverage: Coverage
    trader_count: int
    recording_disclosed_on: date | None = None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None
    merged_into_id: int | None = None


class FirmListItem(BaseModel):
    """One row of a firm list: what the table shows, computed in the same query."""

    firm_id: int
    name: str
    lei: str | None
    city: str | None
    country: str | None
    account_status: AccountStatus
    tier: Tier
    primary_broker: BrokerRef | None
    trader_count: int
    updated_at: datetime
    archived_at: datetime | None = None
