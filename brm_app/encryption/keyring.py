"""The key ring of encryption at rest: AES-256-GCM keys by id, the newest encrypts, all decrypt.

Keys come from `BRM_ENCRYPTION_KEYS` (`kid1:<base64 of 32 bytes>,kid2:...`, oldest first) or, on
SQLite only, from `<data dir>/encryption_keys` (one `kid:base64` a line, mode 600), written on the
first start. The blind-index key (exact-match lookups on encrypted values) is separate: derived
from BRM_SECRET_KEY by HKDF, so a key rotation never changes an index.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEYS_FILE = "encryption_keys"
# Envelope: MAGIC, one byte key-id length, the key id, a 12-byte nonce, ciphertext with its tag.
MAGIC = b"\xe5\x01"
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyError_(Exception):
    """The key ring is missing, malformed or does not open what the database holds."""


class UndecryptableValue(Exception):
    """A stored value does not open with any key for the place it was read from (a wrong key,
    a ciphertext moved to another row or column, or a changed byte)."""


def parse_ring(raw: str, *, source: str) -> tuple[tuple[str, bytes], ...]:
    keys: list[tuple[str, bytes]] = []
    for item in re.split(r"[,\n]", raw):
        item = item.strip()
        if not item:
            continue
        kid, sep, b64 = item.partition(":")
        if not sep or not _KID.match(kid):
            raise KeyError_(
                f"{source}: each key is kid:<base64 of 32 bytes> (kid: letters, digits, _ or -)"
            )
        try:
            material = base64.b64decode(b64.strip(), validate=True)
        except binascii.Error:
            raise KeyError_(f"{source}: key {kid!r} is not valid base64") from None
        if len(material) != 32:
            raise KeyError_(f"{source}: key {kid!r} must be 32 bytes, got {len(material)}")
        if any(k == kid for k, _ in keys):
            raise KeyError_(f"{source}: key id {kid!r} appears twice")
        keys.append((kid, material))
    if not keys:
        raise KeyError_(f"{source}: no keys")
    return tuple(keys)


def format_key(kid: str, material: bytes) -> str:
    return f"{kid}:{base64.b64encode(material).decode()}"


def new_key_id(existing: tuple[tuple[str, bytes], ...] = ()) -> str:
    n = len(existing) + 1
    taken = {k for k, _ in existing}
    while f"k{n}" in taken:
        n += 1
    return f"k{n}"


def keys_file(data_dir: Path) -> Path:
    return data_dir / KEYS_FILE


def read_keys_file(path: Path) -> tuple[tuple[str, bytes], ...]:
    return parse_ring(path.read_text(), source=str(path))


def create_keys_file(path: Path) -> tuple[tuple[str, bytes], ...]:
    """The first key, into a file readable by its owner only (created so before the key is in it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ring = (("k1", secrets.token_bytes(32)),)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(format_key(*ring[0]) + "\n")
    return ring


def append_key_file(path: Path) -> str:
    """A new newest key added to the keys file; its id."""
    ring = read_keys_file(path)
    kid = new_key_id(ring)
    with open(path, "a") as fh:
        fh.write(format_key(kid, secrets.token_bytes(32)) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return kid


def blind_index_key(secret_key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"brm-blind-index-v1", info=b"blind index"
    ).derive(secret_key.encode())


def _aad(table: str, column: str, row_key: str) -> bytes:
    return f"{table}\x1f{column}\x1f{row_key}".encode()


@dataclass
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]
    index_key: bytes = field(repr=False)
    # Where the keys came from: a file is re-read when a value names a key id it lacks
    # (`brm keys rotate` on the same host added one while this process was running).
    source_file: Path | None = None
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _mtime: float = 0.0
    # True when this process created the keys file (the first start, or a lost file).
    generated: bool = False

    def __post_init__(self) -> None:
        self._ciphers = {kid: AESGCM(material) for kid, material in self.keys}
        if self.source_file is not None and self.source_file.exists():
            self._mtime = self.source_file.stat().st_mtime

    def _reload(self) -> None:
        with self._lock:
            assert self.source_file is not None
            self._mtime = self.source_file.stat().st_mtime
            self.keys = read_keys_file(self.source_file)
            self._ciphers = {k: AESGCM(m) for k, m in self.keys}

    def _refresh(self) -> None:
        """A keys file that changed (a rotation added a key) is read again before encrypting:
        every process on this host then writes with the newest key."""
        if self.source_file is not None:
            try:
                changed = self.source_file.stat().st_mtime != self._mtime
            except OSError:
                return
            if changed:
                self._reload()

    @property
    def current(self) -> str:
        """The key new values are encrypted with: the newest (of the keys file as it is now)."""
        self._refresh()
        return self.keys[-1][0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.keys)

    def _cipher(self, kid: str) -> AESGCM | None:
        cipher = self._ciphers.get(kid)
        if cipher is None and self.source_file is not None and self.source_file.exists():
            self._reload()
            cipher = self._ciphers.get(kid)
        return cipher

    def cipher_or_none(self, kid: str) -> AESGCM | None:
        """The AES-GCM cipher of key `kid` (the keys file is read again when it lacks it)."""
        return self._cipher(kid)

    def cipher(self, kid: str) -> AESGCM:
        cipher = self._cipher(kid)
        if cipher is None:
            raise UndecryptableValue(f"key {kid!r} is not in the key ring")
        return cipher

    def seal(self, table: str, column: str, row_key: str, plaintext: str) -> bytes:
        kid = self.current
        nonce = secrets.token_bytes(12)
        sealed = self._ciphers[kid].encrypt(
            nonce, plaintext.encode("utf-8"), _aad(table, column, row_key)
        )
        return MAGIC + bytes([len(kid)]) + kid.encode() + nonce + sealed

    def open(self, table: str, column: str, row_key: str, envelope: bytes) -> str:
        kid = key_id_of(envelope)
        cipher = self._cipher(kid)
        if cipher is None:
            raise UndecryptableValue(f"{table}.{column}: key {kid!r} is not in the key ring")
        start = 3 + len(kid)
        try:
            plain = cipher.decrypt(
                envelope[start : start + 12], envelope[start + 12 :], _aad(table, column, row_key)
            )
        except InvalidTag:
            raise UndecryptableValue(
                f"{table}.{column}: the value does not open with key {kid!r} for this row"
            ) from None
        return plain.decode("utf-8")

    def digest(self, purpose: str, value: str) -> str:
        """A keyed HMAC-SHA256 (hex, 32 characters): the blind index of an exact-match lookup,
        and the audit trail's digest of an encrypted value."""
        mac = hmac.new(self.index_key, f"{purpose}\x1f{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]


def is_envelope(value: object) -> bool:
    return isinstance(value, bytes | bytearray | memoryview) and bytes(value[:2]) == MAGIC


def key_id_of(envelope: bytes) -> str:
    envelope = bytes(envelope)
    if envelope[:2] != MAGIC or len(envelope) < 3 + envelope[2] + 12 + 16:
        raise UndecryptableValue("not an encrypted value")
    return envelope[3 : 3 + envelope[2]].decode("ascii", "replace")


def load_ring(
    *, configured: str | None, data_dir: Path, shared_database: bool, secret_key: str
) -> KeyRing:
    """The ring from BRM_ENCRYPTION_KEYS, else (SQLite only) the data folder's keys file,
    created with a first key when there is none."""
    index_key = blind_index_key(secret_key)
    if configured:
        return KeyRing(parse_ring(configured, source="BRM_ENCRYPTION_KEYS"), index_key)
    if shared_database:
        raise KeyError_(
            "BRM_ENCRYPTION_KEYS must be set with a PostgreSQL database (every server sharing it "
            "needs the same keys): generate one with `python3 -c 'import base64, secrets; "
            'print("k1:" + base64.b64encode(secrets.token_bytes(32)).decode())\'`'
        )
    path = keys_file(data_dir)
    if path.exists():
        return KeyRing(read_keys_file(path), index_key, source_file=path)
    return KeyRing(create_keys_file(path), index_key, source_file=path, generated=True)
