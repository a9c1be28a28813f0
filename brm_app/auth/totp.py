"""TOTP (RFC 6238) codes, the secret's encryption at rest, recovery codes and the enrolment QR.

- Codes: 6 digits, 30-second steps, one step of clock drift either way; a step once accepted is
  never accepted again (nor any earlier one), so an overheard code cannot be replayed.
- The secret is stored encrypted (AES-256-GCM, the key derived from BRM_SECRET_KEY with HKDF, the
  user id bound in as associated data): a copy of the database alone does not reveal it. A new
  BRM_SECRET_KEY makes stored secrets unreadable: those users sign in with a recovery code or
  have an admin reset their two-factor sign-in.
- Recovery codes: 80 random bits each (16 base32 characters), stored as SHA-256 hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODES = 10
ISSUER = "BrokerSync"

# The clock codes are checked against (tests set it).
_clock = time.time

_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read off paper


class SecretUnreadable(Exception):
    """The stored secret cannot be decrypted (BRM_SECRET_KEY changed, or the row was altered)."""


def _key(secret_key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"brm-totp-v1", info=b"totp secret"
    ).derive(secret_key.encode())


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, RFC 4226's recommended length


def encrypt(secret: str, *, user_id: int, secret_key: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key(secret_key)).encrypt(nonce, secret.encode(), f"user:{user_id}".encode())
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(stored: str, *, user_id: int, secret_key: str) -> str:
    try:
        version, _, body = stored.partition(":")
        if version != "v1":
            raise SecretUnreadable
        raw = base64.urlsafe_b64decode(body.encode())
        plain = AESGCM(_key(secret_key)).decrypt(raw[:12], raw[12:], f"user:{user_id}".encode())
    except (InvalidTag, ValueError) as exc:
        raise SecretUnreadable from exc
    return plain.decode()


def current_step(now: float | None = None) -> int:
    return int((_clock() if now is None else now) // STEP_SECONDS)


def normalize_code(code: object) -> str | None:
    """A code as typed (spaces and dashes allowed), or None if it cannot be one."""
    if not isinstance(code, str) or len(code) > 64:
        return None
    cleaned = "".join(code.split()).replace("-", "").lower()
    return cleaned or None


def is_totp_shape(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def matching_step(
    secret: str, code: str, *, last_step: int | None, now: float | None = None
) -> int | None:
    """The step the code belongs to (within the drift window, after `last_step`), or None."""
    if not is_totp_shape(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    here = current_step(now)
    found = None
    for step in range(here - DRIFT_STEPS, here + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        # Every candidate is compared (no early exit), each in constant time.
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


def provisioning_uri(secret: str, *, account: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=ISSUER
    )


def qr_data_uri(uri: str) -> str:
    """The QR code of an otpauth URI as an inline SVG data URI (made here, nothing fetched)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_hash(code: str) -> str:
    """The stored form of a recovery code as typed or as issued (dashes and case ignored)."""
    return hashlib.sha256(("brm-recovery:" + (normalize_code(code) or "")).encode()).hexdigest()
