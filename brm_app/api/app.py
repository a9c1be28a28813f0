"""The FastAPI app that Reflex mounts in front of its own routes (same port, same process)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.formparsers import MultiPartParser

from brm_app import __version__
from brm_app.api import errors, methods
from brm_app.api.body_limit import PATH_LIMITS
from brm_app.api.router import check_routes
from brm_app.api.routes import (
    app_settings,
    auth,
    browser_session,
    calendar,
    calendar_feed,
    communications,
    docs,
    exports,
    firms,
    follow_ups,
    health,
    interactions,
    jobs,
    legal_holds,
    notifications,
    oms,
    palette,
    performance,
    portfolios,
    preferences,
    regulator_exports,
    relationship,
    reviews,
    saved_views,
    trader_roles,
    traders,
    users,
    webhooks,
)


def keep_uploads_in_memory() -> None:
    """Multipart files (attachments, inbound email) are parsed in memory, never spooled to a
    temporary file in clear: the body limits (api/body_limit.py) bound their size instead."""
    MultiPartParser.spool_max_size = max(PATH_LIMITS.values())


def create_api() -> FastAPI:
    keep_uploads_in_memory()
    api = FastAPI(
        title="BrokerSync BRM API",
        version=__version__,
        description=(
            "Broker relationship management. Get a token from `POST /api/v1/auth/token` "
            "(form fields `username` = your email, `password`), then send "
            "`Authorization: Bearer <token>`. Records you may not see answer 404."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    errors.install(api)
    for module in (
        health,
        auth,
        users,
        firms,
        traders,
        trader_roles,
        exports,
        interactions,
        follow_ups,
        notifications,
        portfolios,
        performance,
        oms,
        preferences,
        communications,
        reviews,
        regulator_exports,
        legal_holds,
        calendar,
        relationship,
        app_settings,
        jobs,
        calendar_feed,
        browser_session,
        webhooks,
        palette,
        saved_views,
        docs,
    ):
        api.include_router(module.router)
    methods.install(api)
    check_routes(api)
    return api
