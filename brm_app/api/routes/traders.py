"""Traders: /api/v1/firms/{firm_id}/traders (a firm's traders) and /api/v1/traders (all traders
you may see, their history and moves).

Every rule lives in services.traders; these routes only parse, call it and shape the answer.
A trader the caller may not see answers 404, so ids cannot be probed. An answer carrying
contact details the caller did not send is traced (services.read_traces.contacts_shown).
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
    ShortText,
    TraderId,
)
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.trader import (
    TraderMovePublic,
    TraderPatch,
    TraderPublic,
    TraderStatus,
    TraderWrite,
)
from brm_app.services import read_traces, traders
from brm_app.services.pagination import PageRequest
from brm_app.services.traders import TraderSaved

router = ApiRouter(prefix="/api/v1", tags=["traders"], responses=ERRORS)

TraderSort = StrEnum("TraderSort", [(key, key) for key in traders.SORTS])
RoleFilter = Annotated[
    str | None, Query(max_length=60, description="Exact trader role name"), NoNul
]


class TraderSavedOut(TraderPublic):
    portal_initial_password: str | None = Field(
        default=None,
        description="Only when this save created a portal account: its password, shown this once.",
    )

    @classmethod
    def of(cls, saved: TraderSaved) -> TraderSavedOut:
        return cls(
            **saved.trader.model_dump(), portal_initial_password=saved.portal_initial_password
        )


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    firm_id: BodyId = Field(description="The firm the trader moves to")
    reason: ShortText | None = Field(default=None, description="Why (kept in their history)")


# ---- one firm's traders ------------------------------------------------------------------------


@router.get("/firms/{firm_id}/traders", response_model=PageOut[TraderPublic])
def list_firm_traders(
    firm_id: FirmId,
    db: DB,
    actor: CurrentActor,
    q: SearchText = None,
    status: TraderStatus | None = None,
    role: RoleFilter = None,
    sort: TraderSort = TraderSort.name,
    direction: Direction = "asc",
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[TraderPublic]:
    """The traders at one firm (a portal user sees only their own record)."""
    query = traders.TraderQuery(
        q=q, firm_id=firm_id, status=status, role=role, sort=sort.value, direction=direction
    )
    page = traders.list_traders(
        db, actor=actor, query=query, page=PageRequest(offset=offset, limit=limit)
    )
    read_traces.contacts_shown(db, actor=actor, shown=page.items)
    return PageOut[TraderPublic].of(page)


@router.post("/firms/{firm_id}/traders", response_model=TraderSavedOut, status_code=201)
def create_trader(
    firm_id: FirmId, body: TraderWrite, db: DB, actor: CurrentActor
) -> TraderSavedOut:
    """Add a trader to a firm. Granting `portal_access` (managers and admins) creates their
    portal account and returns its password once."""
    return TraderSavedOut.of(traders.create_trader(db, actor=actor, firm_id=firm_id, data=body))


@router.get("/firms/{firm_id}/traders/{trader_id}", response_model=TraderPublic)
def get_firm_trader(
    firm_id: FirmId, trader_id: TraderId, db: DB, actor: CurrentActor
) -> TraderPublic:
    """One trader at this firm (reading their contact details is traced)."""
    trader = traders.get_trader(db, actor=actor, trader_id=trader_id, firm_id=firm_id)
    read_traces.contacts_shown(db, actor=actor, shown=[trader])
    return trader


@router.put("/firms/{firm_id}/traders/{trader_id}", response_model=TraderSavedOut)
def replace_trader(
    firm_id: FirmId, trader_id: TraderId, body: TraderWrite, db: DB, actor: CurrentActor
) -> TraderSavedOut:
    """Replace a trader's profile; another `firm_id` moves them there (the move is recorded)."""
    return TraderSavedOut.of(
        traders.replace_trader(db, actor=actor, trader_id=trader_id, firm_id=firm_id, data=body)
    )


@router.patch("/firms/{firm_id}/traders/{trader_id}", response_model=TraderSavedOut)
def patch_trader(
    firm_id: FirmId, trader_id: TraderId, body: TraderPatch, db: DB, actor: CurrentActor
) -> TraderSavedOut:
    """Change only the fields sent."""
    saved = traders.patch_trader(db, actor=actor, trader_id=trader_id, firm_id=firm_id, data=body)
    read_traces.contacts_shown(db, actor=actor, shown=[saved.trader])
    return TraderSavedOut.of(saved)


@router.delete("/firms/{firm_id}/traders/{trader_id}", status_code=204)
def archive_trader(firm_id: FirmId, trader_id: TraderId, db: DB, actor: CurrentActor) -> None:
    """Remove a trader from the firm: the record and its history are kept, portal access ends."""
    traders.archive_trader(db, actor=actor, trader_id=trader_id, firm_id=firm_id)


# ---- all traders -------------------------------------------------------------------------------


@router.get("/traders", response_model=PageOut[TraderPublic])
def list_traders(
    db: DB,
    actor: CurrentActor,
    q: SearchText = None,
    firm_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this firm")] = None,
    status: TraderStatus | None = None,
    role: RoleFilter = None,
    covered: Annotated[bool, Query(description="Only traders at firms I cover")] = False,
    sort: TraderSort = TraderSort.name,
    direction: Direction = "asc",
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[TraderPublic]:
    """Traders at every firm you may see: search, filter, sort and page."""
    query = traders.TraderQuery(
        q=q,
        firm_id=firm_id,
        status=status,
        role=role,
        covered_by_me=covered,
        sort=sort.value,
        direction=direction,
    )
    page = traders.list_traders(
        db, actor=actor, query=query, page=PageRequest(offset=offset, limit=limit)
    )
    read_traces.contacts_shown(db, actor=actor, shown=page.items)
    return PageOut[TraderPublic].of(page)


@router.get("/traders/{trader_id}", response_model=TraderPublic)
def get_trader(trader_id: TraderId, db: DB, actor: CurrentActor) -> TraderPublic:
    """One trader, wherever they work (reading their contact details is traced)."""
    trader = traders.get_trader(db, actor=actor, trader_id=trader_id)
    read_traces.contacts_shown(db, actor=actor, shown=[trader])
    return trader


@router.get("/traders/{trader_id}/history", response_model=list[TraderMovePublic])
def trader_history(trader_id: TraderId, db: DB, actor: CurrentActor) -> list[TraderMovePublic]:
    """Every firm move of this trader, newest first."""
    return traders.history(db, actor=actor, trader_id=trader_id)


@router.post("/traders/{trader_id}/move", response_model=TraderSavedOut)
def move_trader(trader_id: TraderId, body: MoveIn, db: DB, actor: CurrentActor) -> TraderSavedOut:
    """Move a trader to another firm you may use; the old firm stays in their history."""
    saved = traders.move_trader(
        db, actor=actor, trader_id=trader_id, to_firm_id=body.firm_id, reason=body.reason
    )
    read_traces.contacts_shown(db, actor=actor, shown=[saved.trader])
    return TraderSavedOut.of(saved)
