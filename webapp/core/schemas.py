"""Schema plumbing shared by the API's request shapes."""

from __future__ import annotations

from typing import Any

import marshmallow as ma


class ColumnSizedSchema(ma.Schema):
    """A request schema whose text fields are bounded by the columns they are stored in.

    Name the model in `Meta.model`: a String field named like (or with `attribute` naming) one of
    its sized columns gets `Length(max=...)` from it, so a value too long is a 422 naming the field
    (and a `maxLength` in the OpenAPI document) instead of a database error, and a column widened
    in a migration widens its schema with it.
    """

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field) -> None:
        super().on_bind_field(field_name, field_obj)
        model: Any = getattr(self.Meta, "model", None)
        if model is None or not isinstance(field_obj, ma.fields.String):
            return
        column = model.__table__.columns.get(field_obj.attribute or field_name)
        length = getattr(getattr(column, "type", None), "length", None)
        if length and not any(isinstance(v, ma.validate.Length) for v in field_obj.validators):
            field_obj.validators = [*field_obj.validators, ma.validate.Length(max=length)]
