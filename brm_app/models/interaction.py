"""Interactions with traders (calls, meetings ...), kept as versioned records of the firm.

`interactions` holds the current version of each record (for lists, filters and timelines);
`interaction_versions` holds every version, each exactly as it was saved, never changed;
`interaction_traders` says which traders took part (with the date, for fast per-trader timelines).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow
from brm_app.encryption.columns import EncryptedText, new_row_key, register
from brm_app.models.fields import Moment, RecordId, check_text, optional_text

SUBJECT_MAX = 200
NOTES_MAX = 20_000

BUILT_IN_TYPES = (
    "Call",
    "Meeting",
    "Email",
    "Video call",
    "Chat",
    "Conference",
    "Roadshow",
    "Research request",
)
BUILT_IN_OUTCOMES = (
    "Follow-up required",
    "Closed",
    "Positive",
    "Negative",
    "No answer",
    "Order placed",
)
FOLLOW_UP_OUTCOME = "Follow-up required"
# Interactions of these types are meetings (they go to calendar feeds).
MEETING_TYPES = ("Meeting", "Video call", "Conference", "Roadshow")


class InteractionType(SQLModel, table=True):
    __tablename__ = "interaction_types"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    name_key: str = Field(max_length=60, unique=True)
    built_in: bool = Field(default=False)
    is_active: bool = Field(default=True)
    sort_order: int = Field(default=100)


class InteractionOutcome(SQLModel, table=True):
    __tablename__ = "interaction_outcomes"
    __table_args__ = {"extend_existing": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    name_key: str = Field(max_length=60, unique=True)
    sort_order: int = Field(default=100)


class InteractionTypeOutcome(SQLModel, table=True):
    """Which outcomes each interaction type allows (admins decide)."""

    __tablename__ = "interaction_type_outcomes"
    __table_args__ = {"extend_existing": True}

    type_id: int = Field(foreign_key="interaction_types.id", primary_key=True)
    outcome_id: int = Field(foreign_key="interaction_outcomes.id", primary_key=True)


class Interaction(SQLModel, table=True):
    __tablename__ = "interactions"
    __table_args__ = (
        sa.Index("ix_interactions_firm_date", "firm_id", "occurred_at", "id"),
        # The live ones of a broker's firms, newest first, from the index alone (the command
        # palette's recent window: ids only, then the 500 rows).
        sa.Index("ix_interactions_firm_live_date", "firm_id", "voided_at", "occurred_at", "id"),
        sa.Index("ix_interactions_broker_date", "broker_id", "occurred_at", "id"),
        # Everyone's newest first (managers, compliance, admins): walked in order, no sort.
        sa.Index("ix_interactions_date", "occurred_at", "id"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    firm_id: int = Field(foreign_key="firms.id")
    # The broker who logged it (the actor); never changes.
    broker_id: int = Field(foreign_key="users.id")
    interaction_type: str = Field(max_length=60)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    time_zone: str = Field(max_length=64)
    duration_minutes: int | None = Field(default=None)
    subject: str = Field(max_length=SUBJECT_MAX)
    # Encrypted (brm_app/encryption/columns.py), bound to this row by its row_key.
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    notes: str | None = Field(default=None, sa_type=EncryptedText)
    outcome: str | None = Field(default=None, max_length=60)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by_id: int | None = Field(default=None, foreign_key="users.id")
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    voided_by_id: int | None = Field(default=None, foreign_key="users.id")
    void_reason: str | None = Field(default=None, max_length=500)


class InteractionVersion(SQLModel, table=True):
    """One saved version of an interaction, exactly as saved (canonical JSON); never updated."""

    __tablename__ = "interaction_versions"
    __table_args__ = (
        sa.UniqueConstraint("interaction_id", "version", name="ux_interaction_versions"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    interaction_id: int = Field(foreign_key="interactions.id")
    version: int
    # The version's canonical JSON (notes included), encrypted as a whole: bound to this row by
    # its row_key. Key rotation re-encrypts it; the plaintext never changes.
    row_key: str = Field(default_factory=new_row_key, max_length=32)
    data: str = Field(sa_type=EncryptedText)
    saved_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    saved_by_id: int = Field(foreign_key="users.id")


register(Interaction, columns=("notes",))
register(InteractionVersion, columns=("data",))


class InteractionTrader(SQLModel, table=True):
    __tablename__ = "interaction_traders"
    __table_args__ = (
        sa.Index(
            "ix_interaction_traders_trader_date", "trader_id", "occurred_at", "interaction_id"
        ),
        {"extend_existing": True},
    )

    interaction_id: int = Field(foreign_key="interactions.id", primary_key=True)
    trader_id: int = Field(foreign_key="traders.id", primary_key=True)
    # Copied from the interaction so a trader's timeline is one index range scan.
    occurred_at: datetime = Field(sa_type=UTCDateTime)


# ---- schemas ---------------------------------------------------------------------------------

TypeName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=60),
    AfterValidator(check_text),
]
TimeZoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(check_text),
]


class InteractionWrite(BaseModel):
    """A new interaction, or a new version of one (PUT). `interaction_date` may carry an offset;
    without one it is read in `time_zone` (default: the user's time zone)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    firm_id: RecordId | None = PField(
        default=None, description="Optional when traders are given: their firm"
    )
    trader_id: RecordId | None = None
    trader_ids: list[RecordId] | None = PField(default=None, max_length=50)
    interaction_type: TypeName
    interaction_date: Moment
    # Optional end: gives the duration (and must not be before the start).
    interaction_end: Moment | None = None
    time_zone: TimeZoneName | None = None
    duration_minutes: int | None = PField(default=None, ge=0, le=24 * 60)
    # Optional (the design document has none): blank or missing, the service derives one.
    subject: optional_text(SUBJECT_MAX) = PField(
        default=None,
        description='Default: "<type> with <trader names>" (never the notes, which are '
        "encrypted at rest while subjects are not)",
    )
    notes: (
        Annotated[str, StringConstraints(max_length=NOTES_MAX), AfterValidator(check_text)] | None
    ) = None
    outcome: TypeName | None = None


class InteractionVoid(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=3, max_length=500),
        AfterValidator(check_text),
    ]


class InteractionPublic(BaseModel):
    interaction_id: int
    firm_id: int
    firm_name: str
    broker_id: int
    broker_name: str
    trader_ids: list[int]
    trader_names: list[str]
    interaction_type: str
    interaction_date: AwareDatetime
    time_zone: str
    duration_minutes: int | None
    subject: str
    notes: str | None
    outcome: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    voided: bool
    voided_at: datetime | None = None
    void_reason: str | None = None


class InteractionVersionPublic(BaseModel):
    version: int
    saved_at: datetime
    saved_by_id: int
    saved_by: str
    # Exactly the JSON that was saved for this version.
    data: str
