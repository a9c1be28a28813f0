"""Saved views of the firm and trader lists (the caller's own) and bulk actions on a selection
of firms: thin callers of services.saved_views and services.firm_bulk. A bulk export is
GET /api/v1/exports/firms.csv?ids=1,2,3."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID
from brm_app.api.schemas import ERRORS
from brm_app.models.fields import name_text
from brm_app.models.saved_view import VIEW_NAME_MAX, SavedViewPublic
from brm_app.services import firm_bulk, saved_views
from brm_app.services.firm_bulk import MAX_SELECTION, BulkResult

router = ApiRouter(prefix="/api/v1", tags=["saved views and bulk actions"], responses=ERRORS)

ListName = Literal["firms", "traders"]


class SavedViewWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    list_name: ListName
    name: name_text(VIEW_NAME_MAX)  # type: ignore[valid-type]
    settings: dict[str, Any] = Field(
        description="firms: q, status, tier, coverage (all, mine or a broker's id); traders: q, "
        "status, role; both: sort, direction, columns (the list's column keys, in order)"
    )


class BulkWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["archive", "assign_coverage"]
    firm_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        min_length=1, max_length=MAX_SELECTION
    )
    primary_broker_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    secondary_broker_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        default_factory=list, max_length=20
    )


@router.get("/saved-views", response_model=list[SavedViewPublic])
def list_saved_views(
    db: DB, actor: CurrentActor, list_name: Annotated[ListName, Query()] = "firms"
) -> list[SavedViewPublic]:
    """Your saved views of one list, by name."""
    return saved_views.list_views(db, actor=actor, list_name=list_name)


@router.post("/saved-views", response_model=SavedViewPublic, status_code=201)
def save_saved_view(body: SavedViewWrite, db: DB, actor: CurrentActor) -> SavedViewPublic:
    """Save a view (a view of that name on that list is replaced)."""
    return saved_views.save_view(
        db, actor=actor, list_name=body.list_name, name=body.name, settings=body.settings
    )


@router.delete("/saved-views/{view_id}", status_code=204)
def delete_saved_view(
    view_id: Annotated[int, Path(ge=1, le=MAX_ID)], db: DB, actor: CurrentActor
) -> Response:
    saved_views.delete_view(db, actor=actor, view_id=view_id)
    return Response(status_code=204)


@router.post("/bulk/firms", response_model=BulkResult)
def bulk_firms(body: BulkWrite, db: DB, actor: CurrentActor) -> BulkResult:
    """Archive the selected firms, or give them all the same coverage (`primary_broker_id`,
    `secondary_broker_ids`). All or nothing: one firm you may not change and none changes."""
    return firm_bulk.bulk_firms(
        db,
        actor=actor,
        action=body.action,
        firm_ids=body.firm_ids,
        primary_broker_id=body.primary_broker_id,
        secondary_broker_ids=body.secondary_broker_ids,
    )
