"""Every error the API returns is JSON with a clear message; bad input names the field."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from brm_app.services.errors import Conflict, DomainError, TooManyAttempts, ValidationFailed
from brm_app.services.validation import error_message, pydantic_errors

log = logging.getLogger("brm.api")


def error_body(message: str, errors: dict[str, str] | None = None) -> dict:
    body: dict = {"detail": message}
    if errors:
        body["errors"] = [{"field": f, "message": m} for f, m in errors.items()]
    return body


# RFC 6749 section 5.1/5.2: token endpoint answers are never cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error of the token endpoint: 400 with `error` and
    `error_description`, and the app's own `detail` (and `errors`) alongside."""

    def __init__(self, error: str, description: str, errors: dict[str, str] | None = None):
        super().__init__(description)
        self.error = error
        self.description = description
        self.errors = errors


def _oauth_error(_: Request, exc: OAuthError) -> JSONResponse:
    body = {"error": exc.error, "error_description": exc.description}
    body.update(error_body(exc.description, exc.errors))
    return JSONResponse(body, status_code=400, headers=NO_STORE)


def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
    errors = None
    if isinstance(exc, ValidationFailed):
        errors = {k: v for k, v in exc.errors.items() if k != "__all__"} or None
    elif isinstance(exc, Conflict) and exc.field:
        errors = {exc.field: exc.message}
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return JSONResponse(error_body(exc.message, errors), status_code=exc.status, headers=headers)


def validation_errors(exc: RequestValidationError) -> dict[str, str]:
    """field -> message, the first message of each field."""
    errors = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        # ("body", "email") -> "email"; ("query", "limit") -> "limit"; ("path", "firm_id") -> "firm_id"
        field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "__all__")
        msg = error_message(err)
        if err.get("type") == "json_invalid":
            field, msg = "body", "is not valid JSON"
        errors.setdefault(field or "body", msg)
    return errors or {"body": "is invalid"}


def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = validation_errors(exc)
    first_field, first_msg = next(iter(errors.items()))
    return JSONResponse(
        error_body(f"Invalid input: {first_field}: {first_msg}", errors), status_code=422
    )


def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404 and message == "Not Found":
        message = "No such endpoint."
    if exc.status_code == 405:
        message = "Method not allowed on this endpoint."
    if exc.status_code == 400 and "parsing the body" in message:
        # A body that is not valid UTF-8 (or not decodable at all) is bad input like any other.
        return JSONResponse(
            error_body("Invalid input: body: could not be read", {"body": "could not be read"}),
            status_code=422,
        )
    return JSONResponse(error_body(message), status_code=exc.status_code, headers=exc.headers)


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled API error", exc_info=exc)
    return JSONResponse(error_body("Internal error; it has been logged."), status_code=500)


def install(api: FastAPI) -> None:
    api.add_exception_handler(OAuthError, _oauth_error)
    api.add_exception_handler(DomainError, _domain_error)
    api.add_exception_handler(RequestValidationError, _request_validation)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(Exception, _unexpected)
    # pydantic_errors is shared with the UI path so both word field errors alike.
    _ = pydantic_errors
