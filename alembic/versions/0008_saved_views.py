"""saved views (a user's named filters, sort and columns of the firm and trader lists) and
each user's locale (how dates, times and numbers are written)

Revision ID: 0008u
Revises: 0008r
Create Date: 2026-11-30 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008u'
down_revision: str | None = '0008r'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'saved_views',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('list_name', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('settings', sa.String(length=4000), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'list_name', 'name', name='ux_saved_views_user_list_name'),
    )
    op.create_index('ix_saved_views_user_id', 'saved_views', ['user_id'])
    with op.batch_alter_table('users') as batch:
        batch.add_column(
            sa.Column('locale', sa.String(length=35), nullable=False, server_default='')
        )


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('locale')
    op.drop_index('ix_saved_views_user_id', table_name='saved_views')
    op.drop_table('saved_views')
