"""POST /api/v1/auth/token: the OAuth2 password flow (username = email) -> a short-lived JWT.

Answers as RFC 6749 section 5 says, so OAuth2 client libraries understand them: 200 with the
token (not cached); 400 `invalid_request` for a malformed request, `unsupported_grant_type` for a
grant other than `password`, `invalid_grant` for bad credentials and for a locked account (worded
like bad credentials), and for a missing or wrong `otp` of a user with two-factor sign-in on; 429 with Retry-After while sign-in is slowed or the client address is locked.
The app's own `detail` comes alongside. The browser's sign-in keeps its own messages.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from brm_app.api.deps import DB, client_ip
from brm_app.api.errors import NO_STORE, OAuthError, validation_errors
from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import NoNul
from brm_app.api.schemas import ErrorItem, ErrorOut
from brm_app.services import authentication
from brm_app.services.errors import (
    AccountLocked,
    BadCredentials,
    SecondFactorNeeded,
    ValidationFailed,
)
from brm_app.settings import get_settings

_PARAMETERS = ("grant_type", "username", "password", "otp")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class OAuthErrorOut(BaseModel):
    error: Literal["invalid_request", "invalid_grant", "unsupported_grant_type"]
    error_description: str
    detail: str = Field(description="The same text: the shape of every other error of the API")
    errors: list[ErrorItem] | None = None


class _TokenRoute(APIRoute):
    """Malformed requests get RFC 6749's 400 errors instead of the API's usual 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def token_route(request: Request) -> Response:
            await _check_parameters(request)
            try:
                return await handle(request)
            except RequestValidationError as exc:
                errors = validation_errors(exc)
                field, message = next(iter(errors.items()))
                raise OAuthError("invalid_request", f"{field}: {message}", errors) from None

        return token_route


async def _check_parameters(request: Request) -> None:
    """Checks the endpoint's form parameters can't express: each at most once (RFC 6749 section
    3.2), and the grant type first, so another grant's request is told it is not supported."""
    try:
        form = await request.form()
    except StarletteHTTPException:
        raise OAuthError("invalid_request", "body: could not be read") from None
    for name in _PARAMETERS:
        if len(form.getlist(name)) > 1:
            raise OAuthError(
                "invalid_request",
                f"{name}: is sent more than once",
                {name: "is sent more than once"},
            )
    grant = form.get("grant_type")
    if grant is not None and grant != "password":
        raise OAuthError(
            "unsupported_grant_type",
            "grant_type: only the password grant is supported",
            {"grant_type": "only the password grant is supported"},
        )


router = ApiRouter(prefix="/api/v1/auth", tags=["auth"], route_class=_TokenRoute)


@router.post(
    "/token",
    response_model=TokenOut,
    responses={
        200: {
            "description": "The access token",
            "headers": {
                "Cache-Control": {"description": "no-store", "schema": {"type": "string"}},
                "Pragma": {"description": "no-cache", "schema": {"type": "string"}},
            },
        },
        400: {
            "model": OAuthErrorOut,
            "description": (
                "RFC 6749 section 5.2: `invalid_request` (a parameter missing, malformed or "
                "sent twice), `unsupported_grant_type` (a grant_type other than `password`), "
                "`invalid_grant` (wrong email or password, inactive or locked account: one "
                "message for all; or, with two-factor sign-in on, `otp` missing or wrong: a "
                "one-time code is needed)"
            ),
        },
        429: {
            "model": ErrorOut,
            "description": "Too many failed attempts: wait the given seconds",
            "headers": {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            },
        },
        "default": {"model": ErrorOut, "description": "Any other error (5xx)"},
    },
)
def token(
    request: Request,
    response: Response,
    db: DB,
    username: Annotated[str, Form(max_length=254, description="Your email"), NoNul],
    password: Annotated[str, Form(max_length=1024)],
    grant_type: Annotated[
        str | None, Form(description="`password` (may be left out)", examples=["password"])
    ] = None,
    otp: Annotated[
        str | None,
        Form(
            max_length=64,
            description="With two-factor sign-in on: the current code of your authenticator "
            "app, or a recovery code. Automation uses service-account API keys instead.",
        ),
        NoNul,
    ] = None,
) -> TokenOut:
    """Exchange email and password (and a one-time code, with two-factor sign-in on) for a
    bearer token (valid `expires_in` seconds)."""
    try:
        issued = authentication.issue_api_token(
            db,
            email=username,
            password=password,
            otp=otp,
            ip=client_ip(request),
            settings=get_settings(),
        )
    except SecondFactorNeeded:
        raise OAuthError("invalid_grant", authentication.OTP_NEEDED) from None
    except (BadCredentials, AccountLocked):
        # A locked account reads like a wrong password here: the API does not tell who is locked.
        raise OAuthError("invalid_grant", authentication.BAD_CREDENTIALS) from None
    except ValidationFailed as exc:
        raise OAuthError("invalid_request", exc.message) from None
    response.headers.update(NO_STORE)
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in)
