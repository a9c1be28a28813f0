"""the command palette's recent interactions: a broker's live interactions by firm and time,
read from the index alone (firm_id, voided_at, occurred_at, id)

Revision ID: 0009p
Revises: 0008u
Create Date: 2026-11-30 23:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0009p'
down_revision: str | None = '0009f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_interactions_firm_live_date',
        'interactions',
        ['firm_id', 'voided_at', 'occurred_at', 'id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_interactions_firm_live_date', table_name='interactions')
