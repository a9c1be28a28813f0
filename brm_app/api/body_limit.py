"""Request size limits in front of everything the server answers (API, Reflex's routes, /_event).

A body is refused with 413 before any route runs, so nothing is read or parsed for a client who
has not even authenticated: at once when Content-Length says it is too large, and as soon as the
limit is passed while a body without a length streams in. Websocket messages over the limit close
the connection (1009, "message too big") before the app sees them.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MiB = 1024 * 1024
DEFAULT_LIMIT = 1 * MiB
# Only the CSV upload needs more (services.bulk.csv_format.MAX_BYTES; the route checks it again).
PATH_LIMITS = {
    "/api/session/imports": 20 * MiB,
    # A 10 MB attachment and its multipart envelope.
    "/api/v1/attachments": 11 * MiB,
    "/api/session/attachments": 11 * MiB,
    # SendGrid's Inbound Parse posts the whole email with its attachments.
    "/api/v1/webhooks/sendgrid/inbound": 30 * MiB,
}
WEBSOCKET_MESSAGE_LIMIT = 1 * MiB
WS_MESSAGE_TOO_BIG = 1009  # RFC 6455 section 7.4.1


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _megabytes(limit: int) -> str:
    return f"{limit / MiB:g} MiB"


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"The request body is larger than {_megabytes(limit)}."}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _message_size(message: Message, limit: int) -> int:
    if message.get("bytes") is not None:
        return len(message["bytes"])
    text = message.get("text") or ""
    # A character is 1 to 4 bytes in UTF-8: encode only when the count could matter.
    return len(text) if len(text) * 4 <= limit or len(text) > limit else len(text.encode())


class BodyLimit:
    """ASGI middleware: see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int = DEFAULT_LIMIT,
        paths: dict[str, int] | None = None,
        websocket_message: int = WEBSOCKET_MESSAGE_LIMIT,
    ):
        self.app = app
        self.default = default
        self.paths = PATH_LIMITS if paths is None else paths
        self.websocket_message = websocket_message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.paths.get(scope.get("path", ""), self.default)
        length = _content_length(scope)
        if length is not None and length > limit:
            await _refuse(send, limit)
            return

        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The app sees a client that went away; the client gets the 413.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                if not started:
                    started = True
                    await _refuse(send, limit)
                return  # whatever the app answers to a cut-off body is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await _refuse(send, limit)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.websocket_message
        closed = False

        async def limited_receive() -> Message:
            nonlocal closed
            if closed:
                return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
            message = await receive()
            if message["type"] == "websocket.receive" and _message_size(message, limit) > limit:
                closed = True
                await send(
                    {"type": "websocket.close", "code": WS_MESSAGE_TOO_BIG, "reason": "too big"}
                )
                return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
            return message

        async def guarded_send(message: Message) -> None:
            if not closed:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)
