"""Turning untrusted input (browser events, JSON bodies, CSV cells) into checked values."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ValidationError

from brm_app.models.fields import MAX_ID, check_name, check_text
from brm_app.services.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)

_MAX_ID = MAX_ID


def parse(model: type[M], data: Any) -> M:
    """Validate a dict into `model`, or raise ValidationFailed naming each bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed("expected an object of fields", field="__all__")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(pydantic_errors(exc)) from None


# A pattern's own words: pydantic's message quotes the regular expression.
PATTERN_MESSAGES = {
    r"^[A-Za-z]{3}$": "must be a three-letter currency code (ISO 4217), such as USD",
    r"^[A-Za-z0-9.\-/:_]+$": "may hold only letters, digits and . - / : _",
    r"^(buy|sell|1|2)$": "must be buy or sell (or the FIX codes 1 and 2)",
}


def error_message(err: Any) -> str:
    """One pydantic error as the message a person reads."""
    if err.get("type") == "extra_forbidden":
        return "is not a known field"
    if err.get("type") == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern")
        if pattern in PATTERN_MESSAGES:
            return PATTERN_MESSAGES[pattern]
    return str(err.get("msg", "is invalid")).removeprefix("Value error, ")


def pydantic_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "__all__"
        errors.setdefault(loc, error_message(err))
    return errors


def require_id(value: Any, field: str = "id") -> int:
    """A record id from untrusted input: a positive int, nothing else (no strings, dicts, lists)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        raise ValidationFailed("must be a record id (a positive whole number)", field=field)
    return value


def rid(value: int | None) -> int:
    """A stored row's id (a flushed or loaded row always has one), typed as such."""
    assert value is not None
    return value


def optional_id(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    return require_id(value, field)


def require_text(
    value: Any, field: str, *, max_length: int, required: bool = False, check=check_text
) -> str:
    """Trimmed text from untrusted input with the same checks as the schemas' text fields."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed("must be text", field=field)
    value = value.strip()
    try:
        check(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=field) from None
    if required and not value:
        raise ValidationFailed("is required", field=field)
    if len(value) > max_length:
        raise ValidationFailed(f"must be at most {max_length} characters", field=field)
    return value


def require_name(value: Any, field: str = "name", *, max_length: int) -> str:
    """A required name (models.fields.check_name: one line, nothing invisible)."""
    return require_text(value, field, max_length=max_length, required=True, check=check_name)


def normalize_email(value: Any, field: str = "email") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("is required", field=field)
    if len(value) > 254:
        raise ValidationFailed("must be at most 254 characters", field=field)
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(f"is not a valid email address ({exc})", field=field) from None


def require_day(value: Any, field: str) -> date:
    """A calendar day from a date, a datetime (its date) or an ISO string like 2026-05-04."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise ValidationFailed("must be a date like 2026-05-04", field=field) from None
    if not isinstance(value, date):
        raise ValidationFailed("must be a date like 2026-05-04", field=field)
    return value
