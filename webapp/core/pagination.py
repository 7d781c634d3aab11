"""Keyset (cursor) pagination for API lists: stable under inserts, fast on large tables."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import marshmallow as ma
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from webapp.core.errors import ValidationFailed
from webapp.extensions import db

T = TypeVar("T")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


class PageArgsSchema(ma.Schema):
    """Query arguments every list endpoint takes."""

    cursor = ma.fields.String(
        load_default=None, metadata={"description": "Opaque cursor from the previous page's `next_cursor`"}
    )
    limit = ma.fields.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=ma.validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Page size (1-{MAX_PAGE_SIZE})"},
    )


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A response schema `{items: [...], next_cursor}` for one kind of item."""
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema)),
            "next_cursor": ma.fields.String(allow_none=True, metadata={"description": "null on the last page"}),
        },
        name=name,
    )


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("The cursor is not valid.", errors={"cursor": ["not a cursor from this API"]}) from exc
    if not isinstance(values, list):
        raise ValidationFailed("The cursor is not valid.", errors={"cursor": ["not a cursor from this API"]})
    return values


def keyset_page(
    stmt: Select[Any],
    columns: list[InstrumentedAttribute[Any]],
    cursor: str | None,
    limit: int,
    *,
    coerce: list[Any] | None = None,
) -> Page[Any]:
    """Newest-first page of `stmt` ordered by `columns` (descending, last one unique)."""
    if cursor:
        values = _decode(cursor)
        if len(values) != len(columns):
            raise ValidationFailed("The cursor is not valid.", errors={"cursor": ["not a cursor for this list"]})
        if coerce:
            values = [fn(v) if fn else v for fn, v in zip(coerce, values, strict=True)]
        # (a, b) < (x, y) spelled out so it works on every database
        clauses = []
        for i, column in enumerate(columns):
            equal = [columns[j] == values[j] for j in range(i)]
            clauses.append(and_(*equal, column < values[i]))
        # The redundant bound on the first column lets the database start an index range scan at
        # the cursor instead of filtering every newer row (the OR alone hides the range).
        stmt = stmt.where(or_(*clauses), columns[0] <= values[0])
    stmt = stmt.order_by(*[c.desc() for c in columns]).limit(limit + 1)
    rows = list(db.session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode([getattr(last, c.key) for c in columns])
    return Page(rows, next_cursor)
