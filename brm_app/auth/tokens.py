"""Short-lived API tokens (JWT, HS256 pinned; exp/iat/sub/aud/jti always present and checked)."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from brm_app.db import utcnow

ALGORITHM = "HS256"
AUDIENCE = "brm-api"
ISSUER = "brokersync-brm"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    issued_at: datetime
    jti: str
    # The user's credentials version when issued: a password change or deactivation voids the token.
    credentials_version: int
    # The token's `exp` (seconds since the epoch).
    expires_at: float = 0.0


def credentials_version(changed_at: datetime) -> int:
    return int(changed_at.timestamp() * 1_000_000)


def issue(user_id: int, *, cv: int, secret: str, minutes: int) -> tuple[str, int]:
    now = utcnow()
    claims = {
        "sub": str(user_id),
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        "jti": secrets.token_urlsafe(16),
        "cv": cv,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), minutes * 60


def decode(token: str, *, secret: str) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "jti", "iss", "cv"]},
        )
        return TokenClaims(
            user_id=int(claims["sub"]),
            issued_at=datetime.fromtimestamp(int(claims["iat"]), tz=utcnow().tzinfo),
            jti=str(claims["jti"]),
            credentials_version=int(claims["cv"]),
            expires_at=float(claims["exp"]),
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken(str(exc)) from exc


# Verified signatures, by (key, token): checking the HMAC and the claims again for every call of
# the same token costs more than the rest of the check. Only the signature's verdict is kept (until
# the token's own expiry): the account's state (active, credentials unchanged) is read from the
# database on every call, so a password change or a deactivation still voids the token at once.
_VERIFIED: dict[tuple[str, str], tuple[TokenClaims, float]] = {}
_VERIFIED_MAX = 4096
_VERIFIED_LOCK = threading.Lock()


def decode_cached(token: str, *, secret: str) -> TokenClaims:
    """`decode`, remembering tokens already verified until they expire."""
    key = (secret, token)
    hit = _VERIFIED.get(key)
    if hit is not None:
        claims, expires = hit
        if time.time() < expires:
            return claims
        with _VERIFIED_LOCK:
            _VERIFIED.pop(key, None)
    claims = decode(token, secret=secret)
    expires = claims.expires_at
    with _VERIFIED_LOCK:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            # Oldest first (insertion order): a long-lived token is simply verified again.
            for old in list(_VERIFIED)[: _VERIFIED_MAX // 4]:
                _VERIFIED.pop(old, None)
        _VERIFIED[key] = (claims, expires)
    return claims
