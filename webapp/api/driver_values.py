"""A list page's values as the database driver gives them, read into the API's JSON values.

A page read with listing.paginate(raw=True) skips SQLAlchemy's type processing, which would build a
datetime (or parse JSON) per value only for the serializer to write it back as text. Each reader turns the
driver's value into exactly what the serializers write for the same column read through SQLAlchemy:

- SQLite: uuids as 32 hex digits, datetimes as SQLAlchemy's stored text "YYYY-MM-DD HH:MM:SS.ffffff"
  (UTC), booleans as 0/1, JSON as its stored text (a number alone as a number).
- PostgreSQL (psycopg): uuids as text (the list columns cast them, listing.uuid_text), aware datetimes,
  booleans, and JSON already parsed by config.load_json_column (the engine hands it to psycopg).
"""

from datetime import UTC, datetime

from sqlalchemy.dialects import sqlite

from ..config import load_json_column
from ..extensions import db
from ..models.types import UTCDateTime
from ..services.listing import uuid_hex_text


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z (`2025-03-01T12:00:00Z`); microseconds only when not zero."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# SQLAlchemy's own reading of a stored datetime: the way for any text but its usual form.
_SQLITE = sqlite.dialect()
_read_sqlite_datetime = UTCDateTime().dialect_impl(_SQLITE).result_processor(_SQLITE, None)


class SQLite:
    """sqlite3's values: text and integers, turned into the JSON's."""

    uuid = staticmethod(uuid_hex_text)

    @staticmethod
    def datetime(value: str | None) -> str | None:
        # "YYYY-MM-DD HH:MM:SS.ffffff" as SQLAlchemy writes it; isoformat() leaves out a zero fraction.
        if value is None:
            return None
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            fraction = value[19:]
            return f"{value[:10]}T{value[11:19]}{'' if fraction == '.000000' else fraction}Z"
        return iso(_read_sqlite_datetime(value))

    @staticmethod
    def boolean(value: int | None) -> bool | None:
        return None if value is None else bool(value)

    @staticmethod
    def json(value):
        # A JSON value that is a number alone is stored as one (the column's NUMERIC affinity), and
        # SQLAlchemy gives it as it is.
        return load_json_column(value) if isinstance(value, str) else value


class PostgreSQL:
    """psycopg's values: already the JSON's but for datetimes."""

    @staticmethod
    def uuid(value: str | None) -> str | None:
        return value

    datetime = staticmethod(iso)

    @staticmethod
    def boolean(value: bool | None) -> bool | None:
        return value

    @staticmethod
    def json(value):
        return value


Reader = type[SQLite] | type[PostgreSQL]


def current() -> Reader:
    """The reader for the database the request's session uses."""
    return SQLite if db.session.get_bind().dialect.name == "sqlite" else PostgreSQL
