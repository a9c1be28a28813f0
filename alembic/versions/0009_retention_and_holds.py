"""retention and legal hold: legal holds, read traces, the purge's grant table (the one way past
the append-only triggers of the audit trail and the communication log), and the firm's recording
disclosure (MiFID II)

Revision ID: 0009h
Revises: 0008u
Create Date: 2026-11-30 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009h"
down_revision: str | None = "0009p"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_MESSAGE = "audit_events is append-only"
LOG_MESSAGE = "communication_log is append-only"


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=True),
        sa.Column("trader_id", sa.Integer(), nullable=True),
        sa.Column("broker_id", sa.Integer(), nullable=True),
        sa.Column("date_from", sa.Date(), nullable=True),
        sa.Column("date_to", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("placed_by_id", sa.Integer(), nullable=True),
        sa.Column("placed_at", sa.DateTime(), nullable=False),
        sa.Column("released_by_id", sa.Integer(), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("release_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["firm_id"], ["firms.id"]),
        sa.ForeignKeyConstraint(["trader_id"], ["traders.id"]),
        sa.ForeignKeyConstraint(["broker_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["placed_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["released_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_legal_holds_active", "legal_holds", ["released_at", "scope"])
    op.create_index("ix_legal_holds_firm_id", "legal_holds", ["firm_id"])
    op.create_index("ix_legal_holds_trader_id", "legal_holds", ["trader_id"])
    op.create_index("ix_legal_holds_broker_id", "legal_holds", ["broker_id"])
    op.create_table(
        "read_traces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("what", sa.String(length=30), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id"),
    )
    op.create_index("ix_read_traces_time", "read_traces", ["read_at", "id"])
    op.create_index("ix_read_traces_user", "read_traces", ["user_id", "read_at"])
    op.create_index("ix_read_traces_what", "read_traces", ["what"])
    op.create_table(
        "retention_purge_grants",
        sa.Column("table_name", sa.String(length=60), nullable=False),
        sa.Column("max_key", sa.BigInteger(), nullable=True),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("table_name"),
    )
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recording_disclosed_on", sa.Date(), nullable=True))
    _sanction_purge()


def _sanction_purge() -> None:
    """DELETE on the audit trail and the communication log passes only while the purge's grant
    exists (in its own transaction); UPDATE and TRUNCATE stay refused for everybody."""
    grant = (
        "SELECT 1 FROM retention_purge_grants g WHERE g.table_name = '{table}'{extra}"
    )
    if op.get_bind().dialect.name == "postgresql":
        for function, table, message, extra in (
            (
                "brm_audit_append_only",
                "audit_events",
                AUDIT_MESSAGE,
                " AND OLD.seq <= g.max_key AND g.txid = txid_current()",
            ),
            (
                "brm_comms_log_append_only",
                "communication_log",
                LOG_MESSAGE,
                " AND g.txid = txid_current()",
            ),
        ):
            op.execute(
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF TG_OP = 'DELETE' THEN "
                f"IF EXISTS ({grant.format(table=table, extra=extra)}) THEN RETURN OLD; END IF; "
                f"END IF; RAISE EXCEPTION '{message}'; END $$"
            )
    else:
        for trigger, table, message, extra in (
            ("audit_events_no_delete", "audit_events", AUDIT_MESSAGE, " AND OLD.seq <= g.max_key"),
            ("communication_log_no_delete", "communication_log", LOG_MESSAGE, ""),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            op.execute(
                f"CREATE TRIGGER {trigger} BEFORE DELETE ON {table} "
                f"WHEN NOT EXISTS ({grant.format(table=table, extra=extra)}) "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )


def _unsanction_purge() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function, message in (
            ("brm_audit_append_only", AUDIT_MESSAGE),
            ("brm_comms_log_append_only", LOG_MESSAGE),
        ):
            op.execute(
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$"
            )
    else:
        for trigger, table, message in (
            ("audit_events_no_delete", "audit_events", AUDIT_MESSAGE),
            ("communication_log_no_delete", "communication_log", LOG_MESSAGE),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            op.execute(
                f"CREATE TRIGGER {trigger} BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )


def downgrade() -> None:
    _unsanction_purge()
    with op.batch_alter_table("firms", schema=None) as batch_op:
        batch_op.drop_column("recording_disclosed_on")
    op.drop_table("retention_purge_grants")
    op.drop_index("ix_read_traces_what", table_name="read_traces")
    op.drop_index("ix_read_traces_user", table_name="read_traces")
    op.drop_index("ix_read_traces_time", table_name="read_traces")
    op.drop_table("read_traces")
    for name in ("broker_id", "trader_id", "firm_id"):
        op.drop_index(f"ix_legal_holds_{name}", table_name="legal_holds")
    op.drop_index("ix_legal_holds_active", table_name="legal_holds")
    op.drop_table("legal_holds")
