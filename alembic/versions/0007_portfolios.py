"""portfolios: instruments, portfolios and transactions, OMS executions, prices, FX, API keys

Revision ID: 0007p
Revises: 0007
Create Date: 2026-11-30 15:50:23

Generated from the models, then reviewed (tests/test_migrations.py checks it against them).
Amounts are exact: NUMERIC(28, 10), text on SQLite (NUMERIC affinity there means floating point).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007p"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _exact() -> sa.types.TypeEngine:
    return sa.Numeric(28, 10).with_variant(sa.String(40), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fx_rates",
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("rate", _exact(), nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("base", "quote"),
    )
    op.create_table(
        "instruments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("asset_class", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("isin", sa.String(length=12), nullable=True),
        sa.Column("exchange", sa.String(length=20), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("isin"),
        sa.UniqueConstraint("symbol"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("firm_ids", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "daily_closes",
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("close", _exact(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
        ),
        sa.PrimaryKeyConstraint("instrument_id", "day"),
    )
    op.create_table(
        "instrument_prices",
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("price", _exact(), nullable=False),
        sa.Column("prev_close", _exact(), nullable=True),
        sa.Column("as_of", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
        ),
        sa.PrimaryKeyConstraint("instrument_id"),
    )
    op.create_table(
        "portfolios",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("allow_short", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("firm_id"),
    )
    op.create_table(
        "portfolio_transactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=True),
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("settlement_date", sa.Date(), nullable=False),
        sa.Column("quantity", _exact(), nullable=True),
        sa.Column("price", _exact(), nullable=True),
        sa.Column("amount", _exact(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fees", _exact(), nullable=False),
        sa.Column("trader_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("exec_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["portfolio_transactions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["trader_id"],
            ["traders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reverses_id"),
    )
    op.create_index(
        "ix_portfolio_tx_portfolio_date",
        "portfolio_transactions",
        ["portfolio_id", "trade_date", "id"],
        unique=False,
    )
    op.create_index(
        "ix_portfolio_tx_trader",
        "portfolio_transactions",
        ["trader_id", "trade_date"],
        unique=False,
    )

    op.create_table(
        "portfolio_holdings",
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("quantity", _exact(), nullable=False),
        sa.Column("cost", _exact(), nullable=False),
        sa.Column("realized", _exact(), nullable=False),
        sa.ForeignKeyConstraint(["instrument_id"], ["instruments.id"]),
        sa.ForeignKeyConstraint(["portfolio_id"], ["portfolios.id"]),
        sa.PrimaryKeyConstraint("portfolio_id", "instrument_id"),
    )
    op.create_table(
        "portfolio_cash",
        sa.Column("portfolio_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", _exact(), nullable=False),
        sa.Column("contributions", _exact(), nullable=False),
        sa.ForeignKeyConstraint(["portfolio_id"], ["portfolios.id"]),
        sa.PrimaryKeyConstraint("portfolio_id", "currency"),
    )
    op.create_table(
        "oms_executions",
        sa.Column("exec_id", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["portfolio_transactions.id"],
        ),
        sa.PrimaryKeyConstraint("exec_id"),
    )
    # A nullable column: SQLite adds it in place (no batch rebuild of firms).
    op.add_column("firms", sa.Column("reporting_currency", sa.String(length=3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.drop_column("reporting_currency")

    op.drop_table("oms_executions")
    op.drop_table("portfolio_cash")
    op.drop_table("portfolio_holdings")
    op.drop_index("ix_portfolio_tx_trader", table_name="portfolio_transactions")
    op.drop_index("ix_portfolio_tx_portfolio_date", table_name="portfolio_transactions")

    op.drop_table("portfolio_transactions")
    op.drop_table("portfolios")
    op.drop_table("instrument_prices")
    op.drop_table("daily_closes")
    op.drop_table("api_keys")
    op.drop_table("instruments")
    op.drop_table("fx_rates")
