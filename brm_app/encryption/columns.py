"""Encrypted columns: stored as AES-256-GCM envelopes bound to table, column and row.

A table with encrypted columns has a `row_key` (a random id set when the row is made, before
its autoincrement id exists): it is part of each value's associated data, so a ciphertext
copied to another row (or column, or table) does not open.

- ORM instances hold plaintext: mapper events seal before INSERT/UPDATE and open on load.
- Core statements call `seal_value` / `open_value` themselves (`drafts.values` does for drafts).
- `EncryptedText` refuses any plaintext at bind time, so a forgotten path fails loudly instead of
  writing clear text.
- A blind index column (`<name>_bidx`) holds a keyed digest of the normalised value for
  exact-match lookups and uniqueness.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import attributes

from brm_app.encryption import get_keyring
from brm_app.encryption.keyring import is_envelope


class PlaintextRefused(ValueError):
    """Clear text bound to an encrypted column."""


def new_row_key() -> str:
    """32 random hex digits (os.urandom: uuid4 cost five times as much, and the seeders make
    one per row)."""
    return os.urandom(16).hex()


class EncryptedText(sa.types.TypeDecorator[Any]):
    """Text kept as an encrypted envelope (bytes). Binds only envelopes; reads return them."""

    impl = sa.LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None:
            return None
        if is_envelope(value):
            return bytes(value)
        raise PlaintextRefused("clear text bound to an encrypted column: seal it first")

    def process_result_value(self, value: Any, dialect: Any) -> bytes | None:
        return None if value is None else bytes(value)


# table name -> the encrypted column names; table -> {index column: (source column, normaliser)}
ENCRYPTED: dict[str, tuple[str, ...]] = {}
BLIND_INDEXES: dict[str, dict[str, tuple[str, Callable[[str], str]]]] = {}


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit() or ch == "+")


def blind_index(table: str, column: str, value: str | None) -> str | None:
    """The digest to look `value` up by (None for no value)."""
    if value is None:
        return None
    norm = BLIND_INDEXES[table][f"{column}_bidx"][1]
    return get_keyring().digest(f"{table}.{column}", norm(value))


def seal_value(table: str, column: str, row_key: str, value: str | None) -> bytes | None:
    if value is None:
        return None
    return get_keyring().seal(table, column, row_key, value)


def open_value(table: str, column: str, row_key: str, value: bytes | None) -> str | None:
    if value is None:
        return None
    return get_keyring().open(table, column, row_key, value)


def seal_row(table: str, values: dict[str, Any]) -> dict[str, Any]:
    """Insert/update values of a Core statement with the encrypted columns sealed and their
    blind indexes set (`values` must carry `row_key`)."""
    out = dict(values)
    row_key = out["row_key"]
    for index_col, (source, _) in BLIND_INDEXES.get(table, {}).items():
        if source in out and not is_envelope(out[source]):
            out[index_col] = blind_index(table, source, out[source])
    for name in ENCRYPTED.get(table, ()):
        if name in out and isinstance(out[name], str):
            out[name] = seal_value(table, name, row_key, out[name])
    return out


def open_row(table: str, row: Any, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The plaintext of a row's encrypted columns (a Row or mapping with `row_key`)."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    row_key = mapping["row_key"]
    return {
        name: open_value(table, name, row_key, mapping[name])
        for name in (names or ENCRYPTED[table])
        if name in mapping
    }


_PLAIN = "_brm_plain"


def register(
    model: type, *, columns: tuple[str, ...], indexes: dict[str, Callable[[str], str]] | None = None
) -> None:
    """Seal `columns` of `model` on INSERT/UPDATE and open them on load; keep
    `<column>_bidx` for each of `indexes` (column -> normaliser)."""
    table = model.__tablename__  # type: ignore[attr-defined]
    ENCRYPTED[table] = columns
    BLIND_INDEXES[table] = {f"{c}_bidx": (c, norm) for c, norm in (indexes or {}).items()}
    index_of = {c: f"{c}_bidx" for c in (indexes or {})}

    def _seal(target: Any, only_changed: bool) -> None:
        plain: dict[str, str] = {}
        state = attributes.instance_state(target)
        for name in columns:
            if name not in target.__dict__:
                continue
            if only_changed and not state.attrs[name].history.has_changes():
                continue
            value = target.__dict__[name]
            if name in index_of and not is_envelope(value):
                setattr(target, index_of[name], blind_index(table, name, value))
            if isinstance(value, str):
                plain[name] = value
                setattr(target, name, seal_value(table, name, target.row_key, value))
        target.__dict__[_PLAIN] = plain

    def _restore(target: Any) -> None:
        for name, value in target.__dict__.pop(_PLAIN, {}).items():
            attributes.set_committed_value(target, name, value)

    def _open(target: Any, names: Any = None) -> None:
        for name in columns:
            if names is not None and name not in names:
                continue
            value = target.__dict__.get(name)
            if is_envelope(value):
                attributes.set_committed_value(
                    target, name, open_value(table, name, target.row_key, value)
                )

    event.listen(model, "before_insert", lambda m, c, t: _seal(t, False))
    event.listen(model, "before_update", lambda m, c, t: _seal(t, True))
    event.listen(model, "after_insert", lambda m, c, t: _restore(t))
    event.listen(model, "after_update", lambda m, c, t: _restore(t))
    event.listen(model, "load", lambda t, ctx: _open(t))
    event.listen(model, "refresh", lambda t, ctx, attrs: _open(t, attrs))
