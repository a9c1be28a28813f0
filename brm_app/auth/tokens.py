"""Short-lived API tokens (JWT, HS256 pinned; exp/iat/sub/aud/jti always present and checked)."""

from __future__ import annotations

import secrets
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
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken(str(exc)) from exc
