"""covering index for a broker's book sorted by name

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 16:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A broker's first page walks the firms they cover by id: with (id, archived_at, name_key)
    # in one index SQLite sorts them without reading each firm's row.
    op.create_index("ix_firms_id_live_name", "firms", ["id", "archived_at", "name_key"])


def downgrade() -> None:
    op.drop_index("ix_firms_id_live_name", table_name="firms")
