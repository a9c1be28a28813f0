"""GET /api/calendar/{token}.ics: a user's secret iCalendar feed (no other authentication:
the unguessable token is the credential; a revoked or unknown one answers 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi.responses import Response

from brm_app.api.deps import DB
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import NoNul
from brm_app.api.schemas import ERRORS, ErrorOut
from brm_app.services import calendar_feed
from brm_app.services.errors import NotFound
from brm_app.settings import get_settings

router = ApiRouter(tags=["calendar"])


@router.get(
    "/api/calendar/{token}.ics",
    response_class=Response,
    responses={
        404: {"model": ErrorOut, "description": "Unknown or revoked feed"},
        422: ERRORS[422],
    },
)
def ics_feed(token: Annotated[str, NoNul], db: DB) -> Response:
    """The follow-ups and meetings of the feed's owner, for calendar clients to subscribe to."""
    body = calendar_feed.render(db, token=token, base_url=get_settings().public_url)
    if body is None:
        raise NotFound("Calendar feed")
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Cache-Control": "private, max-age=300",
            "Content-Disposition": 'inline; filename="brokersync.ics"',
        },
    )
