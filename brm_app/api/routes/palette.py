"""The command palette over the API: what the caller may see that matches `q`, ranked, with
quick actions (the same service the top bar's search uses)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import NoNul
from brm_app.api.schemas import ERRORS
from brm_app.services import palette
from brm_app.services.palette import PaletteResult

router = ApiRouter(prefix="/api/v1", tags=["palette"], responses=ERRORS)


@router.get("/palette", response_model=PaletteResult)
def search_palette(
    db: DB,
    actor: CurrentActor,
    q: Annotated[str, Query(max_length=palette.MAX_QUERY), NoNul] = "",
) -> PaletteResult:
    """Firms (name words, exact LEI), traders (name words, exact email), recent interactions
    (subject), follow-ups (title), conversations (subject), instruments (admins), and quick
    actions ("New firm", "Go to calendar", "Log interaction with <firm>"), the best first, at
    most 12. Only what the caller may see; each item has the page to open (`href`)."""
    return palette.search_palette(db, actor=actor, q=q)
