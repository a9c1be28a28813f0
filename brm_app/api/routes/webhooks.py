"""Provider webhooks: SendGrid's Event Webhook and Inbound Parse, Twilio's status callback and
inbound SMS. No bearer token: each is verified by the provider's signature (services.webhooks);
unsigned, forged or replayed ones answer 403 and change nothing."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from brm_app.api.deps import DB, async_route, run_db
from brm_app.api.router import ApiRouter
from brm_app.api.routes.exports import _read_body
from brm_app.models.communication import ATTACHMENT_MAX_BYTES
from brm_app.services import webhooks

router = ApiRouter(prefix="/api/v1/webhooks", tags=["webhooks"], include_in_schema=False)

JSON_LIMIT = 5 * 1024 * 1024
PARSE_LIMIT = 30 * 1024 * 1024
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def _form_of(raw: bytes, content_type: str) -> dict[str, str]:
    """The text fields of a form body (files are not read: only their names' fields)."""
    fields, _ = await _form_and_files(raw, content_type, read_files=False)
    return fields


async def _form_and_files(
    raw: bytes, content_type: str, *, read_files: bool = True
) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    """The text fields of a form body and its files in order (name, first 10 MB + 1 byte: the
    service refuses what is larger)."""
    from starlette.requests import Request as StarletteRequest

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "headers": [(b"content-type", content_type.encode())],
    }
    form = await StarletteRequest(scope, receive).form(max_files=50, max_fields=200)
    fields = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
    files: list[tuple[str, bytes]] = []
    if read_files:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(ATTACHMENT_MAX_BYTES + 1)
                files.append((value.filename or key, data))
    await form.close()
    return fields, files


@router.post("/sendgrid/events")
@async_route
async def sendgrid_events(request: Request, db: DB) -> dict[str, int]:
    raw = await _read_body(request, JSON_LIMIT)
    changed = await run_db(db, webhooks.sendgrid_events, raw, request.headers)
    return {"changed": changed}


@router.post("/sendgrid/inbound")
@async_route
async def sendgrid_inbound(request: Request, db: DB) -> dict[str, str]:
    raw = await _read_body(request, PARSE_LIMIT)
    webhooks.verify_sendgrid(raw, request.headers)  # before the body is parsed
    form, files = await _form_and_files(raw, request.headers.get("content-type", ""))
    result = await run_db(db, webhooks.sendgrid_inbound, raw, request.headers, form, files)
    return {"result": result}


@router.post("/twilio/status")
@async_route
async def twilio_status(request: Request, db: DB) -> Response:
    raw = await _read_body(request, JSON_LIMIT)
    form = await _form_of(raw, request.headers.get("content-type", ""))
    await run_db(db, webhooks.twilio_status, form, request.headers.get("x-twilio-signature"))
    return Response(status_code=204)


@router.post("/twilio/inbound")
@async_route
async def twilio_inbound(request: Request, db: DB) -> Response:
    raw = await _read_body(request, JSON_LIMIT)
    form = await _form_of(raw, request.headers.get("content-type", ""))
    await run_db(db, webhooks.twilio_inbound, form, request.headers.get("x-twilio-signature"))
    return Response(content=TWIML_EMPTY, media_type="application/xml")
