"""Trader roles: /api/v1/trader-roles (five built in; admins add and remove their own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import NoNul
from brm_app.api.schemas import ERRORS
from brm_app.models.trader import RoleName
from brm_app.services import traders

router = ApiRouter(prefix="/api/v1/trader-roles", tags=["trader roles"], responses=ERRORS)


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: RoleName


@router.get("", response_model=list[str])
def list_roles(db: DB, actor: CurrentActor) -> list[str]:
    """The roles a trader can hold: built-in ones first, then custom ones by name."""
    return traders.roles(db, actor=actor)


@router.post("", response_model=list[str], status_code=201)
def add_role(body: RoleIn, db: DB, actor: CurrentActor) -> list[str]:
    """Add a custom role (admins; names are unique ignoring case). Answers the new list."""
    return traders.add_role(db, actor=actor, name=body.name)


@router.delete("/{name}", status_code=204)
def remove_role(
    name: Annotated[str, Path(max_length=60, description="The role's name"), NoNul],
    db: DB,
    actor: CurrentActor,
) -> None:
    """Remove a custom role no trader holds (admins; built-in roles stay)."""
    traders.remove_role(db, actor=actor, name=name)
