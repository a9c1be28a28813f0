"""Uploaded CSV files waiting to be imported, kept for their owner only.

They live under the data dir (never under Reflex's public upload dir, which is served without
authentication), named by a random id, readable only by the user who uploaded them, and are
removed after MAX_AGE (or when their owner discards them). Both the file and its description
(owner, name, size) are encrypted at rest (brm_app/encryption/files.py).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

from sqlmodel import Session

from brm_app.auth.actor import Actor, SystemActor
from brm_app.auth.rbac import Permission, require
from brm_app.encryption import files as sealed_files
from brm_app.services.bulk.csv_format import MAX_BYTES
from brm_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from brm_app.settings import get_settings

MAX_AGE_SECONDS = 24 * 3600
_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def _dir() -> Path:
    path = get_settings().data_dir / "imports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _owner(actor: Actor | SystemActor) -> int:
    if not isinstance(actor, Actor):
        raise PermissionDenied("Uploads belong to a signed-in user.")
    return actor.user_id


def clean_name(filename: object) -> str:
    name = filename if isinstance(filename, str) else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:120] or "upload.csv"


def sweep(now: float | None = None) -> None:
    """Remove uploads older than MAX_AGE_SECONDS (abandoned imports)."""
    cutoff = (now or time.time()) - MAX_AGE_SECONDS
    for path in _dir().iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            continue


def save_upload(
    db: Session | None, *, actor: Actor | SystemActor, data: object, filename: object
) -> str:
    """Keep an uploaded file for its owner; returns its id (random, unguessable)."""
    require(actor, Permission.DATA_IMPORT)
    owner = _owner(actor)
    if not isinstance(data, bytes | bytearray):
        raise ValidationFailed("must be a file", field="file")
    if not data:
        raise ValidationFailed("The file is empty.", field="file")
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it.", field="file"
        )
    sweep()
    upload_id = secrets.token_urlsafe(24)
    base = _dir() / upload_id
    meta = {"owner": owner, "filename": clean_name(filename), "size": len(data)}
    for suffix, content in ((".csv", bytes(data)), (".json", json.dumps(meta).encode())):
        sealed_files.write_file(
            base.with_suffix(suffix), content, role=sealed_files.IMPORT, exclusive=True
        )
    return upload_id


def _read(path: Path) -> bytes:
    """An upload's file, decrypted (FileNotFoundError when gone, or when it does not open: a file
    put in another's place)."""
    try:
        return sealed_files.read_file(path, role=sealed_files.IMPORT)
    except sealed_files.UndecryptableFile:
        raise FileNotFoundError(path) from None


def _paths(actor: Actor | SystemActor, upload_id: object) -> tuple[Path, Path, dict]:
    owner = _owner(actor)
    if not isinstance(upload_id, str) or not _ID.match(upload_id):
        raise NotFound("Upload")
    base = _dir() / upload_id
    meta_path, data_path = base.with_suffix(".json"), base.with_suffix(".csv")
    try:
        meta = json.loads(_read(meta_path))
    except (FileNotFoundError, ValueError):
        raise NotFound("Upload") from None
    if not isinstance(meta, dict) or meta.get("owner") != owner:
        raise NotFound("Upload")
    return meta_path, data_path, meta


def load_upload(
    db: Session | None, *, actor: Actor | SystemActor, upload_id: object
) -> tuple[bytes, str]:
    """(content, file name) of one of the actor's own uploads; NotFound for anyone else's."""
    require(actor, Permission.DATA_IMPORT)
    _, data_path, meta = _paths(actor, upload_id)
    try:
        return _read(data_path), str(meta.get("filename", "upload.csv"))
    except FileNotFoundError:
        raise NotFound("Upload") from None


def discard_upload(db: Session | None, *, actor: Actor | SystemActor, upload_id: object) -> None:
    try:
        meta_path, data_path, _ = _paths(actor, upload_id)
    except NotFound:
        return
    for path in (data_path, meta_path):
        path.unlink(missing_ok=True)
