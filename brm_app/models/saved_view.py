"""A user's saved views of the firm and trader lists: filters, sort and columns, by name."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from brm_app.db import UTCDateTime, utcnow

VIEW_NAME_MAX = 60


class SavedView(SQLModel, table=True):
    __tablename__ = "saved_views"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "list_name", "name", name="ux_saved_views_user_list_name"),
        {"extend_existing": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    list_name: str = Field(max_length=20)  # firms, traders
    name: str = Field(max_length=VIEW_NAME_MAX)
    # JSON: {"q", "status", "tier", "coverage", "sort", "direction", "columns": [...]}
    settings: str = Field(max_length=4000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SavedViewPublic(BaseModel):
    view_id: int
    list_name: str
    name: str
    settings: dict[str, object]
