"""Encryption at rest of the files the app writes: message attachments, CSV uploads kept for an
import, regulator export archives and backups (README, "Encryption at rest").

Each file has its own random 256-bit data key; the file's content is AES-256-GCM encrypted with it
in 1 MiB chunks (so a backup of any size streams), and the data key is wrapped (AES-256-GCM) by
the key ring's newest key. A file is:

    MAGIC | key-id length | key id | wrap nonce (12) | wrapped data key (32 + 16) | chunks...

Every chunk is CHUNK bytes of plaintext plus a 16-byte tag, the last one shorter (possibly empty);
its nonce is its index and whether it is the last, so chunks cannot be reordered, dropped or the
file cut short. The associated data of the wrapped key and of every chunk is the file's role
(attachment, import, regulator export, backup) and name (an attachment's SHA-256, an upload's id,
an export's file name): a file copied over another does not open.

A key rotation rewraps only the header (the data key under the newest key); the chunks stay.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from brm_app.encryption.keyring import KeyRing, UndecryptableValue

MAGIC = b"\x00BRMF\x01"
CHUNK = 1 << 20
_TAG = 16
_WRAPPED = 32 + _TAG

ATTACHMENT = "attachment"
IMPORT = "import"
REGULATOR_EXPORT = "regulator_export"
BACKUP = "backup"


class UndecryptableFile(UndecryptableValue):
    """A stored file does not open: not encrypted, a key missing from the ring, a changed byte,
    or a file moved to another name or role."""


def _ring() -> KeyRing:
    from brm_app.encryption import get_keyring

    return get_keyring()


def _aad(role: str, name: str) -> bytes:
    return f"brm-file\x1f{role}\x1f{name}".encode()


def _nonce(index: int, last: bool) -> bytes:
    return struct.pack(">QI", index, 1 if last else 0)


def is_sealed(head: bytes) -> bool:
    """True when these (first) bytes are those of an encrypted file."""
    return bytes(head[: len(MAGIC)]) == MAGIC


def is_sealed_file(path: Path) -> bool:
    with open(path, "rb") as fh:
        return is_sealed(fh.read(len(MAGIC)))


def _header(ring: KeyRing, kid: str, dek: bytes, aad: bytes) -> bytes:
    cipher = ring.cipher(kid)
    nonce = secrets.token_bytes(12)
    kid_b = kid.encode()
    return MAGIC + bytes([len(kid_b)]) + kid_b + nonce + cipher.encrypt(nonce, dek, aad)


def _read_header(src: BinaryIO) -> tuple[str, bytes, bytes]:
    """(key id, wrap nonce, wrapped data key) at the start of `src`."""
    head = src.read(len(MAGIC) + 1)
    if len(head) < len(MAGIC) + 1 or not is_sealed(head):
        raise UndecryptableFile("not an encrypted file")
    kid = src.read(head[-1]).decode("ascii", "replace")
    rest = src.read(12 + _WRAPPED)
    if len(rest) < 12 + _WRAPPED:
        raise UndecryptableFile("the encrypted file is cut short")
    return kid, rest[:12], rest[12:]


def key_id_of_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return _read_header(fh)[0]


def _unwrap(ring: KeyRing, kid: str, nonce: bytes, wrapped: bytes, aad: bytes, role: str) -> bytes:
    cipher = ring.cipher_or_none(kid)
    if cipher is None:
        raise UndecryptableFile(f"{role} file: key {kid!r} is not in the key ring")
    try:
        return cipher.decrypt(nonce, wrapped, aad)
    except InvalidTag:
        raise UndecryptableFile(
            f"{role} file: does not open with key {kid!r} under this name"
        ) from None


class SealingWriter:
    """A write-only file object that encrypts what is written to it into `dst` (for a tar
    written straight into its encrypted file: no copy in clear on the way). close() ends it."""

    def __init__(self, dst: BinaryIO, *, role: str, name: str, ring: KeyRing | None = None) -> None:
        ring = ring or _ring()
        self._dst = dst
        self._aad = _aad(role, name)
        dek = AESGCM.generate_key(bit_length=256)
        dst.write(_header(ring, ring.current, dek, self._aad))
        self._cipher = AESGCM(dek)
        self._buf = bytearray()
        self._index = 0
        self.closed = False

    def _emit(self, block: bytes, last: bool) -> None:
        self._dst.write(self._cipher.encrypt(_nonce(self._index, last), block, self._aad))
        self._index += 1

    def write(self, data: bytes) -> int:
        self._buf += data
        while len(self._buf) > CHUNK:  # the last chunk is only known at close
            self._emit(bytes(self._buf[:CHUNK]), False)
            del self._buf[:CHUNK]
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buf), True)
            self._buf.clear()
            self.closed = True

    def __enter__(self) -> SealingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def seal_stream(
    src: BinaryIO, dst: BinaryIO, *, role: str, name: str, ring: KeyRing | None = None
) -> None:
    with SealingWriter(dst, role=role, name=name, ring=ring) as out:
        for block in iter(lambda: src.read(CHUNK), b""):
            out.write(block)


def open_stream(
    src: BinaryIO, dst: BinaryIO, *, role: str, name: str, ring: KeyRing | None = None
) -> None:
    ring = ring or _ring()
    aad = _aad(role, name)
    kid, nonce, wrapped = _read_header(src)
    cipher = AESGCM(_unwrap(ring, kid, nonce, wrapped, aad, role))
    index = 0
    block = src.read(CHUNK + _TAG)
    while True:
        following = src.read(CHUNK + _TAG) if len(block) == CHUNK + _TAG else b""
        last = not following
        try:
            dst.write(cipher.decrypt(_nonce(index, last), block, aad))
        except InvalidTag:
            raise UndecryptableFile(
                f"{role} file: part {index} is altered, misplaced or cut short"
            ) from None
        if last:
            return
        block, index = following, index + 1


def seal_bytes(data: bytes, *, role: str, name: str, ring: KeyRing | None = None) -> bytes:
    from io import BytesIO

    out = BytesIO()
    seal_stream(BytesIO(data), out, role=role, name=name, ring=ring)
    return out.getvalue()


def open_bytes(blob: bytes, *, role: str, name: str, ring: KeyRing | None = None) -> bytes:
    from io import BytesIO

    out = BytesIO()
    open_stream(BytesIO(blob), out, role=role, name=name, ring=ring)
    return out.getvalue()


def _tmp_of(path: Path) -> Path:
    return path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_file(
    path: Path, data: bytes, *, role: str, name: str | None = None, exclusive: bool = False
) -> None:
    """`data` encrypted into `path` (mode 600), whole or not at all (a temporary file renamed).
    `exclusive`: FileExistsError when the path is taken. The name defaults to the file name."""
    sealed = seal_bytes(data, role=role, name=name or path.name)
    tmp = _tmp_of(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(sealed)
        if exclusive:
            try:
                os.link(tmp, path)  # FileExistsError when taken
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links: checked, then renamed
                if path.exists():
                    raise FileExistsError(path) from None
                os.replace(tmp, path)
            else:
                tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_file(path: Path, *, role: str, name: str | None = None) -> bytes:
    return open_bytes(path.read_bytes(), role=role, name=name or path.name)


def seal_path(src: Path, dst: Path, *, role: str, name: str) -> None:
    """The file `src` encrypted into `dst` (mode 600), streamed."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
        seal_stream(fin, fout, role=role, name=name)


def open_path(src: Path, dst: Path, *, role: str, name: str) -> None:
    """The encrypted file `src` decrypted into `dst` (mode 600), streamed."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
        open_stream(fin, fout, role=role, name=name)


def rewrap_file(path: Path, *, role: str, name: str | None = None) -> bool:
    """Put the file's data key under the ring's newest key (the chunks are unchanged); False when
    it already is. In place when the header keeps its length, else through a renamed copy."""
    ring = _ring()
    kid = ring.current
    aad = _aad(role, name or path.name)
    with open(path, "rb") as fh:
        old_kid, nonce, wrapped = _read_header(fh)
        if old_kid == kid:
            return False
        header = _header(ring, kid, _unwrap(ring, old_kid, nonce, wrapped, aad, role), aad)
        old_len = fh.tell()
        if len(header) != old_len:
            tmp = _tmp_of(path)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(header)
                for block in iter(lambda: fh.read(CHUNK), b""):
                    out.write(block)
            if not path.exists():  # removed meanwhile (a purge): stays removed
                tmp.unlink()
                return False
            os.replace(tmp, path)
            return True
    with open(path, "r+b") as fh:
        fh.write(header)
        fh.flush()
        os.fsync(fh.fileno())
    return True


# ---- the data folder's encrypted files ------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """A folder under the data dir whose every file is encrypted with one role."""

    folder: str
    role: str
    # For files written in clear before they were encrypted: their plaintext, or None to leave
    # the file as it is (None by default: the file's bytes are its plaintext).
    legacy: Callable[[Path, bytes], bytes | None] | None = None


def _legacy_export(path: Path, data: bytes) -> bytes | None:
    """Regulator exports were encrypted before with a key derived from BRM_SECRET_KEY ("v1")."""
    from brm_app.services import regulator_export

    return regulator_export.legacy_unseal(path, data)


AREAS = (
    Area("attachments", ATTACHMENT),
    Area("imports", IMPORT),
    Area("exports", REGULATOR_EXPORT, _legacy_export),
    Area("backups", BACKUP),
)


def _data_dir() -> Path:
    from brm_app.settings import get_settings

    return get_settings().data_dir


def stored_files(data_dir: Path | None = None) -> Iterator[tuple[Path, Area]]:
    """Every file of the encrypted areas (temporary files being written are skipped)."""
    base = data_dir or _data_dir()
    for area in AREAS:
        root = base / area.folder
        if not root.is_dir():
            continue
        # Backups: the finished files only (a backup being written has its own folder there).
        found = root.glob("brm-backup-*.tar*") if area.role == BACKUP else root.rglob("*")
        for path in sorted(found):
            if path.is_file() and not path.name.endswith((".tmp", ".part")):
                yield path, area


def _name_of(path: Path, area: Area) -> str:
    return "brm-backup" if area.role == BACKUP else path.name


def encrypt_clear_files(data_dir: Path | None = None) -> int:
    """Encrypt every file still in clear in the data folder (files from before encryption at rest);
    idempotent, so it runs on every start (under a lock: two processes starting together take
    turns). Answers how many it encrypted."""
    base = data_dir or _data_dir()
    if not any(True for _ in stored_files(base)):
        return 0
    with open(base / ".files.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _encrypt_clear_files(base)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _encrypt_clear_files(base: Path) -> int:
    done = 0
    for path, area in stored_files(base):
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(MAGIC))
        except FileNotFoundError:
            continue
        if is_sealed(head):
            continue
        name = _name_of(path, area)
        if area.role == BACKUP:
            tmp = _tmp_of(path)
            seal_path(path, tmp, role=area.role, name=name)
            os.replace(tmp, path)
            done += 1
            continue
        data = path.read_bytes()
        if is_sealed(data):
            continue
        if area.legacy is not None:
            plain = area.legacy(path, data)
            if plain is None:
                continue
            data = plain
        mtime = path.stat().st_mtime
        write_file(path, data, role=area.role, name=name)
        os.utime(path, (mtime, mtime))  # uploads expire by age: keep it
        done += 1
    return done


def rewrap_files(data_dir: Path | None = None, say: Callable[[str], None] | None = None) -> int:
    """Every encrypted file's data key under the ring's newest key (key rotation); idempotent and
    resumable (a file already under it is skipped). Answers how many were rewrapped."""
    done = 0
    for path, area in stored_files(data_dir):
        try:
            if not is_sealed_file(path):
                continue
            done += rewrap_file(path, role=area.role, name=_name_of(path, area))
        except FileNotFoundError:
            continue
    if say:
        say(f"files: {done} re-wrapped under the newest key")
    return done


def left_under_old_keys(kid: str, data_dir: Path | None = None) -> int:
    """Encrypted files whose data key is not under `kid` (files in clear are the start-up
    step's: encrypt_clear_files)."""
    left = 0
    for path, _area in stored_files(data_dir):
        try:
            if is_sealed_file(path) and key_id_of_file(path) != kid:
                left += 1
        except FileNotFoundError:
            continue
    return left
