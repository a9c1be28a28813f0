"""Saved views of the firm and trader lists, per user: a name for a set of filters, a sort and
the columns shown. The firm list filters by status, tier and coverage; the trader list by status
and role. A user sees and changes only their own views; the settings are checked
against what each list accepts (unknown keys or values are refused, nothing is stored blindly).
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.models.firm import AccountStatus, Tier
from brm_app.models.saved_view import VIEW_NAME_MAX, SavedView, SavedViewPublic
from brm_app.models.trader import TraderStatus
from brm_app.services import firms, traders
from brm_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brm_app.services.validation import require_id

AnyActor = Actor | SystemActor

MAX_VIEWS = 50
FIRM_COLUMNS = ("name", "status", "tier", "primary", "place", "traders", "updated")
TRADER_COLUMNS = ("name", "email", "firm", "role", "phone", "status", "updated")
# Shown until a view says otherwise: all of them would not fit a laptop's width.
TRADER_DEFAULT_COLUMNS = ("name", "email", "firm", "role", "phone", "status")
LISTS: dict[str, dict[str, Any]] = {
    "firms": {
        "permission": Permission.FIRMS_VIEW,
        "sorts": tuple(firms.SORTS),
        "columns": FIRM_COLUMNS,
        "default_columns": FIRM_COLUMNS,
        "status": tuple(s.value for s in AccountStatus),
        "tier": tuple(t.value for t in Tier),
        "filters": ("q", "status", "tier", "coverage"),
    },
    "traders": {
        "permission": Permission.TRADERS_VIEW,
        "sorts": tuple(traders.SORTS),
        "columns": TRADER_COLUMNS,
        "default_columns": TRADER_DEFAULT_COLUMNS,
        "status": tuple(s.value for s in TraderStatus),
        # The role is one of the trader roles when saved (checked in save_view).
        "filters": ("q", "status", "role"),
    },
}


def _list(list_name: object) -> dict[str, Any]:
    if not isinstance(list_name, str) or list_name not in LISTS:
        raise ValidationFailed("must be firms or traders", field="list_name")
    return LISTS[list_name]


def _user_id(actor: AnyActor) -> int:
    if not isinstance(actor, Actor):
        raise PermissionDenied("Saved views belong to a signed-in user.")
    return actor.user_id


def clean_settings(list_name: str, raw: object) -> dict[str, Any]:
    """The settings a list accepts, with defaults; ValidationFailed names the bad one."""
    spec = _list(list_name)
    if not isinstance(raw, dict):
        raise ValidationFailed("must be an object", field="settings")
    allowed = {*spec["filters"], "sort", "direction", "columns"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationFailed(f"unknown setting {unknown[0]!r}", field="settings")
    out: dict[str, Any] = {}
    q = raw.get("q", "")
    if not isinstance(q, str) or len(q) > 100 or "\x00" in q:
        raise ValidationFailed("at most 100 characters", field="q")
    out["q"] = q.strip()
    for key in ("status", "tier"):
        if key not in spec["filters"]:
            continue
        value = raw.get(key, "all")
        if value not in ("all", *spec[key]):
            raise ValidationFailed(f"must be all or one of {', '.join(spec[key])}", field=key)
        out[key] = value
    if "coverage" in spec["filters"]:
        coverage = raw.get("coverage", "all")
        if not isinstance(coverage, str) or not (coverage in ("all", "mine") or coverage.isdigit()):
            raise ValidationFailed("must be all, mine or a broker's id", field="coverage")
        out["coverage"] = coverage
    if "role" in spec["filters"]:
        role = raw.get("role", "all")
        if not isinstance(role, str) or not role.strip() or len(role) > 60 or "\x00" in role:
            raise ValidationFailed("must be all or a trader role", field="role")
        out["role"] = role
    sort = raw.get("sort", "name")
    if sort not in spec["sorts"]:
        raise ValidationFailed(f"must be one of {', '.join(spec['sorts'])}", field="sort")
    out["sort"] = sort
    direction = raw.get("direction", "asc")
    if direction not in ("asc", "desc"):
        raise ValidationFailed("must be asc or desc", field="direction")
    out["direction"] = direction
    columns = raw.get("columns", list(spec["default_columns"]))
    if (
        not isinstance(columns, list)
        or not columns
        or any(c not in spec["columns"] for c in columns)
        or len(set(columns)) != len(columns)
    ):
        raise ValidationFailed(f"columns among {', '.join(spec['columns'])}", field="columns")
    out["columns"] = columns
    return out


def _public(row: SavedView) -> SavedViewPublic:
    assert row.id is not None
    return SavedViewPublic(
        view_id=row.id, list_name=row.list_name, name=row.name, settings=json.loads(row.settings)
    )


def list_views(db: Session, *, actor: AnyActor, list_name: object) -> list[SavedViewPublic]:
    spec = _list(list_name)
    require(actor, spec["permission"])
    rows = db.exec(
        select(SavedView)
        .where(SavedView.user_id == _user_id(actor), SavedView.list_name == list_name)
        .order_by(col(SavedView.name))
    ).all()
    return [_public(r) for r in rows]


def save_view(
    db: Session, *, actor: AnyActor, list_name: object, name: object, settings: object
) -> SavedViewPublic:
    """Create the view, or replace the settings of the user's view of that name."""
    spec = _list(list_name)
    require(actor, spec["permission"])
    user_id = _user_id(actor)
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > VIEW_NAME_MAX:
        raise ValidationFailed(f"1 to {VIEW_NAME_MAX} characters", field="name")
    if "\x00" in name:
        raise ValidationFailed("must not contain NUL", field="name")
    name = " ".join(name.split())
    clean = clean_settings(str(list_name), settings)
    if clean.get("role", "all") != "all" and clean["role"] not in traders.roles(db, actor=actor):
        raise ValidationFailed("must be all or a trader role", field="role")
    row = db.exec(
        select(SavedView).where(
            SavedView.user_id == user_id,
            SavedView.list_name == list_name,
            SavedView.name == name,
        )
    ).first()
    if row is None:
        count = len(
            db.exec(
                select(SavedView.id).where(
                    SavedView.user_id == user_id, SavedView.list_name == list_name
                )
            ).all()
        )
        if count >= MAX_VIEWS:
            raise Conflict(f"At most {MAX_VIEWS} saved views per list.", field="name")
        row = SavedView(user_id=user_id, list_name=str(list_name), name=name, settings="{}")
    row.settings = json.dumps(clean)
    db.add(row)
    db.flush()
    return _public(row)


def delete_view(db: Session, *, actor: AnyActor, view_id: object) -> None:
    """Only one's own view; another user's is not found (ids cannot be probed)."""
    view_id = require_id(view_id, "view_id")
    row = db.get(SavedView, view_id)
    if row is None or row.user_id != _user_id(actor):
        raise NotFound("Saved view")
    db.delete(row)
