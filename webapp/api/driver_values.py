"""A list page's values as the database driver gives them, read into the API's JSON values.

A page read with listing.paginate(raw=True) skips SQLAlchemy's type processing, which would build a
datetime (or parse JSON) per value only for the serializer to write it back as text. The page's columns
(listing.driver_value) give, on SQLite and PostgreSQL alike: uuids as text (SQLite: 32 hex digits),
datetimes as UTC text "YYYY-MM-DD HH:MM:SS.ffffff", JSON as its stored text (SQLite keeps a number alone
as a number; json_columns.stored reads it), booleans as booleans or 0/1. Each function below turns one
into exactly what the serializers write for the same column read through SQLAlchemy.
"""

from datetime import UTC, datetime

from sqlalchemy.dialects import sqlite

from ..models.types import UTCDateTime
from ..services.listing import uuid_hex_text

uuid_text = uuid_hex_text


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z (`2025-03-01T12:00:00Z`); microseconds only when not zero."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# SQLAlchemy's own reading of SQLite's datetime text: the way for any text but the usual form (e.g. one
# written by hand).
_SQLITE = sqlite.dialect()
_read_datetime_text = UTCDateTime().dialect_impl(_SQLITE).result_processor(_SQLITE, None)


def datetime_text(value: str | None) -> str | None:
    """iso() of a UTC datetime given as "YYYY-MM-DD HH:MM:SS.ffffff" (isoformat drops a zero fraction)."""
    if value is None:
        return None
    if len(value) == 26 and value[10] == " " and value[19] == ".":
        fraction = value[19:]
        return f"{value[:10]}T{value[11:19]}{'' if fraction == '.000000' else fraction}Z"
    return iso(_read_datetime_text(value))


def boolean(value: bool | int | None) -> bool | None:
    return None if value is None else bool(value)
