"""Paths with control characters get the API's JSON 404 in front of everything.

Reflex mounts its routes under a catch-all whose pattern (`.*`) cannot match a line break, so
`/api/v1/trader-roles/a%0Ab` fell through every route to Starlette's plain-text 404, the one answer
of the API that was not JSON. No page or endpoint has such a path.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = json.dumps({"detail": "No such endpoint."}).encode()


def _has_control_characters(path: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in path)


class ControlCharacterPaths:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_control_characters(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_BODY)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _BODY})


class ApiFirst:
    """ASGI: requests under /api/ go straight to the API (with its size limits), past Reflex's
    top-level stack (its CORS, context and error middleware and its router, which would only
    mount the same API again): a third of a small API call's time went there."""

    def __init__(self, api: ASGIApp, rest: ASGIApp) -> None:
        self.api = api
        self.rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/api/"):
            await self.api(scope, receive, send)
        else:
            await self.rest(scope, receive, send)
