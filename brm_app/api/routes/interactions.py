"""Interactions: /api/v1/interactions (log, read, new versions, void), one firm's or one trader's
interactions, and /api/v1/interaction-types (what a client may send as type and outcome).

Every rule lives in services.interactions; these routes only parse, call it and shape the answer.
An interaction the caller may not see answers 404, so ids cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, Path, Query
from pydantic import BaseModel, StringConstraints

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import MAX_ID, Day, FirmId, Limit, NoNul, Offset, TraderId
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.models.interaction import (
    InteractionPublic,
    InteractionVersionPublic,
    InteractionVoid,
    InteractionWrite,
)
from brm_app.services import interaction_config, interactions
from brm_app.services.errors import ValidationFailed
from brm_app.services.interactions import InteractionQuery
from brm_app.services.pagination import PageRequest

router = ApiRouter(prefix="/api/v1", tags=["interactions"], responses=ERRORS)

InteractionId = Annotated[int, Path(ge=1, le=MAX_ID, description="An interaction id")]
NameFilter = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60), NoNul]


class InteractionTypeOut(BaseModel):
    name: str
    active: bool
    built_in: bool
    outcomes: list[str]


@dataclass(frozen=True)
class Filters:
    """The filters and paging every interaction list takes."""

    broker_id: int | None
    types: list[str]
    outcomes: list[str]
    date_from: date | None
    date_to: date | None
    include_voided: bool
    direction: Literal["desc", "asc"]
    limit: int
    offset: int
    cursor: str | None


async def filters(
    broker_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only those this broker logged")
    ] = None,
    types: Annotated[
        list[NameFilter],
        Query(alias="type", max_length=20, description="Interaction type (repeat for several)"),
    ] = [],  # noqa: B006 (FastAPI copies defaults)
    outcomes: Annotated[
        list[NameFilter],
        Query(alias="outcome", max_length=20, description="Outcome (repeat for several)"),
    ] = [],  # noqa: B006
    date_from: Annotated[
        Day | None,
        Query(description="From this day (your time zone)"),
    ] = None,
    date_to: Annotated[
        Day | None,
        Query(description="To this day, inclusive"),
    ] = None,
    include_voided: Annotated[
        bool, Query(description="Also voided interactions (compliance and admins)")
    ] = False,
    direction: Annotated[
        Literal["desc", "asc"], Query(description="desc: newest first; asc: oldest first")
    ] = "desc",
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
) -> Filters:
    if cursor and offset:
        raise ValidationFailed("use either offset or cursor, not both", field="offset")
    return Filters(
        broker_id,
        list(types),
        list(outcomes),
        date_from,
        date_to,
        include_voided,
        direction,
        limit,
        offset,
        cursor,
    )


ListFilters = Annotated[Filters, Depends(filters)]


def _list(
    db: DB, actor: CurrentActor, f: Filters, *, firm_id: int | None, trader_id: int | None
) -> PageOut[InteractionPublic]:
    query = InteractionQuery(
        firm_id=firm_id,
        trader_id=trader_id,
        broker_id=f.broker_id,
        types=f.types,
        outcomes=f.outcomes,
        date_from=f.date_from,
        date_to=f.date_to,
        include_voided=f.include_voided,
        direction=f.direction,
    )
    page = interactions.list_interactions(
        db,
        actor=actor,
        query=query,
        page=PageRequest(offset=f.offset, limit=f.limit),
        cursor=f.cursor,
    )
    out = PageOut[InteractionPublic].of(page)
    if f.cursor:
        # Keyset pages have no meaningful offset: follow next_cursor.
        out.next_offset = None
    return out


@router.get("/interactions", response_model=PageOut[InteractionPublic])
def list_interactions(
    db: DB,
    actor: CurrentActor,
    f: ListFilters,
    firm_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this firm")] = None,
    trader_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only with this trader")
    ] = None,
) -> PageOut[InteractionPublic]:
    """Interactions at the firms you may see, newest first: filter by firm, trader, broker,
    type, outcome and date range (days in your time zone); page by offset or by cursor."""
    return _list(db, actor, f, firm_id=firm_id, trader_id=trader_id)


@router.post("/interactions", response_model=InteractionPublic, status_code=201)
def log_interaction(body: InteractionWrite, db: DB, actor: CurrentActor) -> InteractionPublic:
    """Log an interaction with one trader (`trader_id`) or several (`trader_ids`) of one firm
    you cover. `interaction_date` without an offset is read in `time_zone` (default: yours)."""
    return interactions.log_interaction(db, actor=actor, data=body)


@router.get("/interactions/{interaction_id}", response_model=InteractionPublic)
def get_interaction(
    interaction_id: InteractionId, db: DB, actor: CurrentActor
) -> InteractionPublic:
    """One interaction, as its current version."""
    return interactions.get_interaction(db, actor=actor, interaction_id=interaction_id)


@router.put("/interactions/{interaction_id}", response_model=InteractionPublic)
def edit_interaction(
    interaction_id: InteractionId, body: InteractionWrite, db: DB, actor: CurrentActor
) -> InteractionPublic:
    """Save a new version (the broker who logged it, managers and admins); every earlier version
    stays readable exactly as it was. Sending the same content again saves nothing."""
    return interactions.edit_interaction(db, actor=actor, interaction_id=interaction_id, data=body)


@router.get(
    "/interactions/{interaction_id}/versions", response_model=list[InteractionVersionPublic]
)
def interaction_versions(
    interaction_id: InteractionId, db: DB, actor: CurrentActor
) -> list[InteractionVersionPublic]:
    """Every version, oldest first: `data` is exactly the JSON saved then, with who saved it
    and when."""
    return interactions.versions(db, actor=actor, interaction_id=interaction_id)


@router.post("/interactions/{interaction_id}/void", response_model=InteractionPublic)
def void_interaction(
    interaction_id: InteractionId, body: InteractionVoid, db: DB, actor: CurrentActor
) -> InteractionPublic:
    """Void an interaction with a reason (admins). It leaves lists and timelines but stays on
    record: compliance and admins still read it."""
    return interactions.void_interaction(
        db, actor=actor, interaction_id=interaction_id, reason=body.reason
    )


@router.get("/firms/{firm_id}/interactions", response_model=PageOut[InteractionPublic])
def list_firm_interactions(
    firm_id: FirmId,
    db: DB,
    actor: CurrentActor,
    f: ListFilters,
    trader_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only with this trader")
    ] = None,
) -> PageOut[InteractionPublic]:
    """One firm's interactions, newest first, with the same filters and paging as
    `GET /interactions`."""
    return _list(db, actor, f, firm_id=firm_id, trader_id=trader_id)


@router.get("/traders/{trader_id}/interactions", response_model=PageOut[InteractionPublic])
def list_trader_interactions(
    trader_id: TraderId, db: DB, actor: CurrentActor, f: ListFilters
) -> PageOut[InteractionPublic]:
    """The interactions one trader took part in, newest first, with the same filters and
    paging as `GET /interactions`."""
    return _list(db, actor, f, firm_id=None, trader_id=trader_id)


@router.get("/interaction-types", response_model=list[InteractionTypeOut])
def interaction_types(db: DB, actor: CurrentActor) -> list[InteractionTypeOut]:
    """The active interaction types, each with the outcomes it allows, in display order: the
    values `interaction_type` and `outcome` accept."""
    return [
        InteractionTypeOut(name=t.name, active=t.active, built_in=t.built_in, outcomes=t.outcomes)
        for t in interaction_config.types_for(db, actor=actor)
    ]
