"""JSON columns' existing texts rewritten in the marked canonical form the app now writes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 13:00:00.000000

The app writes a JSON column's value as orjson's compact text with sorted keys behind a leading space
(webapp/json_columns.py), which the API's lists embed as it is. Rows written before were the json module's
text (spaces, keys in insertion order): lists parse those, correctly but slower. This revision rewrites
them. A text is left as it is when its canonical form could change its value (NaN or an infinity stored
before the input checks, which orjson would write as null) or orjson cannot write it (an integer beyond
64 bits, a lone surrogate); so is a number SQLite stores as a number. Downgrade keeps the new texts: the
json module and every earlier revision's app read them (JSON allows the leading space).
"""

import json

import orjson
from alembic import op
from sqlalchemy import text

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# Frozen copy of webapp.json_columns' mark and options.
MARK = " "
OPTIONS = orjson.OPT_SORT_KEYS
# (table, its key, a JSON column)
COLUMNS = (
    ("users", "id", "hedgehog_config"),
    ("personal_api_keys", "id", "scopes"),
    ("personal_api_keys", "id", "scoped_teams"),
    ("activity_log", "id", "detail"),
    ("organization_activity", "id", "detail"),
    ("evaluations", "pk", "conditions"),
    ("releases", "id", "metadata"),
    ("symbol_sets", "pk", "contents"),
)
BATCH = 1000


def canonical(stored: str) -> str | None:
    """The marked canonical text of an unmarked stored text, or None to leave it as it is."""
    if stored.startswith(MARK):
        return None
    try:
        value = json.loads(stored)
        written = orjson.dumps(value, option=OPTIONS)
    except (ValueError, orjson.JSONEncodeError):
        return None
    # orjson writes NaN and the infinities (NaN, 1e400 read back) as null: keep those texts as they are.
    if b"null" in written and orjson.loads(written) != value:
        return None
    return MARK + written.decode()


def _batches(connection, table: str, key: str, read: str, column: str):
    """The rows' (key, stored text) holding a value, BATCH at a time in key order."""
    after = None
    while True:
        where = f"{column} IS NOT NULL" + ("" if after is None else f" AND {key} > :after")
        statement = f"SELECT {key}, {read} FROM {table} WHERE {where} ORDER BY {key} LIMIT {BATCH}"
        rows = connection.execute(text(statement), {"after": after}).all()
        if rows:
            yield rows
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


def upgrade():
    connection = op.get_bind()
    postgresql = connection.dialect.name == "postgresql"
    for table, key, column in COLUMNS:
        read = f"CAST({column} AS TEXT)" if postgresql else column
        written = "CAST(:text AS JSON)" if postgresql else ":text"
        update = text(f"UPDATE {table} SET {column} = {written} WHERE {key} = :key")
        for rows in _batches(connection, table, key, read, column):
            changed = [
                {"key": row_key, "text": new}
                for row_key, stored in rows
                if isinstance(stored, str) and (new := canonical(stored)) is not None
            ]
            if changed:
                connection.execute(update, changed)


def downgrade():
    """Nothing to undo: every revision's app reads the marked texts."""
