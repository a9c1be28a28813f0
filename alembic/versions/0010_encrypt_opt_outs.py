"""encryption at rest, part 3: SMS opt-outs. `sms_opt_outs` was keyed by the mobile number in
clear; it becomes a table with an `id`, a `row_key`, the number encrypted and its blind index
`number_bidx` (the phone normaliser, as `traders.mobile_bidx`) for the lookup "is this number
opted out" and uniqueness. The rows already there are copied, encrypted, in batches.

Needs the key ring, loaded as the app loads it (see 0009e). Downgrade is refused: it would write
the numbers back in clear text.

Revision ID: 0010o
Revises: 0010n
Create Date: 2026-12-01 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010o'
down_revision: str | None = '0010n'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def _plain(value):
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode('utf-8')
    return str(value)


def upgrade() -> None:
    import os

    from brm_app.encryption import get_keyring
    from brm_app.encryption.columns import normalise_phone

    conn = op.get_bind()
    pg = conn.dialect.name == 'postgresql'
    op.create_table('sms_opt_outs_new',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('row_key', sa.String(length=32), nullable=False),
    sa.Column('number', sa.LargeBinary(), nullable=False),
    sa.Column('number_bidx', sa.String(length=32), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )  # fmt: skip
    old = sa.table('sms_opt_outs', sa.column('number'), sa.column('opted_out_at'))
    new = sa.table(
        'sms_opt_outs_new', sa.column('row_key'), sa.column('number'), sa.column('number_bidx'),
        sa.column('opted_out_at'),
    )
    ring = None
    seen: set[str] = set()
    last = None
    while True:
        stmt = sa.select(old.c.number, old.c.opted_out_at).order_by(old.c.number).limit(BATCH)
        if last is not None:
            stmt = stmt.where(old.c.number > last)
        rows = conn.execute(stmt).all()
        if not rows:
            break
        if ring is None:
            ring = get_keyring()
        values = []
        for row in rows:
            plain = _plain(row.number)
            bidx = ring.digest('sms_opt_outs.number', normalise_phone(plain))
            if bidx in seen:  # "+44 7911..." and "+447911...": one number, one opt-out
                continue
            seen.add(bidx)
            row_key = os.urandom(16).hex()
            values.append({
                'row_key': row_key,
                'number': ring.seal('sms_opt_outs', 'number', row_key, plain),
                'number_bidx': bidx,
                'opted_out_at': row.opted_out_at,
            })  # fmt: skip
        if values:
            conn.execute(new.insert(), values)
        last = rows[-1].number
    op.drop_table('sms_opt_outs')
    op.rename_table('sms_opt_outs_new', 'sms_opt_outs')
    if pg:
        op.execute('ALTER TABLE sms_opt_outs RENAME CONSTRAINT sms_opt_outs_new_pkey TO sms_opt_outs_pkey')
        op.execute('ALTER SEQUENCE sms_opt_outs_new_id_seq RENAME TO sms_opt_outs_id_seq')
    op.create_index('ux_sms_opt_outs_number_bidx', 'sms_opt_outs', ['number_bidx'], unique=True)
    if ring is not None:
        # The key the numbers were just encrypted with gets its check value (encryption/check.py).
        from brm_app.encryption.check import check_keys

        check_keys(conn, ring)


def downgrade() -> None:
    raise RuntimeError(
        '0010o cannot be downgraded: it would write the opted-out numbers back in clear text. '
        'Restore a backup taken before the upgrade instead.'
    )
