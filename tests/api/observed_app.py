"""The app's outer ASGI stack around the REST API alone (no Reflex build): what the
observability and crash tests serve (uvicorn or granian, as production) over real HTTP."""

from __future__ import annotations

import asyncio

from starlette.responses import PlainTextResponse

from brm_app import bootstrap, log_safety
from brm_app.api.app import create_api
from brm_app.api.body_limit import BodyLimit
from brm_app.api.odd_paths import ApiFirst, ControlCharacterPaths
from brm_app.observability.middleware import Observability

log_safety.install()
log_safety.show_app_info_lines()
bootstrap.wire()


async def _pages(scope, receive, send):
    if scope.get("path") == "/slow":  # a request still in flight when the server is stopped
        await asyncio.sleep(1.5)
    await PlainTextResponse("a page")(scope, receive, send)


app = Observability(ControlCharacterPaths(ApiFirst(BodyLimit(create_api()), _pages)))
