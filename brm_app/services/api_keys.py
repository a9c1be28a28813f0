"""Service accounts' API keys (the OMS's): created and revoked by admins, shown once.

Rules: a key is 32 random bytes (`brmk_` + URL-safe text); only its SHA-256 is stored (a key that
random needs no slow hash); each key holds scopes (today only `oms.executions`) and optionally the
firms it may touch; a revoked key is refused at once and kept for the record; every change is
audited. A key authenticates nothing but the endpoints of its scopes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.db import utcnow
from brm_app.models.firm import Firm
from brm_app.models.portfolio import ApiKey, ApiKeyCreated, ApiKeyPublic, ApiKeyWrite
from brm_app.services import audit
from brm_app.services.errors import NotAuthenticated, NotFound, ValidationFailed
from brm_app.services.validation import parse, require_id

PREFIX = "brmk_"
SCOPES = ("oms.executions",)


@dataclass(frozen=True)
class ServiceActor:
    """A service account acting through its key (recorded as `service:<name>` in the audit)."""

    key_id: int
    name: str
    scopes: frozenset[str]
    firm_ids: frozenset[int] | None
    ip: str | None = None
    user_id: None = None

    @property
    def label(self) -> str:
        return f"service:{self.name}"

    def may_touch(self, firm_id: int) -> bool:
        return self.firm_ids is None or firm_id in self.firm_ids


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX)


def _public(row: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(
        api_key_id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=row.scopes.split(","),
        firm_ids=json.loads(row.firm_ids) if row.firm_ids else None,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def create_key(
    db: Session, *, actor: Actor | SystemActor, data: ApiKeyWrite | dict[str, Any]
) -> ApiKeyCreated:
    require(actor, Permission.API_KEYS_MANAGE)
    if isinstance(data, dict):
        data = parse(ApiKeyWrite, data)
    scopes = sorted(set(data.scopes))
    for scope in scopes:
        if scope not in SCOPES:
            raise ValidationFailed(
                f"{scope!r} is not a scope (known: {', '.join(SCOPES)})", field="scopes"
            )
    firm_ids = None
    if data.firm_ids is not None:
        firm_ids = sorted(set(data.firm_ids))
        found = set(db.exec(select(Firm.id).where(col(Firm.id).in_(firm_ids))).all())
        if missing := [f for f in firm_ids if f not in found]:
            raise ValidationFailed(f"no firm with id {missing[0]}", field="firm_ids")
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=data.name,
        prefix=key[:12],
        key_hash=hash_key(key),
        scopes=",".join(scopes),
        firm_ids=json.dumps(firm_ids) if firm_ids is not None else None,
        created_by_id=actor.user_id,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="api_key.create",
        entity="api_key",
        entity_id=row.id,
        changes={"name": row.name, "prefix": row.prefix, "scopes": scopes, "firm_ids": firm_ids},
    )
    return ApiKeyCreated(**_public(row).model_dump(), key=key)


def list_keys(db: Session, *, actor: Actor | SystemActor) -> list[ApiKeyPublic]:
    require(actor, Permission.API_KEYS_MANAGE)
    return [_public(r) for r in db.exec(select(ApiKey).order_by(col(ApiKey.id).desc())).all()]


def revoke_key(db: Session, *, actor: Actor | SystemActor, api_key_id: object) -> ApiKeyPublic:
    require(actor, Permission.API_KEYS_MANAGE)
    row = db.get(ApiKey, require_id(api_key_id, "api_key_id"))
    if row is None:
        raise NotFound("API key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.add(row)
        db.flush()
        audit.record(
            db,
            actor=actor,
            action="api_key.revoke",
            entity="api_key",
            entity_id=row.id,
            changes={"name": row.name, "prefix": row.prefix},
        )
    return _public(row)


def actor_for_key(db: Session, *, key: str, scope: str, ip: str | None) -> ServiceActor:
    """The service account of a live key holding `scope`; NotAuthenticated otherwise (one
    message for an unknown, revoked or out-of-scope key)."""
    row = db.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if row is None or row.revoked_at is not None or scope not in row.scopes.split(","):
        raise NotAuthenticated("This API key is unknown, revoked or not allowed here.")
    if db.info.get("brm_write"):
        row.last_used_at = utcnow()
        db.add(row)
    firm_ids = json.loads(row.firm_ids) if row.firm_ids else None
    return ServiceActor(
        key_id=row.id or 0,
        name=row.name,
        scopes=frozenset(row.scopes.split(",")),
        firm_ids=frozenset(firm_ids) if firm_ids is not None else None,
        ip=ip,
    )
