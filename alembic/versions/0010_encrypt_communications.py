"""encryption at rest, part 2: communications. Message text, a delivery's address, an unmatched
inbound item's sender, subject and text, and a log entry's sender, recipients and content become
encrypted envelopes bound to their row (a row_key per row); keyed word indexes for the searches
(message_search_terms, communication_log_terms), filled from the existing rows; the communication
log's triggers: every column but the three encrypted ones stays unchangeable, and those three
change only inside a key rotation's own transaction (its grant row in retention_purge_grants).

Entries logged before keep their content hash (a plain SHA-256, which the audit chain vouches
for); new ones get a keyed digest. Downgrade is refused: it would write the values back in clear
text.

Revision ID: 0010c
Revises: 0009e
Create Date: 2026-12-01 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010c'
down_revision: str | None = '0009e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
_used: list = []  # the key ring, once a value was encrypted

# table -> (encrypted columns, the word index it feeds: (index table, its id column, purpose))
PLAN: dict[str, tuple[tuple[str, ...], tuple[str, str, str] | None]] = {
    'messages': (('text',), ('message_search_terms', 'message_id', 'messages.terms')),
    'message_deliveries': (('address',), None),
    'inbound_triage': (('from_address', 'subject', 'text'), None),
    'communication_log': (
        ('sender', 'recipients', 'content'),
        ('communication_log_terms', 'entry_id', 'communication_log.terms'),
    ),
}
LOG_SEALED = ('sender', 'recipients', 'content')
LOG_FIXED = (
    'id', 'kind', 'occurred_at', 'message_id', 'conversation_id', 'firm_id', 'broker_id',
    'trader_id', 'channel', 'direction', 'row_key', 'attachments', 'delivery_id', 'status',
    'attempts', 'provider_message_id', 'error', 'content_hash',
)
LOG_MESSAGE = 'communication_log is append-only'
RESEAL_GRANT = 'communication_log.reseal'


def _ring():
    from brm_app.encryption import get_keyring

    return get_keyring()


def _plain(value):
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode('utf-8')
    return str(value)


def _encrypt_table(table: str, columns: tuple[str, ...], index) -> bool:
    """Encrypt every row in batches (and index its words); True when the table was empty."""
    import uuid

    from brm_app.encryption.terms import terms

    conn = op.get_bind()
    t = sa.table(table, sa.column('id'), sa.column('row_key'), *[sa.column(c) for c in columns])
    ring = None
    last = 0
    while True:
        rows = conn.execute(
            sa.select(t.c.id, *[t.c[c] for c in columns]).where(t.c.id > last).order_by(t.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return last == 0
        if ring is None:
            ring = _ring()
            if not _used:
                _used.append(ring)
        updates, words = [], []
        for row in rows:
            row_key = uuid.uuid4().hex
            values = {'b_id': row.id, 'row_key': row_key}
            plains = []
            for c in columns:
                plain = _plain(getattr(row, c))
                plains.append(plain)
                values[c] = None if plain is None else ring.seal(table, c, row_key, plain)
            updates.append(values)
            if index is not None:
                words.extend({index[1]: row.id, 'term': w} for w in terms(index[2], *plains))
        stmt = (
            t.update().where(t.c.id == sa.bindparam('b_id'))
            .values({k: sa.bindparam(k) for k in updates[0] if k != 'b_id'})
        )
        conn.execute(stmt, updates)
        if words:
            terms_table = sa.table(index[0], sa.column(index[1]), sa.column('term'))
            conn.execute(terms_table.insert(), words)
        last = rows[-1].id


def _drop_log_update_trigger(pg: bool) -> None:
    if pg:
        op.execute('DROP TRIGGER IF EXISTS communication_log_no_update ON communication_log')
    else:
        op.execute('DROP TRIGGER IF EXISTS communication_log_no_update')


def _create_log_triggers(pg: bool) -> None:
    """No column but the encrypted three ever changes; those change only while a rotation's
    grant exists (on PostgreSQL: in that rotation's transaction). DELETE: the purge's grant."""
    fixed = ', '.join(LOG_FIXED)
    sealed = ', '.join(LOG_SEALED)
    grant = f"SELECT 1 FROM retention_purge_grants g WHERE g.table_name = '{RESEAL_GRANT}'"
    if pg:
        op.execute(
            f'CREATE TRIGGER communication_log_no_update BEFORE UPDATE OF {fixed} '
            'ON communication_log FOR EACH ROW EXECUTE FUNCTION brm_comms_log_append_only()'
        )
        op.execute(
            'CREATE OR REPLACE FUNCTION brm_comms_log_reseal() RETURNS trigger LANGUAGE plpgsql '
            f'AS $$ BEGIN IF EXISTS ({grant} AND g.txid = txid_current()) THEN RETURN NEW; '
            f"END IF; RAISE EXCEPTION '{LOG_MESSAGE}'; END $$"
        )
        op.execute(
            f'CREATE TRIGGER communication_log_no_reseal BEFORE UPDATE OF {sealed} '
            'ON communication_log FOR EACH ROW EXECUTE FUNCTION brm_comms_log_reseal()'
        )
        return
    op.execute(
        f'CREATE TRIGGER communication_log_no_update BEFORE UPDATE OF {fixed} '
        f"ON communication_log BEGIN SELECT RAISE(ABORT, '{LOG_MESSAGE}'); END"
    )
    op.execute(
        f'CREATE TRIGGER communication_log_no_reseal BEFORE UPDATE OF {sealed} '
        f'ON communication_log WHEN NOT EXISTS ({grant}) '
        f"BEGIN SELECT RAISE(ABORT, '{LOG_MESSAGE}'); END"
    )
    # A rebuilt (empty) table lost its DELETE trigger: the purge's, as 0009h made it.
    op.execute('DROP TRIGGER IF EXISTS communication_log_no_delete')
    op.execute(
        'CREATE TRIGGER communication_log_no_delete BEFORE DELETE ON communication_log '
        "WHEN NOT EXISTS (SELECT 1 FROM retention_purge_grants g "
        "WHERE g.table_name = 'communication_log') "
        f"BEGIN SELECT RAISE(ABORT, '{LOG_MESSAGE}'); END"
    )


def upgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == 'postgresql'
    op.create_table('message_search_terms',
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('term', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('message_id', 'term')
    )
    op.create_index('ix_message_search_terms_term', 'message_search_terms',
                    ['term', 'message_id'], unique=False)
    op.create_table('communication_log_terms',
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('term', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['communication_log.id'], ),
    sa.PrimaryKeyConstraint('entry_id', 'term')
    )
    op.create_index('ix_communication_log_terms_term', 'communication_log_terms',
                    ['term', 'entry_id'], unique=False)
    _drop_log_update_trigger(pg)
    for table, (columns, index) in PLAN.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('row_key', sa.String(length=32), nullable=True))
        if pg:
            for c in columns:
                op.execute(
                    f'ALTER TABLE {table} ALTER COLUMN {c} TYPE bytea USING convert_to({c}, \'UTF8\')'
                )
        empty = _encrypt_table(table, columns, index)
        if pg:
            op.alter_column(table, 'row_key', existing_type=sa.String(length=32), nullable=False)
        elif empty:
            # As 0009e: SQLite rebuilds a table to change a column's type, which fails with
            # foreign keys on once other rows reference it: rebuilt only while empty. A database
            # with data keeps its TEXT columns (they hold the encrypted BLOBs as they are) and a
            # nullable row_key the app always fills.
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.alter_column('row_key', existing_type=sa.String(length=32), nullable=False)
                for c in columns:
                    batch_op.alter_column(c, type_=sa.LargeBinary())
    _create_log_triggers(pg)
    if _used:
        # The key the values were just encrypted with gets its check value (encryption/check.py).
        from brm_app.encryption.check import check_keys

        check_keys(conn, _used[0])


def downgrade() -> None:
    raise RuntimeError(
        '0010c cannot be downgraded: it would write encrypted values back in clear text. '
        'Restore a backup taken before the upgrade instead.'
    )
