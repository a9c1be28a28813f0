"""indexes for team-wide date ranges

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 00:42:08.342983
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain CREATE INDEX (no batch rebuild of the tables).
    op.create_index("ix_follow_ups_due", "follow_ups", ["due_at", "id"], unique=False)
    op.create_index("ix_interactions_date", "interactions", ["occurred_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_interactions_date", table_name="interactions")
    op.drop_index("ix_follow_ups_due", table_name="follow_ups")
