"""fx history: one rate per currency pair and day, so performance converts each day at its rate

Revision ID: 0009f
Revises: 0008u
Create Date: 2026-11-30 23:20:00

The latest rate of each pair (fx_rates) starts the history, on the day it was taken.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009f"
down_revision: str | None = "0008u"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fx_daily_rates",
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(28, 10).with_variant(sa.String(40), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("base", "quote", "day"),
    )
    # SQLite keeps datetimes as text ("YYYY-MM-DD HH:MM:SS"): the day is its first ten characters.
    sqlite = op.get_bind().dialect.name == "sqlite"
    day = "substr(as_of, 1, 10)" if sqlite else "CAST(as_of AS DATE)"
    op.execute(
        f"INSERT INTO fx_daily_rates (base, quote, day, rate) SELECT base, quote, {day}, rate "
        "FROM fx_rates"
    )


def downgrade() -> None:
    op.drop_table("fx_daily_rates")
