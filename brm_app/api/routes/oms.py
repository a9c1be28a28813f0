"""The OMS endpoint (`POST /api/v1/oms/executions`) and the service-account keys that call it.

The OMS authenticates with a service account's API key (`Authorization: Bearer brmk_...`, made
by an admin under /api/v1/api-keys, scoped to this endpoint); a broker's own token works too, for
the firms the broker covers. Every rule lives in services.oms and services.api_keys.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from brm_app.api.deps import DB, CurrentActor, Pending, PendingActor, client_ip
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID
from brm_app.api.schemas import ERRORS
from brm_app.auth.actor import Actor
from brm_app.models.portfolio import (
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeyWrite,
    ExecutionBatch,
    ExecutionBatchResult,
)
from brm_app.services import api_keys, authentication, oms
from brm_app.services.api_keys import ServiceActor
from brm_app.services.errors import NotAuthenticated
from brm_app.settings import get_settings

router = ApiRouter(prefix="/api/v1", tags=["oms"], responses=ERRORS)
_bearer = HTTPBearer(auto_error=False, description="A service account's API key, or a token")

ApiKeyId = Annotated[int, Path(ge=1, le=MAX_ID, description="An API key id")]


async def oms_actor(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Pending:
    """A service account's API key (scoped to executions) or a person's token; the key or the
    account is checked in the request's transaction (see api.deps)."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise NotAuthenticated("Send an API key or token: Authorization: Bearer <key>.")
    ip = client_ip(request)
    key = creds.credentials
    if api_keys.looks_like_key(key):
        return Pending(
            lambda db: api_keys.actor_for_key(db, key=key, scope="oms.executions", ip=ip)
        )
    claims = authentication.api_token_claims(key, settings=get_settings())
    return PendingActor(claims, ip, setup_ok=False)


@router.post(
    "/oms/executions",
    response_model=ExecutionBatchResult,
    responses={413: {"description": "More than 1,000 executions in one batch"}},
)
def post_executions(
    body: ExecutionBatch,
    db: DB,
    actor: Annotated[Actor | ServiceActor, Depends(oms_actor)],
) -> ExecutionBatchResult:
    """Execution reports as the OMS sends them (FIX ExecutionReport fields in JSON), 1 to 1,000
    per batch, booked whole or not at all. Fills (exec_type F) become transactions; H (trade
    cancel) and G (trade correct) book the reversing entry of the fill named by `exec_ref_id`.
    Idempotent by `exec_id`: a resend changes nothing (status `duplicate`); the same exec_id
    with different content is 409. A firm (`account`: LEI or id) the key may not touch is 404."""
    return oms.post_executions(db, actor=actor, executions=body.executions)


@router.get("/api-keys", response_model=list[ApiKeyPublic])
def list_api_keys(db: DB, actor: CurrentActor) -> list[ApiKeyPublic]:
    """Service accounts' keys (admins): never the keys themselves."""
    return api_keys.list_keys(db, actor=actor)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_api_key(body: ApiKeyWrite, db: DB, actor: CurrentActor) -> ApiKeyCreated:
    """A new key for a service account (admins): `key` is shown in this answer only; store it in
    the OMS. `firm_ids` limits it to those firms (default: every firm)."""
    return api_keys.create_key(db, actor=actor, data=body)


@router.post("/api-keys/{api_key_id}/revoke", response_model=ApiKeyPublic)
def revoke_api_key(api_key_id: ApiKeyId, db: DB, actor: CurrentActor) -> ApiKeyPublic:
    """Revoke a key (admins): refused from now on, kept on record."""
    return api_keys.revoke_key(db, actor=actor, api_key_id=api_key_id)
