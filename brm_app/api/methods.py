"""Methods a path does not serve: `OPTIONS` answers 204 and any other undeclared method 405, both
with an `Allow` header that lists every method the path serves (RFC 9110 sections 9.3.7, 15.5.6).

Starlette alone named only the first route it found for the path (GET /firms and POST /firms are
two routes, so `OPTIONS /firms` said `Allow: GET`), and in the served app a request no API route
takes fell through to Reflex's catch-all mount, which answered `405 Allow: GET, HEAD` in plain
text. So the API ends with one last route, `/api/{rest}` for any method: a request reaches it only
when no earlier route took it, and it answers 204/405 with the real `Allow`, or a JSON 404 for a
path no route serves. Requests that a route serves never get here, so they pay nothing for it.
A CORS preflight is answered by the CORS middleware before any route.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.types import Receive, Scope, Send

from brm_app.api.errors import error_body

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> set[str]:
    """The methods some route (not this one, not a mount) serves at this request's path."""
    allowed = set()
    routes = [
        r
        for r in request.app.router.routes
        if not isinstance(r, Mount) and not isinstance(getattr(r, "endpoint", None), Unserved)
    ]
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.add(method)
    return allowed


class Unserved:
    """The last route's ASGI app (an app, not a function, so that it takes every method)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        allowed = allowed_methods(request)
        response: Response
        if not allowed:
            response = JSONResponse(error_body("No such endpoint."), status_code=404)
        elif request.method == "OPTIONS":
            response = Response(status_code=204, headers={"Allow": _allow(allowed)})
        else:
            response = JSONResponse(
                error_body("Method not allowed on this endpoint."),
                status_code=405,
                headers={"Allow": _allow(allowed)},
            )
        await response(scope, receive, send)


def _allow(methods: set[str]) -> str:
    return ", ".join(sorted(methods | {"OPTIONS"}))


def install(api: FastAPI) -> None:
    """Add the catch-all route; call it after every other API route is included."""
    api.router.routes.append(Route("/api/{rest:path}", Unserved(), include_in_schema=False))
