"""Plain records made from result rows, so domain code hands no SQLAlchemy rows upward."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from sqlalchemy.engine import Row

Record = TypeVar("Record")


def _field_names(record_type: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(record_type))


def from_row(record_type: type[Record], row: Row[Any], **values: Any) -> Record:
    """A `record_type` dataclass from the row's columns of the same names; `values` give the
    fields the row holds under another name or shape. A field the row lacks keeps its default
    (and a required one fails here, naming it)."""
    columns = row._mapping
    named = {
        name: columns[name] for name in _field_names(record_type) if name in columns and name not in values
    }
    return record_type(**named, **values)
