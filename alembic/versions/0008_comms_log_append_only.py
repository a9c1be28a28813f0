"""communications, continued: the communication log is append-only in the database too
(triggers refuse UPDATE of its content and DELETE); files that come with an inbound email
(attachments with no uploading user; the triage list keeps them); resolving the triage list
(assigned to a trader and conversation, or dismissed with a reason)

Revision ID: 0008c
Revises: 0008s
Create Date: 2026-11-30 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008c"
down_revision: str | None = "0008s"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column of an entry: none may change once written (the hash in the audit chain covers
# them; the trigger stops an edit before it happens, the chain names one made with it dropped).
LOG_COLUMNS = (
    "id",
    "kind",
    "occurred_at",
    "message_id",
    "conversation_id",
    "firm_id",
    "broker_id",
    "trader_id",
    "channel",
    "direction",
    "sender",
    "recipients",
    "content",
    "attachments",
    "delivery_id",
    "status",
    "attempts",
    "provider_message_id",
    "error",
    "content_hash",
)
MESSAGE = "communication_log is append-only"


def upgrade() -> None:
    with op.batch_alter_table("message_attachments", schema=None) as batch_op:
        batch_op.alter_column("uploaded_by_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("inbound_triage", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attachments", sa.Text(), server_default="[]", nullable=False)
        )
        batch_op.add_column(sa.Column("resolution", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("resolution_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("trader_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_inbound_triage_trader_id_traders", "traders", ["trader_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_inbound_triage_conversation_id_conversations",
            "conversations",
            ["conversation_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            "fk_inbound_triage_message_id_messages", "messages", ["message_id"], ["id"]
        )
    create_log_triggers()


def create_log_triggers() -> None:
    columns = ", ".join(LOG_COLUMNS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION brm_comms_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER communication_log_no_update BEFORE UPDATE OF {columns} "
            "ON communication_log FOR EACH ROW EXECUTE FUNCTION brm_comms_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER communication_log_no_delete BEFORE DELETE ON communication_log "
            "FOR EACH ROW EXECUTE FUNCTION brm_comms_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER communication_log_no_truncate BEFORE TRUNCATE ON communication_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION brm_comms_log_append_only()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER communication_log_no_update BEFORE UPDATE OF {columns} "
            f"ON communication_log BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        op.execute(
            "CREATE TRIGGER communication_log_no_delete BEFORE DELETE ON communication_log "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def drop_log_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("no_update", "no_delete", "no_truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS communication_log_{name} ON communication_log")
        op.execute("DROP FUNCTION IF EXISTS brm_comms_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS communication_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS communication_log_no_delete")


def downgrade() -> None:
    drop_log_triggers()
    with op.batch_alter_table("inbound_triage", schema=None) as batch_op:
        batch_op.drop_constraint("fk_inbound_triage_message_id_messages", type_="foreignkey")
        batch_op.drop_constraint(
            "fk_inbound_triage_conversation_id_conversations", type_="foreignkey"
        )
        batch_op.drop_constraint("fk_inbound_triage_trader_id_traders", type_="foreignkey")
        batch_op.drop_column("message_id")
        batch_op.drop_column("conversation_id")
        batch_op.drop_column("trader_id")
        batch_op.drop_column("resolution_reason")
        batch_op.drop_column("resolution")
        batch_op.drop_column("attachments")
    with op.batch_alter_table("message_attachments", schema=None) as batch_op:
        batch_op.alter_column("uploaded_by_id", existing_type=sa.Integer(), nullable=False)
