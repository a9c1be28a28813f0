"""Firms: /api/v1/firms (the book, coverage, archive/restore, merge) and /api/v1/brokers.

Every rule lives in services.firms; these routes only parse, call it and shape the answer.
A firm the caller may not see answers 404, so ids cannot be probed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import (
    MAX_ID,
    BodyId,
    Direction,
    FirmId,
    Limit,
    NoNul,
    Offset,
    SearchText,
)
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.firm import (
    AccountStatus,
    BrokerRef,
    FirmListItem,
    FirmPatch,
    FirmPublic,
    FirmWrite,
    Tier,
)
from brm_app.services import firms
from brm_app.services.errors import ValidationFailed
from brm_app.services.pagination import PageRequest

router = ApiRouter(prefix="/api/v1", tags=["firms"], responses=ERRORS)

FirmSort = StrEnum("FirmSort", [(key, key) for key in firms.SORTS])


class CoverageIn(BaseModel):
    """Who covers a firm: the primary broker and any secondary brokers (active brokers only)."""

    model_config = ConfigDict(extra="forbid")
    primary_broker_id: BodyId
    secondary_broker_ids: list[BodyId] = Field(default_factory=list, max_length=50)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_firm_id: BodyId = Field(description="The duplicate firm; it is archived afterwards.")


class MergeOut(BaseModel):
    firm: FirmPublic = Field(description="The surviving firm, after the merge.")
    traders_moved: int = Field(description="Traders moved from the source firm.")
    traders_matched: int = Field(
        description="Source traders whose email already existed here: archived and linked."
    )
    moved: dict[str, int] = Field(
        default_factory=dict, description="Other records re-pointed to this firm, by kind."
    )


@router.get("/firms", response_model=PageOut[FirmListItem])
def list_firms(
    db: DB,
    actor: CurrentActor,
    q: SearchText = None,
    status: Annotated[AccountStatus | None, Query(description="Account status")] = None,
    tier: Tier | None = None,
    covered: Annotated[bool, Query(description="Only firms I cover")] = False,
    broker_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only firms this broker covers")
    ] = None,
    archived: Annotated[
        bool, Query(description="List archived firms instead (admins only)")
    ] = False,
    sort: FirmSort = FirmSort.name,
    direction: Direction = "asc",
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="`next_cursor` from the previous page (then leave `offset` at 0)",
        ),
        NoNul,
    ] = None,
) -> PageOut[FirmListItem]:
    """List the firms you may see: search by name (or LEI), filter, sort, and page by offset or
    by cursor. `q=acm` finds "Acme Capital"."""
    if cursor and offset:
        raise ValidationFailed("use either offset or cursor, not both", field="offset")
    query = firms.FirmQuery(
        q=q,
        status=status,
        tier=tier,
        covered_by_me=covered,
        broker_id=broker_id,
        archived=archived,
        sort=sort.value,
        direction=direction,
    )
    page = firms.list_firms(
        db, actor=actor, query=query, page=PageRequest(offset=offset, limit=limit), cursor=cursor
    )
    out = PageOut[FirmListItem].of(page)
    if cursor:
        # Keyset pages have no meaningful offset: follow next_cursor.
        out.next_offset = None
    return out


@router.post("/firms", response_model=FirmPublic, status_code=201)
def create_firm(body: FirmWrite, db: DB, actor: CurrentActor) -> FirmPublic:
    """Create a firm. A broker becomes its primary broker; managers and admins must name one."""
    return firms.create_firm(db, actor=actor, data=body)


@router.get("/firms/{firm_id}", response_model=FirmPublic)
def get_firm(firm_id: FirmId, db: DB, actor: CurrentActor) -> FirmPublic:
    """One firm with its address, contact details, coverage and trader count."""
    return firms.get_firm(db, actor=actor, firm_id=firm_id)


@router.put("/firms/{firm_id}", response_model=FirmPublic)
def replace_firm(firm_id: FirmId, body: FirmWrite, db: DB, actor: CurrentActor) -> FirmPublic:
    """Replace a firm's profile: omitted optional fields become empty."""
    return firms.replace_firm(db, actor=actor, firm_id=firm_id, data=body)


@router.patch("/firms/{firm_id}", response_model=FirmPublic)
def patch_firm(firm_id: FirmId, body: FirmPatch, db: DB, actor: CurrentActor) -> FirmPublic:
    """Change only the fields sent (inside `address` and `contact_details` too)."""
    return firms.patch_firm(db, actor=actor, firm_id=firm_id, data=body)


@router.delete("/firms/{firm_id}", status_code=204)
def archive_firm(firm_id: FirmId, db: DB, actor: CurrentActor) -> None:
    """Archive a firm: it leaves every list but is kept, and an admin can restore it."""
    firms.archive_firm(db, actor=actor, firm_id=firm_id)


@router.post("/firms/{firm_id}/restore", response_model=FirmPublic)
def restore_firm(firm_id: FirmId, db: DB, actor: CurrentActor) -> FirmPublic:
    """Bring an archived firm back (admins)."""
    return firms.restore_firm(db, actor=actor, firm_id=firm_id)


@router.put("/firms/{firm_id}/coverage", response_model=FirmPublic)
def set_coverage(firm_id: FirmId, body: CoverageIn, db: DB, actor: CurrentActor) -> FirmPublic:
    """Assign the primary and secondary brokers (managers and admins)."""
    return firms.set_coverage(
        db,
        actor=actor,
        firm_id=firm_id,
        primary_broker_id=body.primary_broker_id,
        secondary_broker_ids=list(body.secondary_broker_ids),
    )


@router.post("/firms/{firm_id}/merge", response_model=MergeOut)
def merge_firm(firm_id: FirmId, body: MergeIn, db: DB, actor: CurrentActor) -> MergeOut:
    """Merge `source_firm_id` into this firm: its traders and coverage move here, and it is
    archived (managers and admins)."""
    result = firms.merge_firms(db, actor=actor, source_id=body.source_firm_id, target_id=firm_id)
    return MergeOut(
        firm=result.firm,
        traders_moved=result.traders_moved,
        traders_matched=result.traders_matched,
        moved=result.moved,
    )


@router.get("/brokers", response_model=list[BrokerRef])
def list_brokers(db: DB, actor: CurrentActor) -> list[BrokerRef]:
    """Active brokers, for clients that assign coverage (staff only)."""
    return firms.brokers(db, actor=actor)
