"""The start-up key check: the app starts only when its key ring opens what the database holds.

Each key the database has used has a canary (a known value encrypted with it). A key that is not
retired must be in the ring and open its canary; otherwise the start fails with a message naming
the key, before any page or API call could read half of the data.
"""

from __future__ import annotations

import sqlalchemy as sa

from brm_app.db import utcnow
from brm_app.encryption import get_keyring
from brm_app.encryption.keyring import KeyError_, KeyRing, UndecryptableValue
from brm_app.models.encryption import EncryptionCanary

CANARY = "brm encryption canary v1"
_T = EncryptionCanary.__table__  # type: ignore[attr-defined]


def canary_for(ring: KeyRing, kid: str) -> bytes:
    single = KeyRing(tuple(k for k in ring.keys if k[0] == kid), ring.index_key)
    return single.seal("encryption_canaries", "value", kid, CANARY)


def _where(ring: KeyRing) -> str:
    return f"the keys file {ring.source_file}" if ring.source_file else "BRM_ENCRYPTION_KEYS"


def check_keys(conn: sa.Connection, ring: KeyRing | None = None) -> None:
    """Raise KeyError_ (a message for the operator) unless the ring opens every key's canary;
    record the canary of a key used for the first time."""
    ring = ring or get_keyring()
    rows = conn.execute(sa.select(_T.c.kid, _T.c.value).where(_T.c.retired_at.is_(None))).all()
    for kid, value in rows:
        if kid not in ring.key_ids:
            lost = (
                " (the keys file was missing, so a new one was just made: replace it with your "
                "copy of the original)"
                if ring.generated
                else ""
            )
            raise KeyError_(
                f"the database holds values encrypted with key {kid!r}, which is not in "
                f"{_where(ring)}{lost}: start with the key ring these values were written with"
            )
        try:
            ok = ring.open("encryption_canaries", "value", kid, bytes(value)) == CANARY
        except UndecryptableValue:
            ok = False
        if not ok:
            lost = (
                " (the keys file was missing, so a new one was just made: replace it with your "
                "copy of the original)"
                if ring.generated
                else ""
            )
            raise KeyError_(
                f"key {kid!r} in {_where(ring)} is not the key this database was encrypted "
                f"with (its check value does not decrypt){lost}: nothing was read or changed"
            )
    if ring.current not in {kid for kid, _ in rows}:
        known = conn.execute(sa.select(_T.c.kid).where(_T.c.kid == ring.current)).first()
        if known is None:
            conn.execute(
                sa.insert(_T).values(
                    kid=ring.current, value=canary_for(ring, ring.current), created_at=utcnow()
                )
            )
