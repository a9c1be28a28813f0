"""encryption at rest, part 4: users' emails and mobiles. `users.email` (a portal trader's login
account held a clear copy of the trader's encrypted email) becomes an encrypted envelope bound to
its row by a new `row_key`, with its blind index `email_bidx` (the email normaliser: uniqueness
ignoring case, as before, on a unique index); the old unique constraint on the email goes.
`users.mobile` (one's own number for SMS notifications; never looked up) is encrypted too. The
rows already there are encrypted in batches.

Sign-in throttle keys named the account by its email ("acct:<email>"): they become
"acct:<the email's blind index>". The counters are short-lived, but a lock in force must stay in
force, so the rows are re-keyed rather than dropped.

SQLite changes a column's type, its NOT NULL and its constraints by rebuilding the table, and
`users` is referenced by nearly every table (with foreign keys on, inside the migration's
transaction, it cannot be dropped while rows point at it): as in 0009e it is rebuilt only while
empty. A database with users keeps its TEXT column (holding the encrypted BLOBs as they are), a
nullable row_key and email_bidx the app always fills, and the old unique constraint on the email,
which no two envelopes break (each has its own random nonce).

Needs the key ring, loaded as the app loads it (see 0009e). Downgrade is refused: it would write
the emails back in clear text.

Revision ID: 0010u
Revises: 0010o
Create Date: 2026-12-01 10:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010u'
down_revision: str | None = '0010o'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
_NAMING = {'uq': 'uq_%(table_name)s_%(column_0_name)s'}


def _plain(value):
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode('utf-8')
    return str(value)


def _encrypt_users(conn, ring_of) -> bool:
    """Encrypt every user's email in batches; True when there was none."""
    import os

    from brm_app.encryption.columns import normalise_email

    t = sa.table('users', sa.column('id'), sa.column('row_key'), sa.column('email'),
                 sa.column('email_bidx'), sa.column('mobile'))
    seen: dict[str, int] = {}
    last = 0
    while True:
        rows = conn.execute(
            sa.select(t.c.id, t.c.email, t.c.mobile)
            .where(t.c.id > last)
            .order_by(t.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return last == 0
        ring = ring_of()
        updates = []
        for row in rows:
            plain = _plain(row.email)
            bidx = ring.digest('users.email', normalise_email(plain))
            if bidx in seen:
                raise RuntimeError(
                    f'0010u: users {seen[bidx]} and {row.id} have the same email ignoring case; '
                    'emails are unique ignoring case from now on: change one of them, then '
                    'upgrade again (nothing was changed).'
                )
            seen[bidx] = row.id
            row_key = os.urandom(16).hex()
            updates.append({
                'b_id': row.id,
                'row_key': row_key,
                'email': ring.seal('users', 'email', row_key, plain),
                'email_bidx': bidx,
                'mobile': None if row.mobile is None
                else ring.seal('users', 'mobile', row_key, _plain(row.mobile)),
            })  # fmt: skip
        conn.execute(
            t.update().where(t.c.id == sa.bindparam('b_id')).values(
                row_key=sa.bindparam('row_key'), email=sa.bindparam('email'),
                email_bidx=sa.bindparam('email_bidx'), mobile=sa.bindparam('mobile'),
            ),
            updates,
        )
        last = rows[-1].id


def _rekey_throttle(conn, ring_of) -> None:
    """"acct:<email>" -> "acct:<blind index>" (the row kept: a lock in force stays)."""
    from brm_app.encryption.columns import normalise_email

    t = sa.table('login_throttle', sa.column('key'))
    old = conn.execute(sa.select(t.c.key).where(t.c.key.like('acct:%'))).scalars().all()
    if not old:
        return
    ring = ring_of()
    taken = set()
    for key in old:
        email = normalise_email(key.removeprefix('acct:')[:254])
        new = 'acct:' + ring.digest('users.email', email)
        if new in taken:  # the same account twice (cannot happen: keys were lower case)
            conn.execute(t.delete().where(t.c.key == key))
            continue
        taken.add(new)
        conn.execute(t.update().where(t.c.key == key).values(key=new))


def upgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == 'postgresql'
    used: list = []

    def ring_of():
        if not used:
            from brm_app.encryption import get_keyring

            used.append(get_keyring())
        return used[0]

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('row_key', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('email_bidx', sa.String(length=32), nullable=True))
    if pg:
        names = [
            uq['name'] for uq in sa.inspect(conn).get_unique_constraints('users')
            if uq['column_names'] == ['email']
        ]
        for name in names:
            op.drop_constraint(name, 'users', type_='unique')
        op.execute("ALTER TABLE users ALTER COLUMN email TYPE bytea USING convert_to(email, 'UTF8')")
        op.execute(
            "ALTER TABLE users ALTER COLUMN mobile TYPE bytea USING convert_to(mobile, 'UTF8')"
        )
    empty = _encrypt_users(conn, ring_of)
    _rekey_throttle(conn, ring_of)
    if pg:
        op.alter_column('users', 'row_key', existing_type=sa.String(length=32), nullable=False)
        op.alter_column('users', 'email_bidx', existing_type=sa.String(length=32), nullable=False)
    elif empty:
        with op.batch_alter_table('users', schema=None, naming_convention=_NAMING) as batch_op:
            batch_op.drop_constraint('uq_users_email', type_='unique')
            batch_op.alter_column('row_key', existing_type=sa.String(length=32), nullable=False)
            batch_op.alter_column('email_bidx', existing_type=sa.String(length=32), nullable=False)
            batch_op.alter_column('email', type_=sa.LargeBinary())
            batch_op.alter_column('mobile', type_=sa.LargeBinary())
    op.create_index('ux_users_email_bidx', 'users', ['email_bidx'], unique=True)
    if used:
        # The key the emails were just encrypted with gets its check value (encryption/check.py).
        from brm_app.encryption.check import check_keys

        check_keys(conn, used[0])


def downgrade() -> None:
    raise RuntimeError(
        '0010u cannot be downgraded: it would write the users\' emails back in clear text. '
        'Restore a backup taken before the upgrade instead.'
    )
