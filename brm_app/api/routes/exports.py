"""Bulk data over HTTP: CSV exports (API and browser) and the browser's CSV upload for imports.

- GET /api/v1/exports/firms.csv, /api/v1/exports/traders.csv: for scripts (bearer token);
- GET /api/session/exports/firms.csv, /api/session/exports/traders.csv: the same for the signed-in
  browser (session cookie), linked from the firm and trader lists with their current filters;
- POST /api/session/imports: the import page uploads a CSV here (session cookie, 20 MB at most);
  it is kept for its owner under the data dir and imported by the page's state.

Every rule lives in services.bulk; these routes parse the filters, resolve the actor and stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from brm_app.api.deps import CurrentActor, client_ip
from brm_app.api.router import ApiRouter
from brm_app.api.routes.browser_session import check_origin
from brm_app.api.routes.firms import FirmSort
from brm_app.api.routes.params import MAX_ID, NoNul
from brm_app.api.routes.traders import TraderSort
from brm_app.api.schemas import ERRORS
from brm_app.auth.actor import Actor
from brm_app.auth.rbac import Permission, require
from brm_app.db import unit_of_work
from brm_app.models.firm import AccountStatus, Tier
from brm_app.models.trader import TraderStatus
from brm_app.services import authentication, bulk
from brm_app.services.bulk import staging
from brm_app.services.bulk.csv_format import MAX_BYTES
from brm_app.services.errors import DomainError
from brm_app.services.firms import FirmQuery
from brm_app.services.traders import TraderQuery

api_router = ApiRouter(prefix="/api/v1/exports", tags=["exports"], responses=ERRORS)
browser_router = ApiRouter(prefix="/api/session", include_in_schema=False)

Direction = Literal["asc", "desc"]
Q = Annotated[
    str | None,
    Query(max_length=200, description="Words matching the start of words in names"),
    NoNul,
]
Covered = Annotated[bool, Query(description="Only records of firms I cover")]

_CSV_DOC = {
    200: {
        "content": {"text/csv": {}},
        "description": "CSV (UTF-8): the import columns, every matching row.",
    }
}


class PayloadTooLarge(DomainError):
    status = 413


class UploadOut(BaseModel):
    upload_id: str
    filename: str
    size: int


# ---- shared --------------------------------------------------------------------------------


# A selection on the firm list (bulk export): comma-separated firm ids.
Ids = Annotated[
    str | None,
    Query(
        max_length=5000,
        pattern=r"^[0-9]{1,12}(,[0-9]{1,12}){0,499}$",
        description="Only these firms (comma-separated ids, at most 500)",
    ),
]


def _ids(ids: str | None) -> tuple[int, ...] | None:
    return tuple(int(i) for i in ids.split(",")) if ids else None


def _firm_query(q, status, tier, covered, broker_id, sort, direction, ids=None) -> FirmQuery:
    return FirmQuery(
        ids=_ids(ids),
        q=q or None,
        status=status,
        tier=tier,
        covered_by_me=covered,
        broker_id=broker_id,
        sort=str(sort),
        direction=direction,
    )


def _trader_query(q, firm_id, status, role, covered, sort, direction) -> TraderQuery:
    return TraderQuery(
        q=q or None,
        firm_id=firm_id,
        status=status,
        role=role or None,
        covered_by_me=covered,
        sort=str(sort),
        direction=direction,
    )


def _cookie_actor(request: Request) -> Actor:
    with unit_of_work() as db:  # a read: the session's touch writes on its own
        return authentication.browser_actor(
            db, cookie_header=request.headers.get("cookie"), ip=client_ip(request)
        )


def _csv_response(
    actor: Actor,
    query: FirmQuery | TraderQuery,
    export: Callable[..., Iterator[str]],
    *,
    bom: bool,
) -> StreamingResponse:
    # Checked (and audited) now, so a refusal is a JSON error rather than a cut-off download.
    with unit_of_work(write=True) as db:
        bulk.check_export(db, actor=actor, query=query)

    def body() -> Iterator[bytes]:
        # A read transaction of its own, for as long as the download lasts.
        with unit_of_work() as db:
            for chunk in export(db, actor=actor, query=query, bom=bom):
                yield chunk.encode("utf-8")

    kind = "firms" if isinstance(query, FirmQuery) else "traders"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{kind}-{stamp}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# ---- API (bearer token) --------------------------------------------------------------------


@api_router.get("/firms.csv", response_class=StreamingResponse, responses=_CSV_DOC)
def export_firms(
    actor: CurrentActor,
    q: Q = None,
    status: AccountStatus | None = None,
    tier: Tier | None = None,
    covered: Covered = False,
    broker_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only firms this broker covers")
    ] = None,
    sort: FirmSort = FirmSort("name"),
    direction: Direction = "asc",
    ids: Ids = None,
) -> StreamingResponse:
    """Every firm you may see matching the filters of GET /api/v1/firms, as CSV (import format);
    `ids` limits it to a selection (the bulk export)."""
    query = _firm_query(q, status, tier, covered, broker_id, sort, direction, ids)
    return _csv_response(actor, query, bulk.export_firms_csv, bom=False)


@api_router.get("/traders.csv", response_class=StreamingResponse, responses=_CSV_DOC)
def export_traders(
    actor: CurrentActor,
    q: Q = None,
    firm_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this firm's traders")
    ] = None,
    status: TraderStatus | None = None,
    role: Annotated[str | None, Query(max_length=60), NoNul] = None,
    covered: Covered = False,
    sort: TraderSort = TraderSort("name"),
    direction: Direction = "asc",
) -> StreamingResponse:
    """Every trader you may see matching the filters, as CSV (import format)."""
    query = _trader_query(q, firm_id, status, role, covered, sort, direction)
    return _csv_response(actor, query, bulk.export_traders_csv, bom=False)


# ---- browser (session cookie) --------------------------------------------------------------


@browser_router.get("/exports/firms.csv")
def browser_export_firms(
    request: Request,
    q: Q = None,
    status: AccountStatus | None = None,
    tier: Tier | None = None,
    covered: Covered = False,
    broker_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    sort: FirmSort = FirmSort("name"),
    direction: Direction = "asc",
    ids: Ids = None,
) -> StreamingResponse:
    actor = _cookie_actor(request)
    query = _firm_query(q, status, tier, covered, broker_id, sort, direction, ids)
    # A BOM, so spreadsheet programs open the download as UTF-8.
    return _csv_response(actor, query, bulk.export_firms_csv, bom=True)


@browser_router.get("/exports/traders.csv")
def browser_export_traders(
    request: Request,
    q: Q = None,
    firm_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: TraderStatus | None = None,
    role: Annotated[str | None, Query(max_length=60), NoNul] = None,
    covered: Covered = False,
    sort: TraderSort = TraderSort("name"),
    direction: Direction = "asc",
) -> StreamingResponse:
    actor = _cookie_actor(request)
    query = _trader_query(q, firm_id, status, role, covered, sort, direction)
    return _csv_response(actor, query, bulk.export_traders_csv, bom=True)


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = PayloadTooLarge(f"The file is larger than {limit // (1024 * 1024)} MB: split it.")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


@browser_router.post("/imports", status_code=201, response_model=UploadOut)
async def upload_for_import(request: Request) -> Any:
    """The import page's upload: the raw file as the body, its name in X-Filename (URL-encoded)."""
    check_origin(request)
    # The session first: nobody without one gets to send a body.
    actor = await run_in_threadpool(_cookie_actor, request)
    require(actor, Permission.DATA_IMPORT)
    data = await _read_body(request, MAX_BYTES)
    filename = unquote(request.headers.get("x-filename", ""))[:500]
    upload_id = await run_in_threadpool(
        staging.save_upload, None, actor=actor, data=data, filename=filename
    )
    return UploadOut(upload_id=upload_id, filename=staging.clean_name(filename), size=len(data))


router = ApiRouter()
router.include_router(api_router)
router.include_router(browser_router)
