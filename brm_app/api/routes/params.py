"""Path and query parameter types shared by the firm and trader routes.

Bounds here are what the storage can hold, so a value out of range is a 422 naming the parameter
rather than a database error: ids are 32-bit INTEGER columns on PostgreSQL, and PostgreSQL text
cannot hold NUL characters. Every text parameter carries `NoNul`: the same text checks as every
body field (models.fields.check_text: no NUL, no other control characters).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, WithJsonSchema

from brm_app.models.fields import DAY_PATTERN, MOMENT_PATTERN, check_optional_text, iso_text
from brm_app.services.pagination import MAX_LIMIT

MAX_ID = 2**31 - 1
# Deeper than this, use a cursor: an OFFSET this large is never a real page.
MAX_OFFSET = 2**31 - 1


# The shared text checks, NUL first among what they refuse (the name is older than the rule).
NoNul = AfterValidator(check_optional_text)

FirmId = Annotated[int, Path(ge=1, le=MAX_ID, description="A firm id")]
TraderId = Annotated[int, Path(ge=1, le=MAX_ID, description="A trader id")]
# An id inside a request body (the services re-check that it names a record the caller may use).
BodyId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")]
Direction = Annotated[Literal["asc", "desc"], Query(description="Sort direction")]
SearchText = Annotated[
    str | None,
    Query(max_length=200, description="Words matching the start of words (prefix search)"),
    NoNul,
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NoNul]
# A one-time code as typed: 6 digits of an authenticator app, or a recovery code (spaces and
# dashes allowed). Not patterned: a malformed code is a wrong code, answered as one.
OneTimeCode = Annotated[str, StringConstraints(max_length=64), NoNul]

# Dates in queries: ISO 8601 text with a year from 1900 to 2999 (beyond these a day's bounds
# overflow in some time zone), as the schema's pattern says; pydantic alone would read `0` or
# `0.5` as a Unix timestamp.
Day = Annotated[
    date,
    iso_text(DAY_PATTERN, "2026-05-04"),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
]
Instant = Annotated[
    AwareDatetime,
    iso_text(MOMENT_PATTERN, "2026-05-04T09:30:00Z"),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": MOMENT_PATTERN}),
]
