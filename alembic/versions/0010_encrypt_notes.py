"""encryption at rest, part 2: every notes field and its copies: interactions' notes, each saved
version of an interaction (its canonical JSON, notes included), follow-ups' notes, notification
bodies (message snippets, reminder texts), review items' excerpts (the hit in context) and
portfolio transactions' notes (free text about a client's transaction). Each
table gets a row_key; its column becomes an encrypted envelope (bytes) and the existing values
are encrypted in batches.

Needs the key ring, loaded as the app loads it (see 0009e). Downgrade is refused: it would write
the values back in clear text.

Revision ID: 0010n
Revises: 0010c
Create Date: 2026-12-01 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010n'
down_revision: str | None = '0010c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
_used: list = []  # the key ring, once a value was encrypted

# table -> its encrypted columns (children before the tables they reference: see upgrade)
PLAN: dict[str, tuple[str, ...]] = {
    'interaction_versions': ('data',),
    'review_items': ('excerpt',),
    'notifications': ('body',),
    'follow_ups': ('notes',),
    'interactions': ('notes',),
    'portfolio_transactions': ('note',),
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


def _encrypt_table(table: str, columns: tuple[str, ...]) -> bool:
    """Each row its row_key and its values encrypted; True when the table was empty."""
    import uuid

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
        updates = []
        for row in rows:
            row_key = uuid.uuid4().hex
            values = {'b_id': row.id, 'row_key': row_key}
            for c in columns:
                plain = _plain(getattr(row, c))
                values[c] = None if plain is None else ring.seal(table, c, row_key, plain)
            updates.append(values)
        stmt = (
            t.update().where(t.c.id == sa.bindparam('b_id'))
            .values({k: sa.bindparam(k) for k in updates[0] if k != 'b_id'})
        )
        conn.execute(stmt, updates)
        last = rows[-1].id


def upgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == 'postgresql'
    for table, columns in PLAN.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('row_key', sa.String(length=32), nullable=True))
        if pg:
            for c in columns:
                op.execute(
                    f'ALTER TABLE {table} ALTER COLUMN {c} TYPE bytea USING convert_to({c}, \'UTF8\')'
                )
        empty = _encrypt_table(table, columns)
        if pg:
            op.alter_column(table, 'row_key', existing_type=sa.String(length=32), nullable=False)
        elif empty:
            # As in 0009e: SQLite rebuilds a table to change a column's type or NOT NULL, and
            # dropping a table other rows reference fails with foreign keys on, so only while
            # empty. A database with data keeps its TEXT columns holding the encrypted BLOBs
            # (SQLite never converts a BLOB) and a nullable row_key the app always fills.
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.alter_column('row_key', existing_type=sa.String(length=32), nullable=False)
                for c in columns:
                    batch_op.alter_column(c, type_=sa.LargeBinary())
    if _used:
        # The key the values were just encrypted with gets its check value (encryption/check.py).
        from brm_app.encryption.check import check_keys

        check_keys(conn, _used[0])


def downgrade() -> None:
    raise RuntimeError(
        '0010n cannot be downgraded: it would write encrypted values back in clear text. '
        'Restore a backup taken before the upgrade instead.'
    )
