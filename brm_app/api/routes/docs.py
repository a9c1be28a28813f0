"""Swagger UI at /api/docs, served from the local swagger-ui-dist (no CDN)."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from brm_app.api.router import ApiRouter
from brm_app.api.routes.params import NoNul
from brm_app.api.security_headers import content_security_policy, inline_script_hashes_of
from brm_app.settings import PROJECT_ROOT

router = ApiRouter(include_in_schema=False)

SWAGGER_DIR = PROJECT_ROOT / ".tools" / "node_modules" / "swagger-ui-dist"
_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}


@router.get("/api/docs")
def docs() -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url="/api/openapi.json",
        title="BrokerSync BRM API",
        swagger_js_url="/api/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/api/docs/assets/swagger-ui.css",
        swagger_favicon_url="/api/docs/assets/favicon-32x32.png",
    )
    # The page's one inline script (starting Swagger UI) is allowed by its hash, nothing else.
    hashes = inline_script_hashes_of(bytes(page.body))
    page.headers["content-security-policy"] = content_security_policy(hashes)
    return page


@router.get("/api/docs/assets/{name}")
def docs_asset(name: Annotated[str, NoNul]) -> FileResponse:
    path = SWAGGER_DIR / name
    if name not in _FILES or not path.is_file():
        raise HTTPException(404, "Swagger UI files are not installed (run `make run` once).")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
