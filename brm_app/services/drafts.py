"""Rows prepared for a bulk insert: attribute access like a table model's instance, so the
services' own helpers (`_apply`, `_snapshot`, ...) run on them unchanged, without the ORM's
per-instance bookkeeping (which costs more than the insert itself in a bulk import)."""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from brm_app.encryption.columns import ENCRYPTED, seal_row


def table(model: type[SQLModel]) -> sa.Table:
    """The model's table (for Core statements)."""
    found = model.__table__  # type: ignore[attr-defined]
    assert isinstance(found, sa.Table)
    return found


@cache
def columns(model: type[SQLModel]) -> tuple[str, ...]:
    """The model's columns but its generated primary key."""
    return tuple(c.name for c in table(model).columns if c.name != "id")


@cache
def _default_makers(model: type[SQLModel]) -> tuple[tuple[str, Any, Any], ...]:
    """(column, default, factory or None) of each column, looked up once per model."""
    out = []
    for name in columns(model):
        info = model.model_fields[name]
        out.append((name, info.default, info.default_factory))
    return tuple(out)


def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    return {
        name: factory() if factory is not None else default
        for name, default, factory in _default_makers(model)
    }


def draft(model: type[SQLModel], **values: Any) -> Any:
    """A new row of `model`: its defaults (factories called now), then `values`."""
    return SimpleNamespace(**{**_defaults(model), **values})


def values(model: type[SQLModel], row: Any) -> dict[str, Any]:
    """The row's column values, for an insert (encrypted columns sealed, blind indexes set)."""
    out = {name: getattr(row, name) for name in columns(model)}
    name = table(model).name
    return seal_row(name, out) if name in ENCRYPTED else out
