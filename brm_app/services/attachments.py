"""Message attachments: PDF, images, office files and CSV up to 10 MB, their type read from their
content (a file whose name says one thing and whose bytes say another is refused), stored under
the data folder by SHA-256 (outside the web root: only the download route, which checks who may
see the conversation, serves them).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import zipfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission
from brm_app.db import utcnow
from brm_app.encryption import files as sealed_files
from brm_app.models.communication import (
    ATTACHMENT_MAX_BYTES,
    FILENAME_MAX,
    AttachmentPublic,
    MessageAttachment,
)
from brm_app.models.fields import check_name
from brm_app.services import audit
from brm_app.services.errors import NotFound, ValidationFailed
from brm_app.services.validation import require_id, require_text, rid
from brm_app.settings import get_settings

AnyActor = Actor | SystemActor

# extension -> (the content kind it must have, the content type we serve it as)
_TYPES: dict[str, tuple[str, str]] = {
    "pdf": ("pdf", "application/pdf"),
    "png": ("png", "image/png"),
    "jpg": ("jpeg", "image/jpeg"),
    "jpeg": ("jpeg", "image/jpeg"),
    "gif": ("gif", "image/gif"),
    "webp": ("webp", "image/webp"),
    "docx": (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pptx": (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    "doc": ("ole", "application/msword"),
    "xls": ("ole", "application/vnd.ms-excel"),
    "ppt": ("ole", "application/vnd.ms-powerpoint"),
    "csv": ("csv", "text/csv"),
}
ALLOWED = ", ".join(sorted(_TYPES))
# Every content type a download can have (the API documents each).
CONTENT_TYPES = sorted({served for _, served in _TYPES.values()})


def _sniff(data: bytes) -> str | None:
    """The kind of file these bytes are, by their content alone."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(BytesIO(data)) as zf:
                names = set(zf.namelist())
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" not in names:
            return None
        for prefix, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
            if any(n.startswith(prefix) for n in names):
                return kind
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or re.search(r"[\x01-\x08\x0b\x0c\x0e-\x1f]", text):
        return None
    return "csv"


def safe_name(filename: str) -> str:
    """A name fit for a zip entry or a download header: letters, digits, dot, dash, underscore."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("._") or "file"
    return cleaned[:120]


def _root() -> Path:
    return get_settings().data_dir / "attachments"


def _path_of(sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a SHA-256")
    return _root() / sha256[:2] / sha256


def read_stored(sha256: str) -> bytes:
    """A stored file's content, decrypted; UndecryptableFile when it does not open (a file put
    in another's place) or its content is not the SHA-256 it is stored under."""
    path = _path_of(sha256)
    raw = path.read_bytes()
    if sealed_files.is_sealed(raw):
        data = sealed_files.open_bytes(raw, role=sealed_files.ATTACHMENT, name=sha256)
    else:
        data = raw  # stored before encryption at rest, not yet encrypted by the start-up step
    if hashlib.sha256(data).hexdigest() != sha256:
        raise sealed_files.UndecryptableFile(
            f"attachment {sha256[:12]}: its content does not match"
        )
    return data


def remove_unused(engine: Any, sha256s: Sequence[str]) -> int:
    """Remove stored files no attachment or inbound triage entry names any more (after the
    retention purge committed); answers how many went."""
    from brm_app.db import unit_of_work
    from brm_app.models.communication import InboundTriage

    removed = 0
    for sha in sorted(set(sha256s)):
        with unit_of_work(engine=engine) as db:
            used = (
                db.exec(select(MessageAttachment.id).where(MessageAttachment.sha256 == sha)).first()
                or db.exec(
                    select(InboundTriage.id).where(col(InboundTriage.attachments).contains(sha))
                ).first()
            )
        if used is None:
            try:
                _path_of(sha).unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _store(data: bytes, sha256: str) -> None:
    """Encrypted, under its plaintext's SHA-256 (the same file sent twice is stored once)."""
    path = _path_of(sha256)
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # stored meanwhile by another request
        sealed_files.write_file(
            path, data, role=sealed_files.ATTACHMENT, name=sha256, exclusive=True
        )


def check_file(filename: object, data: object) -> tuple[str, str]:
    """(the clean file name, its content type), or ValidationFailed saying what is wrong."""
    name = require_text(filename, "filename", max_length=FILENAME_MAX, required=True)
    try:
        check_name(name)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="filename") from None
    name = name.replace("/", "_").replace("\\", "_")
    if not isinstance(data, bytes | bytearray):
        raise ValidationFailed("must be a file", field="file")
    if not data:
        raise ValidationFailed("is empty", field="file")
    if len(data) > ATTACHMENT_MAX_BYTES:
        raise ValidationFailed("is larger than 10 MB", field="file")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in _TYPES:
        raise ValidationFailed(f"must be one of these types: {ALLOWED}", field="file")
    kind, content_type = _TYPES[ext]
    found = _sniff(bytes(data))
    if found != kind:
        raise ValidationFailed(
            f"is not the .{ext} file its name says (its content is "
            f"{'not a type we accept' if found is None else found})",
            field="file",
        )
    return name, content_type


def to_public(a: MessageAttachment) -> AttachmentPublic:
    return AttachmentPublic(
        attachment_id=a.id,
        conversation_id=a.conversation_id,
        message_id=a.message_id,
        filename=a.filename,
        content_type=a.content_type,
        size=a.size,
        sha256=a.sha256,
    )


def upload(
    db: Session, *, actor: AnyActor, conversation_id: object, filename: object, data: object
) -> AttachmentPublic:
    """Store a file for the next message in this conversation (the actor must be able to write
    in it); a message then names it in `attachment_ids`."""
    from brm_app.services import conversations

    conv = conversations.load(db, actor, conversation_id, Permission.COMMS_SEND)
    name, content_type = check_file(filename, data)
    assert isinstance(data, bytes | bytearray)
    digest = hashlib.sha256(data).hexdigest()
    _store(bytes(data), digest)
    row = MessageAttachment(
        conversation_id=rid(conv.id),
        uploaded_by_id=rid(actor.user_id),
        filename=name,
        content_type=content_type,
        size=len(data),
        sha256=digest,
        created_at=utcnow(),
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="attachment.uploaded",
        entity="message_attachment",
        entity_id=row.id,
        changes={"conversation_id": conv.id, "sha256": digest, "size": len(data)},
    )
    return to_public(row)


def download(
    db: Session, *, actor: AnyActor, attachment_id: object
) -> tuple[AttachmentPublic, bytes]:
    """The file, to those who may see its conversation (one not yet sent: its uploader only)."""
    from brm_app.services import conversations

    attachment_id = require_id(attachment_id, "attachment_id")
    row = db.get(MessageAttachment, attachment_id)
    if row is None:
        raise NotFound("Attachment")
    try:
        conversations.load(db, actor, row.conversation_id)
    except NotFound:
        raise NotFound("Attachment") from None
    if row.message_id is None and getattr(actor, "user_id", None) != row.uploaded_by_id:
        raise NotFound("Attachment")
    data = read_stored(row.sha256)
    from brm_app.services import read_traces

    read_traces.trace(db, actor, "attachment", row.id)
    return to_public(row), data


MAX_PER_MESSAGE = 10


def keep_inbound(files: Sequence[tuple[str, bytes]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The files of an inbound email, checked like uploads (type by content, 10 MB each, at most
    10) and stored: (kept [{filename, content_type, size, sha256}], refused ["name: why"])."""
    kept: list[dict[str, Any]] = []
    refused: list[str] = []
    for n, (filename, data) in enumerate(files):
        shown = (filename or "unnamed file").replace("\n", " ")[:FILENAME_MAX]
        if n >= MAX_PER_MESSAGE:
            refused.append(f"{shown}: more than {MAX_PER_MESSAGE} attachments")
            continue
        try:
            name, content_type = check_file(filename, data)
        except ValidationFailed as exc:
            refused.append(f"{shown}: {next(iter(exc.errors.values()))}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        _store(bytes(data), digest)
        kept.append(
            {"filename": name, "content_type": content_type, "size": len(data), "sha256": digest}
        )
    return kept, refused


def add_inbound(db: Session, *, conversation_id: int, files: Sequence[dict[str, Any]]) -> list[int]:
    """Rows for stored inbound files in a conversation (no uploading user), for the message that
    brings them to claim (`record_message(..., attachment_ids=...)` with no actor)."""
    ids = []
    for f in files:
        row = MessageAttachment(
            conversation_id=conversation_id,
            uploaded_by_id=None,
            filename=str(f["filename"]),
            content_type=str(f["content_type"]),
            size=int(f["size"]),
            sha256=str(f["sha256"]),
            created_at=utcnow(),
        )
        db.add(row)
        db.flush()
        ids.append(rid(row.id))
    return ids


def claim_for_message(
    db: Session, *, actor: AnyActor, conversation_id: int, message_id: int, ids: list[int]
) -> list[MessageAttachment]:
    """Attach the actor's unsent uploads of this conversation to a new message."""
    ids = list(dict.fromkeys(require_id(i, "attachment_ids") for i in ids))
    if len(ids) > 10:
        raise ValidationFailed("at most 10 attachments per message", field="attachment_ids")
    if not ids:
        return []
    rows = db.exec(select(MessageAttachment).where(col(MessageAttachment.id).in_(ids))).all()
    found = {r.id: r for r in rows}
    for i in ids:
        r = found.get(i)
        if (
            r is None
            or r.conversation_id != conversation_id
            or r.message_id is not None
            or r.uploaded_by_id != getattr(actor, "user_id", None)
        ):
            raise ValidationFailed(
                f"attachment {i} is not an unsent upload of yours in this conversation",
                field="attachment_ids",
            )
    for r in rows:
        r.message_id = message_id
        db.add(r)
    return [found[i] for i in ids]
