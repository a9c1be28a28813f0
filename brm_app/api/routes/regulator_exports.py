"""Regulator exports: request an archive of everything about a firm, trader or broker over a
period (built in the background), follow its progress, download it (compliance and admins; each
download is recorded). The browser downloads through /api/session with its cookie."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.exports import _cookie_actor
from brm_app.api.routes.params import MAX_ID
from brm_app.api.schemas import ERRORS
from brm_app.db import unit_of_work
from brm_app.models.fields import BodyDay
from brm_app.services import regulator_export
from brm_app.services.regulator_export import ExportPublic

api_router = ApiRouter(prefix="/api/v1/regulator-exports", tags=["compliance"], responses=ERRORS)
browser_router = ApiRouter(prefix="/api/session", include_in_schema=False)

ExportId = Annotated[int, Path(ge=1, le=MAX_ID, description="A regulator export id")]


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: Literal["firm", "trader", "broker"]
    scope_id: int = Field(ge=1, le=MAX_ID, description="The firm, trader or broker (user) id")
    date_from: BodyDay
    date_to: BodyDay


def _zip(name: str, data: bytes) -> Response:
    return Response(
        content=data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


@api_router.post("", status_code=202, response_model=ExportPublic)
def request_export(body: ExportRequest, db: DB, actor: CurrentActor) -> ExportPublic:
    """Queue an export; it is built in the background (poll it for `status` and `progress`)."""
    return regulator_export.request_export(
        db,
        actor=actor,
        scope=body.scope,
        scope_id=body.scope_id,
        date_from=body.date_from,
        date_to=body.date_to,
    )


@api_router.get("", response_model=list[ExportPublic])
def list_exports(db: DB, actor: CurrentActor) -> list[ExportPublic]:
    """The latest 50 exports, newest first."""
    return regulator_export.list_exports(db, actor=actor)


@api_router.get("/{export_id}", response_model=ExportPublic)
def get_export(export_id: ExportId, db: DB, actor: CurrentActor) -> ExportPublic:
    return regulator_export.get_export(db, actor=actor, export_id=export_id)


@api_router.get(
    "/{export_id}/download",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def download(export_id: ExportId, db: DB, actor: CurrentActor) -> Response:
    """The archive (zip with manifest.json of SHA-256 digests); the download is recorded."""
    name, data = regulator_export.download(db, actor=actor, export_id=export_id)
    return _zip(name, data)


@browser_router.get("/regulator-exports/{export_id}/download")
def browser_download(export_id: ExportId, request: Request) -> Response:
    actor = _cookie_actor(request)
    with unit_of_work(write=True) as db:
        name, data = regulator_export.download(db, actor=actor, export_id=export_id)
    return _zip(name, data)


router = ApiRouter()
router.include_router(api_router)
router.include_router(browser_router)
