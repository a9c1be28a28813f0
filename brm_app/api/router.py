"""The API's router: every route runs in one worker-thread hop with its unit of work (deps.one_hop)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from brm_app.api import deps


class ApiRouter(APIRouter):
    """An APIRouter whose sync routes run through `deps.one_hop`."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, deps.one_hop(endpoint), **kwargs)


_PLACEHOLDERS = {deps.db_session, deps.actor_during_setup, deps.current_actor}


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as wrappers holding
    the original router)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            found.extend(_api_routes(inner.routes))
    return found


def check_routes(api: FastAPI) -> None:
    """At start: a route taking `DB` or an actor must be one `ApiRouter` built (else it would be
    handed a placeholder instead of a session)."""
    routes = _api_routes(api.routes)
    if not routes:
        raise RuntimeError("no API routes found to check (has FastAPI changed how it keeps them?)")
    for route in routes:
        calls = {d.call for d in route.dependant.dependencies}
        if calls & _PLACEHOLDERS and not getattr(route.endpoint, "__brm_one_hop__", False):
            raise RuntimeError(
                f"{route.path} takes DB or an actor but was not built by ApiRouter "
                "(brm_app.api.router): it would be handed a placeholder"
            )
