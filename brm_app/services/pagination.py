"""Page requests and pages: lists are always paginated in SQL; only one page reaches a caller."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlmodel import func, select

from brm_app.services.errors import ValidationFailed

T = TypeVar("T")

MAX_LIMIT = 200


@dataclass(frozen=True)
class PageRequest:
    offset: int = 0
    limit: int = 50

    @classmethod
    def of(cls, offset: object = 0, limit: object = 50) -> PageRequest:
        """Validated from untrusted input (a browser event or a query string)."""
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationFailed("must be a whole number of at least 0", field="offset")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValidationFailed(f"must be between 1 and {MAX_LIMIT}", field="limit")
        return cls(offset=offset, limit=limit)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    offset: int
    limit: int
    has_next: bool
    # None when counting would be too slow; then `total_at_least` says how many are known.
    total: int | None
    total_at_least: int | None = None
    # For keyset pagination: pass it back to get the page after this one.
    next_cursor: str | None = None

    @classmethod
    def build(
        cls,
        rows: list[T],
        *,
        page: PageRequest,
        total: int | None,
        total_at_least: int | None = None,
        next_cursor: str | None = None,
    ) -> Page[T]:
        """`rows` holds up to limit+1 items: the extra one only says there is a next page."""
        has_next = len(rows) > page.limit
        return cls(
            items=rows[: page.limit],
            offset=page.offset,
            limit=page.limit,
            has_next=has_next,
            total=total,
            total_at_least=total_at_least,
            next_cursor=next_cursor if has_next else None,
        )

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.has_next else None


def escape_like(text: str) -> str:
    """Escape LIKE wildcards in user input (use with escape='\\\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


COUNT_CAP = 10_000


def capped_count(db, ids_query) -> tuple[int | None, int | None]:
    """(total, None) when at most COUNT_CAP rows match, else (None, COUNT_CAP): counting a huge
    book exactly would cost more than the page itself, and "10,000+" is what a user needs."""
    n = db.exec(select(func.count()).select_from(ids_query.limit(COUNT_CAP + 1).subquery())).one()
    return (n, None) if n <= COUNT_CAP else (None, COUNT_CAP)


def encode_cursor(data: dict) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":"), default=str).encode())
        .decode()
        .rstrip("=")
    )


def decode_cursor(cursor: str) -> dict:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationFailed("is not a cursor this API returned", field="cursor") from None
    if not isinstance(data, dict) or any(isinstance(v, str) and "\x00" in v for v in data.values()):
        raise ValidationFailed("is not a cursor this API returned", field="cursor")
    last_id = data.get("id")
    if isinstance(last_id, bool) or not isinstance(last_id, int) or not 0 < last_id <= 2**31 - 1:
        raise ValidationFailed("is not a cursor this API returned", field="cursor")
    return data
