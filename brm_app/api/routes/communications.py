"""Communications: the design's /api/v1/communications (send to a trader on a channel, read one),
a trader's communications on every channel, conversations and their messages, attachments,
read marks, deliveries a person resends or dismisses, and the compliance log (search, CSV, package).

Every rule lives in services.conversations / communications / attachments / communication_log;
these routes parse, call them and shape the answer. A conversation the caller may not see
answers 404. Nothing here changes or deletes a message or a log entry: there is no such route.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import unquote

from fastapi import Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PField
from starlette.concurrency import run_in_threadpool

from brm_app.api.deps import DB, CurrentActor
from brm_app.api.router import ApiRouter
from brm_app.api.routes.browser_session import check_origin
from brm_app.api.routes.exports import _cookie_actor, _read_body
from brm_app.api.routes.params import MAX_ID, BodyId, Day, Limit, NoNul, Offset, TraderId
from brm_app.api.schemas import ERRORS, PageOut
from brm_app.db import unit_of_work
from brm_app.models.communication import (
    ATTACHMENT_MAX_BYTES,
    TEXT_MAX,
    AttachmentPublic,
    Channel,
    CommunicationPublic,
    ConversationPublic,
    LogEntryPublic,
    TriagePublic,
)
from brm_app.services import (
    attachments,
    communication_log,
    communications,
    conversations,
    webhooks,
)
from brm_app.services.communication_log import LogQuery
from brm_app.services.pagination import PageRequest

api_router = ApiRouter(prefix="/api/v1", tags=["communications"], responses=ERRORS)

CommunicationId = Annotated[int, Path(ge=1, le=MAX_ID, description="A message id")]
ConversationId = Annotated[int, Path(ge=1, le=MAX_ID, description="A conversation id")]
AttachmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="An attachment id")]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="A delivery id")]
Content = Annotated[str, StringConstraints(max_length=TEXT_MAX + 1000), NoNul]
Subject = Annotated[str, StringConstraints(max_length=200), NoNul]
Search = Annotated[str | None, Query(max_length=200, description="Trader, firm or text"), NoNul]


class CommunicationWrite(BaseModel):
    """The design's message to a trader."""

    model_config = ConfigDict(extra="forbid")

    trader_id: BodyId
    message_type: Channel
    content: Content
    conversation_id: BodyId | None = None
    attachment_ids: list[BodyId] = PField(default_factory=list, max_length=10)


class ConversationWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trader_ids: list[BodyId] = PField(min_length=1, max_length=50)
    subject: Subject | None = None
    content: Content | None = PField(default=None, description="The first message (in-app)")


class MessageWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Content
    correction_of: BodyId | None = PField(
        default=None, description="The earlier message of yours this one corrects"
    )
    attachment_ids: list[BodyId] = PField(default_factory=list, max_length=10)


class ReadMark(BaseModel):
    model_config = ConfigDict(extra="forbid")

    up_to: BodyId | None = PField(default=None, description="Default: the latest message")


class UnreadOut(BaseModel):
    unread: int


# ---- the design's endpoints ---------------------------------------------------------------------


@api_router.post("/communications", response_model=CommunicationPublic, status_code=201)
def send_communication(
    body: CommunicationWrite, db: DB, actor: CurrentActor
) -> CommunicationPublic:
    """Send a trader a message: `in_app` (needs their portal access), `email` (needs
    receive_email) or `sms` (needs receive_sms and a mobile number not opted out). It lands in
    `conversation_id`, else your latest conversation with the trader, else a new one. Email and
    SMS are queued and sent in the background; their `deliveries` show the status."""
    return communications.send_to_trader(
        db,
        actor=actor,
        trader_id=body.trader_id,
        message_type=body.message_type.value,
        content=body.content,
        conversation_id=body.conversation_id,
        attachment_ids=body.attachment_ids,
    )


@api_router.get("/communications/unread", response_model=UnreadOut)
def unread(db: DB, actor: CurrentActor) -> UnreadOut:
    """Your unread messages over every conversation."""
    return UnreadOut(unread=conversations.unread_total(db, actor=actor))


@api_router.get("/communications/{communication_id}", response_model=CommunicationPublic)
def get_communication(
    communication_id: CommunicationId, db: DB, actor: CurrentActor
) -> CommunicationPublic:
    """One message, with its attachments, deliveries and read receipts."""
    return conversations.get_message(db, actor=actor, communication_id=communication_id)


@api_router.get("/traders/{trader_id}/communications", response_model=PageOut[CommunicationPublic])
def trader_communications(
    trader_id: TraderId, db: DB, actor: CurrentActor, limit: Limit = 50, offset: Offset = 0
) -> PageOut[CommunicationPublic]:
    """Every communication with this trader on every channel, newest first."""
    page = conversations.trader_communications(
        db, actor=actor, trader_id=trader_id, page=PageRequest(offset=offset, limit=limit)
    )
    return PageOut[CommunicationPublic].of(page)


# ---- conversations ------------------------------------------------------------------------------


@api_router.get("/conversations", response_model=PageOut[ConversationPublic])
def list_conversations(
    db: DB,
    actor: CurrentActor,
    q: Search = None,
    firm_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    trader_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[ConversationPublic]:
    """Your conversations, latest activity first, each with your unread count."""
    page = conversations.list_conversations(
        db,
        actor=actor,
        q=q,
        firm_id=firm_id,
        trader_id=trader_id,
        page=PageRequest(offset=offset, limit=limit),
    )
    return PageOut[ConversationPublic].of(page)


@api_router.post("/conversations", response_model=ConversationPublic, status_code=201)
def start_conversation(body: ConversationWrite, db: DB, actor: CurrentActor) -> ConversationPublic:
    """Start a conversation with traders (with portal access) of one firm you cover."""
    conv = conversations.start_conversation(
        db, actor=actor, trader_ids=list(body.trader_ids), subject=body.subject
    )
    if body.content is not None:
        conversations.send_message(db, actor=actor, conversation_id=conv.id, content=body.content)
    return conversations.get_conversation(db, actor=actor, conversation_id=conv.id)


@api_router.get("/conversations/{conversation_id}", response_model=ConversationPublic)
def get_conversation(
    conversation_id: ConversationId, db: DB, actor: CurrentActor
) -> ConversationPublic:
    return conversations.get_conversation(db, actor=actor, conversation_id=conversation_id)


@api_router.get(
    "/conversations/{conversation_id}/messages", response_model=list[CommunicationPublic]
)
def list_messages(
    conversation_id: ConversationId,
    db: DB,
    actor: CurrentActor,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CommunicationPublic]:
    """The latest messages (before `before_id` to page back), oldest first."""
    return conversations.list_messages(
        db, actor=actor, conversation_id=conversation_id, before_id=before_id, limit=limit
    )


@api_router.post(
    "/conversations/{conversation_id}/messages",
    response_model=CommunicationPublic,
    status_code=201,
)
def send_message(
    conversation_id: ConversationId, body: MessageWrite, db: DB, actor: CurrentActor
) -> CommunicationPublic:
    """An in-app message; a correction names the earlier message (never edited in place)."""
    return conversations.send_message(
        db,
        actor=actor,
        conversation_id=conversation_id,
        content=body.content,
        correction_of=body.correction_of,
        attachment_ids=list(body.attachment_ids),
    )


@api_router.post("/conversations/{conversation_id}/read", response_model=UnreadOut)
def mark_read(
    conversation_id: ConversationId, db: DB, actor: CurrentActor, body: ReadMark | None = None
) -> UnreadOut:
    """You have read the conversation (up to a message): read receipts, fewer unread."""
    left = conversations.mark_read(
        db, actor=actor, conversation_id=conversation_id, up_to=body.up_to if body else None
    )
    return UnreadOut(unread=left)


# ---- attachments --------------------------------------------------------------------------------


@api_router.post("/attachments", response_model=AttachmentPublic, status_code=201)
def upload_attachment(
    db: DB,
    actor: CurrentActor,
    conversation_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    file: Annotated[UploadFile, File(description="PDF, image, office file or CSV; 10 MB at most")],
) -> AttachmentPublic:
    """Upload a file for your next message in a conversation (name it in `attachment_ids`)."""
    data = file.file.read(ATTACHMENT_MAX_BYTES + 1)
    return attachments.upload(
        db,
        actor=actor,
        conversation_id=conversation_id,
        filename=file.filename or "",
        data=data,
    )


@api_router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in attachments.CONTENT_TYPES}}},
)
def download_attachment(attachment_id: AttachmentId, db: DB, actor: CurrentActor) -> Response:
    """The file, to those who may see its conversation."""
    meta, data = attachments.download(db, actor=actor, attachment_id=attachment_id)
    return _file_response(meta, data)


# ---- deliveries ---------------------------------------------------------------------------------


@api_router.post("/deliveries/{delivery_id}/resend", status_code=204)
def resend_delivery(delivery_id: DeliveryId, db: DB, actor: CurrentActor) -> Response:
    """Send again an email or SMS whose fate is unknown (interrupted) or that failed."""
    communications.resend(db, actor=actor, delivery_id=delivery_id)
    return Response(status_code=204)


@api_router.post("/deliveries/{delivery_id}/dismiss", status_code=204)
def dismiss_delivery(delivery_id: DeliveryId, db: DB, actor: CurrentActor) -> Response:
    """Decide an interrupted delivery is not to be resent."""
    communications.dismiss(db, actor=actor, delivery_id=delivery_id)
    return Response(status_code=204)


# ---- the compliance log ---------------------------------------------------------------------------


TriageId = Annotated[int, Path(ge=1, le=MAX_ID, description="A triage item id")]
TriageState = Annotated[
    Literal["open", "resolved"] | None, Query(description="Only open or only resolved items")
]


class TriageAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trader_id: BodyId
    conversation_id: BodyId | None = PField(
        default=None, description="Default: the trader's latest conversation at their firm"
    )


class TriageDismiss(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), NoNul]


@api_router.get("/communication-triage", response_model=PageOut[TriagePublic])
def list_triage(
    db: DB,
    actor: CurrentActor,
    state: TriageState = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[TriagePublic]:
    """Compliance and admins: inbound email and SMS that matched no trader or conversation."""
    page = webhooks.list_triage(
        db, actor=actor, page=PageRequest(offset=offset, limit=limit), state=state
    )
    return PageOut[TriagePublic].of(page)


@api_router.post("/communication-triage/{triage_id}/assign", response_model=TriagePublic)
def assign_triage(
    triage_id: TriageId, body: TriageAssign, db: DB, actor: CurrentActor
) -> TriagePublic:
    """Say who sent it: it becomes the trader's inbound message in the conversation (with the
    email's files). Audited; 409 once the item is resolved."""
    return webhooks.assign_triage(
        db,
        actor=actor,
        triage_id=triage_id,
        trader_id=body.trader_id,
        conversation_id=body.conversation_id,
    )


@api_router.post("/communication-triage/{triage_id}/dismiss", response_model=TriagePublic)
def dismiss_triage(
    triage_id: TriageId, body: TriageDismiss, db: DB, actor: CurrentActor
) -> TriagePublic:
    """Decide it needs no message, with a reason. Audited; 409 once the item is resolved."""
    return webhooks.dismiss_triage(db, actor=actor, triage_id=triage_id, reason=body.reason)


OptId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
LogText = Annotated[str | None, Query(max_length=200, description="Words in the content"), NoNul]


async def log_query(
    broker_id: OptId = None,
    trader_id: OptId = None,
    firm_id: OptId = None,
    conversation_id: OptId = None,
    channel: Channel | None = None,
    date_from: Annotated[Day | None, Query()] = None,
    date_to: Annotated[Day | None, Query()] = None,
    text: LogText = None,
) -> LogQuery:
    """The log search's query parameters (the search and both exports take the same)."""
    return LogQuery(
        broker_id=broker_id,
        trader_id=trader_id,
        firm_id=firm_id,
        conversation_id=conversation_id,
        channel=channel.value if channel else None,
        date_from=date_from,
        date_to=date_to,
        text=text,
    )


LogFilters = Annotated[LogQuery, Depends(log_query)]


@api_router.get("/communication-log", response_model=PageOut[LogEntryPublic])
def search_log(
    db: DB,
    actor: CurrentActor,
    q: LogFilters,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[LogEntryPublic]:
    """Compliance and admins: every communication on every channel, newest first."""
    page = communication_log.search(
        db, actor=actor, query=q, page=PageRequest(offset=offset, limit=limit)
    )
    return PageOut[LogEntryPublic].of(page)


@api_router.get(
    "/communication-log/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_log_csv(
    db: DB,
    actor: CurrentActor,
    q: LogFilters,
) -> Response:
    """The search's result as CSV."""
    body = communication_log.export_csv(db, actor=actor, query=q)
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="communication-log.csv"'},
    )


@api_router.get(
    "/communication-log/export.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_log_package(
    db: DB,
    actor: CurrentActor,
    q: LogFilters,
) -> Response:
    """The search's result as a package: entries.jsonl, the attachments, manifest.json (SHA-256)."""
    body = communication_log.export_package(db, actor=actor, query=q)
    return Response(
        content=body,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="communication-log.zip"'},
    )


# ---- the browser's routes (session cookie): the Communication Center's uploads and downloads ----

browser_router = ApiRouter(prefix="/api/session", include_in_schema=False)


class UploadOut(BaseModel):
    attachment_id: int
    filename: str
    size: int


def _in_unit(fn: Any, write: bool, **kwargs: Any) -> Any:
    with unit_of_work(write=write) as db:
        return fn(db, **kwargs)


@browser_router.post("/attachments", status_code=201, response_model=UploadOut)
async def browser_upload(
    request: Request, conversation_id: Annotated[int, Query(ge=1, le=MAX_ID)]
) -> Any:
    """The composer's upload: the raw file as the body, its name in X-Filename (URL-encoded)."""
    check_origin(request)
    actor = await run_in_threadpool(_cookie_actor, request)  # the session before any body
    data = await _read_body(request, ATTACHMENT_MAX_BYTES)
    filename = unquote(request.headers.get("x-filename", ""))[:500]
    saved = await run_in_threadpool(
        _in_unit,
        attachments.upload,
        True,
        actor=actor,
        conversation_id=conversation_id,
        filename=filename,
        data=data,
    )
    return UploadOut(attachment_id=saved.attachment_id, filename=saved.filename, size=saved.size)


@browser_router.get("/attachments/{attachment_id}")
def browser_download(attachment_id: AttachmentId, request: Request) -> Response:
    actor = _cookie_actor(request)
    meta, data = _in_unit(attachments.download, False, actor=actor, attachment_id=attachment_id)
    return _file_response(meta, data)


def _file_response(meta: AttachmentPublic, data: bytes) -> Response:
    return Response(
        content=data,
        media_type=meta.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{attachments.safe_name(meta.filename)}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@browser_router.get("/communication-log/export.{kind}")
def browser_export_log(
    kind: Literal["csv", "zip"],
    request: Request,
    q: LogFilters,
) -> Response:
    actor = _cookie_actor(request)
    if kind == "csv":
        body = _in_unit(communication_log.export_csv, True, actor=actor, query=q)
        return Response(
            content=body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="communication-log.csv"'},
        )
    package = _in_unit(communication_log.export_package, True, actor=actor, query=q)
    return Response(
        content=package,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="communication-log.zip"'},
    )


router = ApiRouter()
router.include_router(api_router)
router.include_router(browser_router)
