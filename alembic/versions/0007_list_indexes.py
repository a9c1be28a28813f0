"""list indexes: a broker's book by name, live firms in list order

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 16:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A broker's first page walks the firms they cover by id: with (id, archived_at, name_key)
    # in one index SQLite sorts them without reading each firm's row.
    op.create_index("ix_firms_id_live_name", "firms", ["id", "archived_at", "name_key"])
    # Live firms in list order, as partial indexes: PostgreSQL's planner sorted the whole table
    # for a page (650 ms for a deep one) instead of walking (archived_at, name_key, id).
    live = sa.text("archived_at IS NULL")
    for name, cols in (
        ("ix_firms_live_by_name", ["name_key", "id"]),
        ("ix_firms_live_by_updated", ["updated_at", "id"]),
    ):
        op.create_index(name, "firms", cols, postgresql_where=live, sqlite_where=live)


def downgrade() -> None:
    op.drop_index("ix_firms_live_by_updated", table_name="firms")
    op.drop_index("ix_firms_live_by_name", table_name="firms")
    op.drop_index("ix_firms_id_live_name", table_name="firms")
