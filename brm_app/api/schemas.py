"""Response envelopes shared by the routes."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from brm_app.services.pagination import Page

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    offset: int
    limit: int
    has_next: bool
    next_offset: int | None
    total: int | None
    total_at_least: int | None = None
    next_cursor: str | None = None

    @classmethod
    def of(cls, page: Page) -> PageOut:
        return cls(
            items=page.items,
            offset=page.offset,
            limit=page.limit,
            has_next=page.has_next,
            next_offset=page.next_offset,
            total=page.total,
            total_at_least=page.total_at_least,
            next_cursor=page.next_cursor,
        )


class ErrorItem(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    detail: str
    errors: list[ErrorItem] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or expired token"},
    403: {"model": ErrorOut, "description": "Your role may not do this"},
    404: {"model": ErrorOut, "description": "No such record (or not visible to you)"},
    409: {"model": ErrorOut, "description": "Conflicts with an existing record"},
    422: {"model": ErrorOut, "description": "Invalid input; `errors` names each field"},
}
