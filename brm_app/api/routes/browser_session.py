"""The browser's session cookie: set from a one-time sign-in ticket, cleared at sign-out.

These exist because Reflex cannot set an HttpOnly cookie from an event handler: the sign-in
handler checks the password and returns a ticket; the page posts it here and gets the cookie.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from brm_app.api.deps import DB, client_ip
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import NoNul
from brm_app.auth import sessions
from brm_app.services import authentication
from brm_app.services.errors import PermissionDenied, ValidationFailed
from brm_app.settings import get_settings

router = ApiRouter(prefix="/api/session", include_in_schema=False)


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket: Annotated[str, Field(min_length=20, max_length=100), NoNul]


def check_origin(request: Request) -> None:
    """Refuse cross-site posts (the cookie is SameSite=Strict as well)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    allowed = set(get_settings().allowed_origins) | {f"http://{host}", f"https://{host}"}
    if origin.rstrip("/") not in allowed:
        raise PermissionDenied("Cross-site request refused.")


def _secure(request: Request) -> bool:
    if get_settings().cookie_secure:
        return True
    proto = request.headers.get("x-forwarded-proto") if get_settings().trusted_proxy_hops else None
    return (proto or request.url.scheme) == "https"


@router.post("", status_code=204)
def establish(body: TicketIn, request: Request, db: DB) -> Response:
    check_origin(request)
    previous = request.cookies.get(sessions.COOKIE_NAME)
    token = authentication.establish_session(db, ticket=body.ticket, previous_token=previous)
    if token is None:
        raise ValidationFailed("The sign-in expired; please sign in again.")
    response = Response(status_code=204)
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=get_settings().session_absolute_hours * 3600,
        httponly=True,
        secure=_secure(request),
        samesite="strict",
        path="/",
    )
    return response


@router.delete("", status_code=204)
def sign_out(request: Request, db: DB) -> Response:
    check_origin(request)
    authentication.sign_out(
        db,
        token=request.cookies.get(sessions.COOKIE_NAME),
        ip=client_ip(request),
        settings=get_settings(),
    )
    response = Response(status_code=204)
    response.delete_cookie(sessions.COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response
