"""Reflex configuration, from the same typed settings as the rest of the app."""

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from brm_app.same_origin import SameOriginBackend
from brm_app.settings import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="brm_app",
    # The app manages its own database (brm_app/db.py, Alembic); Reflex's db helpers stay unused.
    db_url=None,
    redis_url=_settings.redis_url,
    state_manager_mode="redis" if _settings.redis_url else "memory",
    cors_allowed_origins=list(_settings.allowed_origins),
    frontend_port=_settings.port,
    backend_port=_settings.port,
    trusted_proxy_hops=_settings.trusted_proxy_hops,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="indigo", gray_color="slate", radius="medium")
        ),
        # Pages talk to the server (or proxy) that served them, whatever port the build was for.
        SameOriginBackend(),
    ],
    disable_plugins=[SitemapPlugin],
)
