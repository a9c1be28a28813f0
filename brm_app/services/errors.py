"""Domain errors: raised by services, shown by the UI as messages and by the API as 4xx JSON."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAuthenticated(DomainError):
    status = 401


class PermissionDenied(DomainError):
    status = 403

    def __init__(self, message: str = "You do not have permission to do that."):
        super().__init__(message)


class SetupRequired(PermissionDenied):
    """The account must change its password or set up two-factor sign-in before anything else."""

    PASSWORD = (
        "Your password was set by an administrator: choose your own password before you continue "
        "(My account in the app, or POST /api/v1/users/me/password)."
    )
    MFA = (
        "Your role requires two-factor sign-in: set it up under My account, Sign-in security, "
        "before you continue."
    )

    def __init__(self, what: str):
        super().__init__(self.PASSWORD if what == "password" else self.MFA)
        self.what = what


class NotFound(DomainError):
    status = 404

    def __init__(self, what: str = "Record"):
        super().__init__(f"{what} not found.")


class Conflict(DomainError):
    status = 409

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class ValidationFailed(DomainError):
    """Bad input: maps field name -> message so forms can show each next to its field."""

    status = 422

    def __init__(self, errors: dict[str, str] | str, field: str | None = None):
        if isinstance(errors, str):
            errors = {field or "__all__": errors}
        self.errors = errors
        first = next(iter(errors.items()))
        message = first[1] if first[0] == "__all__" else f"{first[0]}: {first[1]}"
        super().__init__(message)


class BadCredentials(ValidationFailed):
    """Unknown email, wrong password or inactive account: one message for all three."""


class SecondFactorNeeded(BadCredentials):
    """Right password, but the one-time code is missing (`missing`) or wrong."""

    def __init__(self, message: str, *, missing: bool):
        super().__init__(message)
        self.missing = missing


class TooManyAttempts(DomainError):
    status = 429

    def __init__(self, message: str, retry_after_seconds: int):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class AccountLocked(TooManyAttempts):
    """The account (not merely the client address) is locked after repeated failures."""
