"""The start-up key check: the app starts only when its key ring opens what the database holds.

Each key the database has used has a canary (a known value encrypted with it). A key that is not
retired must be in the ring and open its canary; otherwise the start fails with a message naming
the key, before any page or API call could read half of the data.

A database can hold encrypted values without the canary of their key (written by a path that
never ran the check, such as the bench seeder or a database made before `upgrade_head` recorded
it): so one stored value of each encrypted table is opened too, unless its key's canary already
opened. A ring that cannot open it is refused the same way, and no canary is recorded for it.
"""

from __future__ import annotations

import sqlalchemy as sa

from brm_app.db import utcnow
from brm_app.encryption import get_keyring
from brm_app.encryption.keyring import (
    KeyError_,
    KeyRing,
    UndecryptableValue,
    is_envelope,
    key_id_of,
)
from brm_app.models.encryption import EncryptionCanary

CANARY = "brm encryption canary v1"
_T = EncryptionCanary.__table__  # type: ignore[attr-defined]


def canary_for(ring: KeyRing, kid: str) -> bytes:
    single = KeyRing(tuple(k for k in ring.keys if k[0] == kid), ring.index_key)
    return single.seal("encryption_canaries", "value", kid, CANARY)


def _where(ring: KeyRing) -> str:
    return f"the keys file {ring.source_file}" if ring.source_file else "BRM_ENCRYPTION_KEYS"


def _lost(ring: KeyRing) -> str:
    if not ring.generated:
        return ""
    return (
        " (the keys file was missing, so a new one was just made: replace it with your "
        "copy of the original)"
    )


def _probes() -> list[tuple[str, tuple[str, ...]]]:
    """(table, encrypted columns) of every table holding encrypted values."""
    import brm_app.models  # noqa: F401  (every table registers its encrypted columns)
    from brm_app.encryption.columns import ENCRYPTED

    return [*sorted(ENCRYPTED.items()), ("audit_sealed_values", ("payload",))]


def _probe(conn: sa.Connection, ring: KeyRing, verified: set[str]) -> None:
    """Open one stored value per encrypted table whose key has no canary that opened. Tables and
    columns a later migration adds are skipped while they are missing (0009e runs this too)."""
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    for table, wanted in _probes():
        if table not in tables:
            continue
        present = {c["name"] for c in inspector.get_columns(table)}
        columns = tuple(c for c in wanted if c in present)
        if "row_key" not in present or not columns:
            continue
        t = sa.table(table, sa.column("row_key"), *[sa.column(c) for c in columns])
        row = conn.execute(
            sa.select(t.c.row_key, *[t.c[c] for c in columns])
            .where(sa.or_(*[t.c[c].is_not(None) for c in columns]))
            .limit(1)
        ).first()
        if row is None:
            continue
        for column, value in zip(columns, row[1:], strict=True):
            if value is None or not is_envelope(value):
                continue
            value = bytes(value)
            kid = key_id_of(value)
            if kid in verified:
                continue
            try:
                ring.open(table, column, row.row_key, value)
            except UndecryptableValue:
                held = (
                    f"key {kid!r}, which is not in {_where(ring)}"
                    if kid not in ring.key_ids
                    else f"key {kid!r}, and {_where(ring)} holds another key of that id"
                )
                raise KeyError_(
                    f"the database holds values ({table}.{column}) encrypted with {held}"
                    f"{_lost(ring)}: start with the key ring these values were written with; "
                    "nothing was read or changed"
                ) from None
            verified.add(kid)


def check_keys(conn: sa.Connection, ring: KeyRing | None = None) -> None:
    """Raise KeyError_ (a message for the operator) unless the ring opens every key's canary
    and a stored value of each encrypted table; record the canary of a key used for the first
    time."""
    ring = ring or get_keyring()
    rows = conn.execute(sa.select(_T.c.kid, _T.c.value).where(_T.c.retired_at.is_(None))).all()
    verified: set[str] = set()
    for kid, value in rows:
        if kid not in ring.key_ids:
            raise KeyError_(
                f"the database holds values encrypted with key {kid!r}, which is not in "
                f"{_where(ring)}{_lost(ring)}: start with the key ring these values were "
                "written with"
            )
        try:
            ok = ring.open("encryption_canaries", "value", kid, bytes(value)) == CANARY
        except UndecryptableValue:
            ok = False
        if not ok:
            raise KeyError_(
                f"key {kid!r} in {_where(ring)} is not the key this database was encrypted "
                f"with (its check value does not decrypt){_lost(ring)}: nothing was read or "
                "changed"
            )
        verified.add(kid)
    _probe(conn, ring, verified)
    if ring.current not in {kid for kid, _ in rows}:
        known = conn.execute(sa.select(_T.c.kid).where(_T.c.kid == ring.current)).first()
        if known is None:
            conn.execute(
                sa.insert(_T).values(
                    kid=ring.current, value=canary_for(ring, ring.current), created_at=utcnow()
                )
            )
