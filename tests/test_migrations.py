"""Migrations that change existing rows: run on a database of their own, from the revision before."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from webapp.extensions import db

from .conftest import unmigrated_app

# The tables as revision 0004 left them (the models may have moved on).
USERS = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("uuid", sa.Uuid),
    *(
        sa.column(name, sa.String)
        for name in ("distinct_id", "email", "password_hash", "first_name", "last_name")
    ),
    sa.column("is_email_verified", sa.Boolean),
    sa.column("is_active", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("session_token", sa.String),
)
KEYS = sa.table(
    "personal_api_keys",
    sa.column("id", sa.Uuid),
    sa.column("user_id", sa.Integer),
    *(sa.column(name, sa.String) for name in ("label", "secure_value", "mask_value")),
    sa.column("scopes", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


@pytest.fixture
def empty_database(database_url, tmp_path):
    """An app whose database has no tables yet (SQLite: a new file; PostgreSQL: a new schema)."""
    url = database_url if database_url.startswith("postgres") else f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
    with unmigrated_app(url, tmp_path) as app, app.app_context():
        yield app
        db.session.remove()


def test_0005_renames_duplicate_key_labels_oldest_first_and_then_refuses_duplicates(empty_database):
    upgrade(revision="0004")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with db.engine.begin() as connection:
        for user_id in (1, 2):
            connection.execute(
                USERS.insert().values(
                    id=user_id, uuid=uuid.uuid4(), distinct_id=f"d{user_id}", email=f"u{user_id}@example.com",
                    password_hash="x", first_name="", last_name="", is_email_verified=False, is_active=True,
                    created_at=start, session_token="t",
                )
            )  # fmt: skip
        rows = [(1, "deploy"), (1, "deploy"), (1, "deploy (2)"), (1, "deploy"), (1, "CI"), (2, "deploy")]
        for number, (user_id, label) in enumerate(rows):
            connection.execute(
                KEYS.insert().values(
                    id=uuid.uuid4(), user_id=user_id, label=label, secure_value=f"sha256${number}",
                    mask_value="phx_...abcd", scopes=["*"], created_at=start + timedelta(minutes=number),
                )
            )  # fmt: skip

    upgrade()

    with db.engine.begin() as connection:
        labels = connection.execute(
            sa.select(KEYS.c.user_id, KEYS.c.label).order_by(KEYS.c.secure_value)
        ).all()
    assert [tuple(row) for row in labels] == [
        (1, "deploy"), (1, "deploy (3)"), (1, "deploy (2)"), (1, "deploy (4)"), (1, "CI"), (2, "deploy"),
    ]  # fmt: skip
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
        connection.execute(
            KEYS.insert().values(
                id=uuid.uuid4(), user_id=2, label="deploy", secure_value="sha256$new",
                mask_value="phx_...abcd", scopes=["*"], created_at=start,
            )
        )  # fmt: skip
