"""encryption at rest: a row_key per row of each table with encrypted columns, the columns turned
into encrypted envelopes (bytes) and the existing values encrypted in batches, blind indexes for
exact-match lookups (trader email within a firm, inbound senders), trader email out of the text
index, the key-check canaries, the sealed values of audit events and rotation progress

Needs the key ring (BRM_ENCRYPTION_KEYS, or on SQLite the data folder's keys file, created when
missing), loaded as the app loads it. Downgrade is refused: it would write the values back in
clear text.

Revision ID: 0009e
Revises: 0008u
Create Date: 2026-11-30 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from brm_app import search_ddl

revision: str = '0009e'
down_revision: str | None = '0009h'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
_used: list = []  # the key ring, once a value was encrypted

# table -> (encrypted columns, blind-indexed columns)
PLAN: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    'traders': (('email', 'phone', 'mobile'), ('email', 'mobile')),
    'firms': (('street', 'postal_code', 'phone', 'email', 'website', 'notes'), ()),
}


def _ring():
    from brm_app.encryption import get_keyring

    return get_keyring()


def _plain(value):
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode('utf-8')
    return str(value)


def _encrypt_table(table: str, columns: tuple[str, ...], indexed: tuple[str, ...]) -> None:
    import uuid

    from brm_app.encryption.columns import BLIND_INDEXES, normalise_email, normalise_phone

    conn = op.get_bind()
    t = sa.table(table, sa.column('id'), sa.column('row_key'), *[sa.column(c) for c in columns],
                 *[sa.column(f'{c}_bidx') for c in indexed])
    norms = {'email': normalise_email, 'mobile': normalise_phone}
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
        updates = []
        for row in rows:
            row_key = uuid.uuid4().hex
            values = {'b_id': row.id, 'row_key': row_key}
            for c in columns:
                plain = _plain(getattr(row, c))
                values[c] = None if plain is None else ring.seal(table, c, row_key, plain)
                if c in indexed:
                    norm = BLIND_INDEXES.get(table, {}).get(f'{c}_bidx', (c, norms[c]))[1]
                    values[f'{c}_bidx'] = (
                        None if plain is None else ring.digest(f'{table}.{c}', norm(plain))
                    )
            updates.append(values)
        stmt = (
            t.update().where(t.c.id == sa.bindparam('b_id'))
            .values({k: sa.bindparam(k) for k in updates[0] if k != 'b_id'})
        )
        conn.execute(stmt, updates)
        last = rows[-1].id


def _empty(table: str) -> bool:
    return op.get_bind().execute(sa.text(f'SELECT 1 FROM {table} LIMIT 1')).first() is None


def upgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == 'postgresql'
    op.create_table('encryption_canaries',
    sa.Column('kid', sa.String(length=32), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('kid')
    )
    op.create_table('audit_sealed_values',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('row_key', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('key_rotations',
    sa.Column('kid', sa.String(length=32), nullable=False),
    sa.Column('table_name', sa.String(length=60), nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('kid', 'table_name')
    )
    search_ddl.drop()  # trader email leaves the text index (recreated below, names only)
    with op.batch_alter_table('traders', schema=None) as batch_op:
        batch_op.drop_index('ux_traders_firm_email', sqlite_where=sa.text('archived_at IS NULL'),
                            postgresql_where=sa.text('archived_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_traders_email'))
    for table, (columns, indexed) in PLAN.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('row_key', sa.String(length=32), nullable=True))
            for c in indexed:
                batch_op.add_column(sa.Column(f'{c}_bidx', sa.String(length=32), nullable=True))
        if pg:
            for c in columns:
                op.execute(
                    f'ALTER TABLE {table} ALTER COLUMN {c} TYPE bytea USING convert_to({c}, \'UTF8\')'
                )
        empty = _encrypt_table(table, columns, indexed)
        if pg:
            op.alter_column(table, 'row_key', existing_type=sa.String(length=32), nullable=False)
        elif empty:
            # SQLite changes a column's type or NOT NULL by rebuilding the table, and dropping a
            # table that other rows reference fails with foreign keys on (inside the migration's
            # transaction they cannot be turned off): rebuilt only while empty. A database with
            # data keeps its TEXT columns, which hold the encrypted BLOBs as they are (SQLite
            # never converts a BLOB), and a nullable row_key the app always fills.
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.alter_column('row_key', existing_type=sa.String(length=32), nullable=False)
                for c in columns:
                    batch_op.alter_column(c, type_=sa.LargeBinary())
    if pg or _empty('traders'):
        with op.batch_alter_table('traders', schema=None) as batch_op:
            batch_op.alter_column('email_bidx', existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table('traders', schema=None) as batch_op:
        batch_op.create_index('ix_traders_email_bidx', ['email_bidx'], unique=False)
        batch_op.create_index('ix_traders_mobile_bidx', ['mobile_bidx'], unique=False)
        batch_op.create_index('ux_traders_firm_email', ['firm_id', 'email_bidx'], unique=True,
                              sqlite_where=sa.text('archived_at IS NULL'),
                              postgresql_where=sa.text('archived_at IS NULL'))
    search_ddl.create()
    if _used:
        # The key the values were just encrypted with gets its check value (see encryption/check.py).
        from brm_app.encryption.check import check_keys

        check_keys(conn, _used[0])


def downgrade() -> None:
    raise RuntimeError(
        '0009e cannot be downgraded: it would write encrypted values back in clear text. '
        'Restore a backup taken before the upgrade instead.'
    )
