"""Password policy and hashing (argon2id through libpass's CryptContext; nothing is truncated)."""

from __future__ import annotations

import secrets
import string

from passlib.context import CryptContext

MIN_LENGTH = 12
MAX_LENGTH = 128

# argon2id first; any other scheme listed later would be verified and then re-hashed.
_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19456,  # OWASP's minimum recommendation: 19 MiB, t=2, p=1
    argon2__rounds=2,
    argon2__parallelism=1,
)

# A hash of a random password, verified when the account does not exist so that a wrong email
# costs the same time as a wrong password (no account enumeration by timing).
_DUMMY_HASH = _context.hash(secrets.token_urlsafe(24))

# The most common passwords of at least 12 characters (from public breach corpora).
_COMMON = {
    "123456789012",
    "1234567890123",
    "12345678901234",
    "qwertyuiop12",
    "qwertyuiopasdfgh",
    "password1234",
    "password12345",
    "passwordpassword",
    "iloveyou1234",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "qwerty123456",
    "abcdefghijkl",
    "aaaaaaaaaaaa",
    "111111111111",
    "000000000000",
    "letmein12345",
    "welcome12345",
    "changeme1234",
    "administrator",
}


class PasswordPolicyError(ValueError):
    """The password breaks the policy; the message says how, for the user."""


def check_policy(password: object, *, email: str | None = None) -> str:
    """Return the password if acceptable, else raise PasswordPolicyError with a clear message."""
    if not isinstance(password, str):
        raise PasswordPolicyError("Password must be text.")
    length = len(password)
    if length < MIN_LENGTH:
        raise PasswordPolicyError(f"Password must be at least {MIN_LENGTH} characters.")
    if length > MAX_LENGTH:
        raise PasswordPolicyError(f"Password must be at most {MAX_LENGTH} characters.")
    if "\x00" in password:
        raise PasswordPolicyError("Password must not contain NUL characters.")
    if any("\ud800" <= ch <= "\udfff" for ch in password):  # no encoding, so no hash, takes them
        raise PasswordPolicyError("Password must not contain invalid characters.")
    if password.strip() == "":
        raise PasswordPolicyError("Password cannot be only spaces.")
    if password.lower() in _COMMON:
        raise PasswordPolicyError("This password is too common; choose another.")
    if email and password.lower() == email.lower():
        raise PasswordPolicyError("Password must not be your email address.")
    return password


def hash_password(password: str) -> str:
    return _context.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-work check: also spends the hashing time when there is no hash to compare."""
    if not isinstance(password, str) or len(password) > 4 * MAX_LENGTH:
        _context.verify("x", _DUMMY_HASH)
        return False
    if not password_hash:
        _context.verify(password, _DUMMY_HASH)
        return False
    try:
        return _context.verify(password, password_hash)
    except (ValueError, TypeError):
        return False


def generate_password(length: int = 20) -> str:
    """A random password that meets the policy, for first admins and resets."""
    alphabet = string.ascii_letters + string.digits + "-_.!@#%"
    return "".join(secrets.choice(alphabet) for _ in range(length))
