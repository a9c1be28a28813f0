"""portfolio valuations: each portfolio's daily close (kept by a job) and how far it is built

Revision ID: 0008r
Revises: 0008c
Create Date: 2026-11-30 19:10:00

Written from the models (tests/test_migrations.py checks them against each other). Amounts are
exact: NUMERIC(28, 10), text on SQLite; returns and the TWR index are double precision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008r"
down_revision: str | None = "0008c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _exact() -> sa.types.TypeEngine:
    return sa.Numeric(28, 10).with_variant(sa.String(40), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portfolio_valuations",
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", _exact(), nullable=False),
        sa.Column("market_value", _exact(), nullable=False),
        sa.Column("cash", _exact(), nullable=False),
        sa.Column("cost", _exact(), nullable=False),
        sa.Column("realized", _exact(), nullable=False),
        sa.Column("flow", _exact(), nullable=False),
        sa.Column("daily_return", sa.Float(precision=53), nullable=False),
        sa.Column("twr_index", sa.Float(precision=53), nullable=False),
        sa.Column("drawdown", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("portfolio_id", "day"),
    )
    # The team report reads every portfolio's row of one day.
    op.create_index("ix_portfolio_valuations_day", "portfolio_valuations", ["day"])
    op.create_table(
        "portfolio_valuation_states",
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("built_through", sa.Date(), nullable=True),
        sa.Column("last_tx_id", sa.Integer(), nullable=False),
        sa.Column("tx_count", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("portfolio_id"),
    )


def downgrade() -> None:
    op.drop_table("portfolio_valuation_states")
    op.drop_index("ix_portfolio_valuations_day", table_name="portfolio_valuations")
    op.drop_table("portfolio_valuations")
