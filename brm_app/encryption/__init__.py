"""Encryption at rest of sensitive columns and files (README, "Encryption at rest")."""

from __future__ import annotations

import threading

from brm_app.encryption.keyring import KeyRing, load_ring
from brm_app.settings import Settings, get_settings

_lock = threading.Lock()
_loaded: tuple[Settings, KeyRing] | None = None


def get_keyring() -> KeyRing:
    """The process's key ring, for the current settings (tests change settings between cases)."""
    global _loaded
    settings = get_settings()
    loaded = _loaded
    if loaded is not None and loaded[0] is settings:
        return loaded[1]
    with _lock:
        if _loaded is None or _loaded[0] is not settings:
            ring = load_ring(
                configured=settings.encryption_keys,
                data_dir=settings.data_dir,
                shared_database=not settings.is_sqlite,
                secret_key=settings.secret_key,
            )
            _loaded = (settings, ring)
        return _loaded[1]
