"""Keyset (cursor) pagination for API lists: stable under inserts, fast on large tables."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import marshmallow as ma
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from webapp.core.errors import ValidationFailed
from webapp.core.inputs import loads_json
from webapp.extensions import db

T = TypeVar("T")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MAX_CURSOR_LENGTH = 400  # a cursor this module writes is a few dozen characters


class Cursor(ma.fields.String):
    """A `next_cursor` handed back: refused (422) at argument parsing unless it decodes as one."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text:
            try:
                decode_cursor(text)
            except ValidationFailed as exc:
                raise ma.ValidationError(exc.errors["cursor"]) from exc
        return text


class PageArgsSchema(ma.Schema):
    """Query arguments every list endpoint takes."""

    cursor = Cursor(
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


def _not_a_cursor(reason: str = "not a cursor from this API") -> ValidationFailed:
    return ValidationFailed("The cursor is not valid.", errors={"cursor": [reason]})


def decode_cursor(cursor: str) -> list[Any]:
    """The key values a cursor carries: a short flat list of whole numbers and strings, or 422.

    A cursor comes back from the client, so it is untrusted input like any other: anything this
    module could not have written is refused here rather than reaching the database.
    """
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _not_a_cursor()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = loads_json(base64.urlsafe_b64decode(padded.encode("ascii")), max_depth=1)
    except (ValueError, TypeError) as exc:  # not base64, not UTF-8, not JSON, nested, NUL
        raise _not_a_cursor() from exc
    if not isinstance(values, list) or not values or not all(_is_key_value(v) for v in values):
        raise _not_a_cursor()
    return values


def _is_key_value(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _key_for(column: InstrumentedAttribute[Any], value: Any) -> Any:
    """`value` as a bound for `column`, checked against the column's type (422 when it cannot be one)."""
    sql_type = column.type
    try:
        python_type = getattr(sql_type, "impl_instance", sql_type).python_type  # through TypeDecorators
    except NotImplementedError:
        python_type = None
    if python_type is int:
        if isinstance(value, int) and -(2**63) <= value < 2**63:
            return value
    elif python_type is datetime:
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    elif python_type is str and isinstance(value, str):
        return value
    raise _not_a_cursor("not a cursor for this list")


def keyset_page(
    stmt: Select[Any],
    columns: list[InstrumentedAttribute[Any]],
    cursor: str | None,
    limit: int,
) -> Page[Any]:
    """Newest-first page of `stmt` ordered by `columns` (descending, last one unique)."""
    if cursor:
        values = decode_cursor(cursor)
        if len(values) != len(columns):
            raise _not_a_cursor("not a cursor for this list")
        values = [_key_for(column, value) for column, value in zip(columns, values, strict=True)]
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
