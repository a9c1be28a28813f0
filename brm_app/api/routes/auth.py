"""POST /api/v1/auth/token: the OAuth2 password flow (username = email) -> a short-lived JWT."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from brm_app.api.deps import DB, client_ip
from brm_app.api.routes.params import NoNul
from brm_app.api.schemas import ErrorOut
from brm_app.services import authentication
from brm_app.settings import get_settings

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post(
    "/token",
    response_model=TokenOut,
    responses={422: {"model": ErrorOut}, 429: {"model": ErrorOut}},
)
def token(
    request: Request,
    db: DB,
    username: Annotated[str, Form(max_length=254, description="Your email"), NoNul],
    password: Annotated[str, Form(max_length=1024)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenOut:
    """Exchange email and password for a bearer token (valid `expires_in` seconds)."""
    issued = authentication.issue_api_token(
        db, email=username, password=password, ip=client_ip(request), settings=get_settings()
    )
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in)
