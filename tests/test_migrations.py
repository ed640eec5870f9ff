"""Migrations that change existing rows: run on a database of their own, from the revision before."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from webapp.extensions import db
from webapp.models import Project
from webapp.services import evaluations

from .conftest import stored_json_texts, unmigrated_app

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


# The symbol-set columns as revision 0005 left them.
ORGANIZATIONS = sa.table(
    "organizations",
    sa.column("id", sa.Integer),
    sa.column("uuid", sa.Uuid),
    sa.column("name", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
PROJECTS = sa.table(
    "projects",
    sa.column("id", sa.Integer),
    sa.column("uuid", sa.Uuid),
    sa.column("organization_id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
SYMBOL_SETS = sa.table(
    "symbol_sets",
    sa.column("id", sa.Uuid),
    sa.column("project_id", sa.Integer),
    sa.column("ref", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    *(sa.column(name, sa.String) for name in ("storage_ptr", "content_hash", "failure_reason")),
    sa.column("size_bytes", sa.BigInteger),
    sa.column("uploaded_at", sa.DateTime(timezone=True)),
)


def test_0006_moves_unchecked_objects_off_storage_ptr(empty_database):
    upgrade(revision="0005")
    now = datetime(2026, 11, 1, tzinfo=UTC)
    rows = {
        # ref: (storage_ptr, content_hash, failure_reason, uploaded_at)
        "pending": ("symbol_sets/1/a/1", None, None, None),
        "uploaded": ("symbol_sets/1/b/1", "h", None, now),
        "failed-check": ("symbol_sets/1/c/1", "h", "The source map is not valid JSON.", None),
        "expired": ("symbol_sets/1/d/1", None, "The upload was started ... but never finished", None),
        "failed-after-use": ("symbol_sets/1/e/1", "h", "Token not found at 1:200.", now),
        "marked": (None, None, "No source map.", None),
    }
    with db.engine.begin() as connection:
        connection.execute(ORGANIZATIONS.insert().values(id=1, uuid=uuid.uuid4(), name="o", created_at=now))
        connection.execute(
            PROJECTS.insert().values(id=1, uuid=uuid.uuid4(), organization_id=1, name="p", created_at=now)
        )
        for ref, (storage_ptr, content_hash, failure_reason, uploaded_at) in rows.items():
            connection.execute(
                SYMBOL_SETS.insert().values(
                    id=uuid.uuid4(), project_id=1, ref=ref, created_at=now, storage_ptr=storage_ptr,
                    content_hash=content_hash, size_bytes=3 if content_hash else None,
                    failure_reason=failure_reason, uploaded_at=uploaded_at,
                )
            )  # fmt: skip

    upgrade()

    with db.engine.begin() as connection:
        found = connection.execute(
            sa.text("SELECT ref, storage_ptr, content_hash, upload_key, rejected_key FROM symbol_sets")
        ).all()
        connection.execute(
            SYMBOL_SETS.insert().values(
                id=uuid.uuid4(), project_id=1, ref="after-the-migration", created_at=now
            )
        )
    assert {row[0]: tuple(row[1:]) for row in found} == {
        # An upload in progress keeps working: its key is now the staging key.
        "pending": (None, None, "symbol_sets/1/a/1", None),
        "uploaded": ("symbol_sets/1/b/1", "h", None, None),
        # Bytes that never passed the checks are rejected bytes, never the set's file.
        "failed-check": (None, None, None, "symbol_sets/1/c/1"),
        "expired": (None, None, None, "symbol_sets/1/d/1"),
        # A file that passed, then was marked failed by a symbolicator, stays the set's file.
        "failed-after-use": ("symbol_sets/1/e/1", "h", None, None),
        "marked": (None, None, None, None),
    }
    if db.engine.dialect.name == "sqlite":
        # The full-text triggers survived (no table copy): the new row is in the index.
        match = sa.text("SELECT count(*) FROM symbol_sets_fts WHERE symbol_sets_fts MATCH :phrase")
        assert db.session.scalar(match, {"phrase": '"after-the-migration"'}) == 1


def test_migrations_that_rebuild_users_keep_every_row_that_references_a_user(empty_database):
    # SQLite alters a table by copying it, dropping the old one and renaming: with foreign keys on,
    # the drop would cascade to memberships and API keys (0004 and 0007 rebuild users).
    upgrade(revision="0003")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    memberships = sa.table(
        "memberships",
        *(sa.column(n, sa.Integer) for n in ("id", "organization_id", "user_id", "level")),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    with db.engine.begin() as connection:
        connection.execute(ORGANIZATIONS.insert().values(id=1, uuid=uuid.uuid4(), name="O", created_at=start))
        connection.execute(
            PROJECTS.insert().values(id=1, uuid=uuid.uuid4(), organization_id=1, name="P", created_at=start)
        )
        connection.execute(
            USERS.insert().values(
                id=1, uuid=uuid.uuid4(), distinct_id="d1", email="u1@example.com", password_hash="x",
                first_name="", last_name="", is_email_verified=False, is_active=True, created_at=start,
            )
        )  # fmt: skip
        connection.execute(
            memberships.insert().values(id=1, organization_id=1, user_id=1, level=15, created_at=start)
        )
        connection.execute(
            KEYS.insert().values(
                id=uuid.uuid4(), user_id=1, label="deploy", secure_value="sha256$1", mask_value="phx_...abcd",
                scopes=["*"], created_at=start,
            )
        )  # fmt: skip

    upgrade()

    with db.engine.begin() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(memberships)).scalar() == 1
        assert connection.execute(sa.select(KEYS.c.label)).scalars().all() == ["deploy"]
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on for the app


def _list_indexes(connection) -> dict[str, tuple]:
    """The list indexes on the three listed tables: name -> (columns, partial condition)."""
    inspector = sa.inspect(connection)
    found = {}
    for table in ("evaluations", "symbol_sets", "releases"):
        for index in inspector.get_indexes(table):
            if "_list_" in index["name"]:
                where = index.get("dialect_options", {}).get(f"{connection.dialect.name}_where")
                found[index["name"]] = (
                    tuple(index["column_names"]),
                    str(where) if where is not None else None,
                )
    return found


def test_0008_list_indexes_end_in_the_key_and_index_failed_sets_apart(empty_database):
    upgrade(revision="0007")
    with db.engine.connect() as connection:
        before = _list_indexes(connection)
    assert before["ix_evaluations_list_created"][0] == ("project_id", "deleted", "created_at")

    upgrade(revision="0008")
    with db.engine.connect() as connection:
        after = _list_indexes(connection)
    assert {name: columns for name, (columns, _) in after.items()} == {
        "ix_evaluations_list_created": ("project_id", "deleted", "created_at", "pk"),
        "ix_evaluations_list_updated": ("project_id", "deleted", "updated_at", "pk"),
        "ix_evaluations_list_name": ("project_id", "deleted", "name", "pk"),
        "ix_evaluations_list_enabled": ("project_id", "deleted", "enabled", "created_at", "pk"),
        "ix_evaluations_list_enabled_name": ("project_id", "deleted", "enabled", "name", "pk"),
        "ix_symbol_sets_list_created": ("project_id", "created_at", "pk"),
        "ix_symbol_sets_list_last_used": ("project_id", "last_used", "pk"),
        "ix_symbol_sets_list_failed": ("project_id", "created_at", "pk"),
        "ix_releases_list_created": ("project_id", "created_at", "id"),
    }
    # Only the failed index is partial: it holds the sets with a failure reason.
    assert [name for name, (_, where) in after.items() if where] == ["ix_symbol_sets_list_failed"]
    assert "failure_reason IS NOT NULL" in after["ix_symbol_sets_list_failed"][1]

    downgrade(revision="0007")
    with db.engine.connect() as connection:
        assert _list_indexes(connection) == before


EVALUATIONS = sa.table(
    "evaluations",
    sa.column("id", sa.Uuid),
    sa.column("project_id", sa.Integer),
    *(sa.column(name, sa.String) for name in ("name", "description", "prompt")),
    *(sa.column(name, sa.Boolean) for name in ("enabled", "deleted")),
    sa.column("conditions", sa.JSON),
    sa.column("version", sa.Integer),
    *(sa.column(name, sa.DateTime(timezone=True)) for name in ("created_at", "updated_at")),
)


def _search_index_names(connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        names = "SELECT name FROM sqlite_master WHERE name LIKE :pattern AND type != 'table'"
        pattern = "evaluations_fts%"
    else:
        names = (
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'evaluations' AND indexname LIKE :pattern"
        )
        pattern = "%trgm"
    return set(connection.execute(sa.text(names), {"pattern": pattern}).scalars())


def _found(term: str) -> list[str]:
    """The names a search of project 1 finds at the head revision (its count must be their number)."""
    query = evaluations.parse_list_query({"search": term}, 100, 100)
    page = evaluations.list_evaluations(db.session.get(Project, 1), query)
    db.session.remove()  # ends the read, so the migrations can take their locks
    assert page.count == len(page.items)
    return sorted(item.name for item in page.items)


def _add_evaluations(rows, table=EVALUATIONS, **values) -> None:
    """Organization 1, its project 1 and an evaluation per (name, description, prompt) in `rows`."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with db.engine.begin() as connection:
        connection.execute(ORGANIZATIONS.insert().values(id=1, uuid=uuid.uuid4(), name="o", created_at=now))
        connection.execute(
            PROJECTS.insert().values(id=1, uuid=uuid.uuid4(), organization_id=1, name="p", created_at=now)
        )
        for name, description, prompt in rows:
            connection.execute(
                table.insert().values(
                    id=uuid.uuid4(), project_id=1, name=name, description=description, prompt=prompt,
                    enabled=True, deleted=False, conditions=[], version=1, created_at=now, updated_at=now,
                    **{column: value(name) for column, value in values.items()},
                )
            )  # fmt: skip


def test_0009_indexes_existing_prompts_and_downgrades_to_name_and_description(empty_database):
    upgrade(revision="0008")
    _add_evaluations((("Tone", "Friendly replies", "Is it polite?"), ("Safety", "", "Harm?")))

    upgrade()

    assert _found("polite") == ["Tone"]  # existing rows' prompts are indexed
    assert _found("harm safety") == ["Safety"]
    with db.engine.begin() as connection:
        connection.execute(
            EVALUATIONS.update().where(EVALUATIONS.c.name == "Safety").values(prompt="Unsafe?")
        )
    assert _found("harm") == []  # the triggers (SQLite) follow prompt edits
    assert _found("unsafe") == ["Safety"]

    downgrade(revision="0008")

    with db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            assert _search_index_names(connection) == {
                "evaluations_fts_insert", "evaluations_fts_delete", "evaluations_fts_update"
            }  # fmt: skip
            match = sa.text("SELECT rowid FROM evaluations_fts WHERE evaluations_fts MATCH :phrase")
            assert len(connection.execute(match, {"phrase": '"friendly"'}).all()) == 1
            with pytest.raises(sa.exc.OperationalError):  # no prompt column any more
                connection.execute(match, {"phrase": 'prompt : "unsafe"'}).all()
        else:
            assert _search_index_names(connection) == {
                "ix_evaluations_name_trgm", "ix_evaluations_description_trgm"
            }  # fmt: skip

    upgrade()

    assert _found("unsafe") == ["Safety"]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            assert _search_index_names(connection) == {"ix_evaluations_search_trgm"}


def test_0010_fills_name_sort_keys_and_orders_names_by_them(empty_database):
    """Existing names get their numeric-aware key; the name list indexes use it; downgrade restores them."""
    upgrade(revision="0010-1")
    with db.engine.connect() as connection:
        before = _list_indexes(connection)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    names = ["eval 10", "Eval 2", "eval 1", "alpha", "EVAL 02b", "Zeta 3"]
    with db.engine.begin() as connection:
        connection.execute(ORGANIZATIONS.insert().values(id=1, uuid=uuid.uuid4(), name="o", created_at=now))
        connection.execute(
            PROJECTS.insert().values(id=1, uuid=uuid.uuid4(), organization_id=1, name="p", created_at=now)
        )
        for name in names:
            connection.execute(
                EVALUATIONS.insert().values(
                    id=uuid.uuid4(), project_id=1, name=name, description="", prompt="?",
                    enabled=False, deleted=False, conditions=[], version=1, created_at=now, updated_at=now,
                )
            )  # fmt: skip

    upgrade(revision="0010")

    query = evaluations.parse_list_query({"order_by": "name"}, 100, 100)
    listed = [item.name for item in evaluations.list_evaluations(db.session.get(Project, 1), query).items]
    db.session.remove()
    assert listed == ["alpha", "eval 1", "Eval 2", "EVAL 02b", "eval 10", "Zeta 3"]
    with db.engine.connect() as connection:
        after = _list_indexes(connection)
    assert after["ix_evaluations_list_name"][0] == ("project_id", "deleted", "name_sort_key", "pk")
    assert after["ix_evaluations_list_enabled_name"][0][3] == "name_sort_key"

    downgrade(revision="0010-1")
    with db.engine.connect() as connection:
        assert _list_indexes(connection) == before
        assert "name_sort_key" not in {c["name"] for c in sa.inspect(connection).get_columns("evaluations")}


USERS_0010 = sa.table(
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
)


def test_0011_gives_existing_memberships_uuids_and_downgrades(empty_database):
    """Every existing membership gets its own uuid (the API's member id) and updated_at = created_at."""
    upgrade(revision="0010")
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with db.engine.begin() as connection:
        connection.execute(ORGANIZATIONS.insert().values(id=1, uuid=uuid.uuid4(), name="o", created_at=now))
        for user_id in (1, 2):
            connection.execute(
                USERS_0010.insert().values(
                    id=user_id, uuid=uuid.uuid4(), distinct_id=f"d{user_id}", email=f"u{user_id}@example.com",
                    password_hash="x", first_name="", last_name="", is_email_verified=False, is_active=True,
                    created_at=now,
                )
            )  # fmt: skip
            connection.execute(
                sa.text(
                    "INSERT INTO memberships (id, organization_id, user_id, level, created_at) "
                    "VALUES (:id, 1, :id, 15, :now)"
                ),
                {"id": user_id, "now": now},
            )

    upgrade(revision="0011")

    with db.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT uuid, updated_at FROM memberships")).all()
    assert len({row[0] for row in rows}) == 2 and all(row[0] for row in rows)
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE memberships SET uuid = (SELECT uuid FROM memberships WHERE id = 1)")
        )
    downgrade(revision="0010")
    with db.engine.connect() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("memberships")}
        assert "uuid" not in columns and not sa.inspect(connection).has_table("invitations")


def test_0012_adds_symbol_set_contents_and_downgrades_without_them(empty_database):
    upgrade(revision="0012")
    columns = {column["name"] for column in sa.inspect(db.engine).get_columns("symbol_sets")}
    assert "contents" in columns
    downgrade(revision="0011")
    columns = {column["name"] for column in sa.inspect(db.engine).get_columns("symbol_sets")}
    assert "contents" not in columns and "content_hash" in columns


def _evaluation_columns(connection) -> set[str]:
    return {column["name"] for column in sa.inspect(connection).get_columns("evaluations")}


# SQLAlchemy does not reflect SQLite's expression indexes (the field ends), and says so.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_0013_fills_search_chars_for_existing_rows_and_downgrades(empty_database):
    upgrade(revision="0009")  # rows as 0010 expects them: it fills their name sort keys
    _add_evaluations((("Quiz 7", "Ab", "Ends in SQ"), ("Tone", "", "Polite?")))
    upgrade(revision="0012")
    with db.engine.connect() as connection:
        before = _list_indexes(connection)

    upgrade()

    with db.engine.connect() as connection:
        [created] = [
            index
            for index in sa.inspect(connection).get_indexes("evaluations")
            if index["name"] == "ix_evaluations_list_created"
        ]
        included = created.get("dialect_options", {}).get("postgresql_include", [])
        assert (*created["column_names"], *included)[-1] == "search_chars"  # count and page read the index
        chars = dict(connection.execute(sa.text("SELECT name, search_chars FROM evaluations")).all())
    letters = {name: {c for i, c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789") if bits >> i & 1}
               for name, bits in chars.items()}  # fmt: skip
    assert letters == {"Quiz 7": set("quiz7abendsq"), "Tone": set("tonepli")}
    assert _found("q") == _found("7") == _found("Z") == ["Quiz 7"]  # the bits of existing rows
    assert _found("o") == ["Tone"]
    assert _found("sq") == ["Quiz 7"]  # at the end of a field
    assert _found("ab") == ["Quiz 7"]  # a whole two-character field
    assert _found("polite") == ["Tone"]

    downgrade(revision="0012")
    with db.engine.connect() as connection:
        assert _list_indexes(connection) == before
        assert "search_chars" not in _evaluation_columns(connection)
        assert "search_text" not in _evaluation_columns(connection)
        assert _search_index_names(connection) == (
            {"evaluations_fts_insert", "evaluations_fts_delete", "evaluations_fts_update"}
            if connection.dialect.name == "sqlite"
            else {"ix_evaluations_search_trgm"}
        )


# Since 0010, a name sort key too.
EVALUATIONS_0010 = sa.table(
    "evaluations", *(sa.column(column.name, column.type) for column in EVALUATIONS.c),
    sa.column("name_sort_key", sa.String),
)  # fmt: skip


def _search_count_objects(connection) -> set[str]:
    """Migration 0015's objects: SQLite's two indexes, PostgreSQL's tables and functions."""
    if connection.dialect.name == "sqlite":
        statement = "SELECT name FROM sqlite_master WHERE name LIKE 'ix_evaluations_search_%'"
    else:
        statement = (
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
            " AND relname LIKE '%%evaluation_search%%' UNION ALL SELECT proname FROM pg_proc"
            " WHERE pronamespace = current_schema()::regnamespace AND proname LIKE 'evaluation_search_%%'"
        )
    return {name for (name,) in connection.exec_driver_sql(statement)}


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_0015_counts_existing_rows_and_downgrades(empty_database):
    upgrade(revision="0014")
    rows = (("Quiz 7", "Ab", "Ends in SQ"), ("Tone", "", "Polite? sq"), ("Temp", "\u212aelvin", ""))
    _add_evaluations(rows, EVALUATIONS_0010, name_sort_key=str.lower)
    with db.engine.connect() as connection:
        before = _search_count_objects(connection)

    upgrade()

    with db.engine.connect() as connection:
        added = _search_count_objects(connection) - before
        if connection.dialect.name == "postgresql":
            assert added == {
                "evaluation_search", "evaluation_search_pkey", "ix_evaluation_search_words",
                "evaluation_search_vocabulary", "ix_evaluation_search_vocabulary",
                "ix_evaluation_search_vocabulary_trgm", "evaluation_search_words", "evaluation_search_added",
                "evaluation_search_changed",
            }  # fmt: skip
            words = dict(connection.exec_driver_sql("SELECT pk, words FROM evaluation_search").all())
            assert sorted(map(sorted, words.values())) == [
                ["7", "ab", "ends", "in", "quiz", "sq"],
                ["kelvin", "temp"],
                ["polite", "sq", "tone"],
            ]
        else:
            assert added == {"ix_evaluations_search_count", "ix_evaluations_search_folded"}
    assert _found("sq") == ["Quiz 7", "Tone"]
    assert _found("polite") == ["Tone"]
    # SQLite's LIKE does not fold KELVIN SIGN, FTS5 does: the partial index's row is rechecked.
    assert _found("kelvin") == (["Temp"] if db.engine.dialect.name == "postgresql" else [])

    downgrade(revision="0014")
    with db.engine.connect() as connection:
        assert _search_count_objects(connection) == before


# Texts the json module wrote before 0016 -> what 0016 leaves (None: as it was).
LEGACY_JSON = {
    "sets": (
        '[{"rollout_percentage": 100, "id": "a", "properties": []}]',
        ' [{"id":"a","properties":[],"rollout_percentage":100}]',
    ),
    "escaped": ('{"b": "\\u00e9 \\u2028", "a": 1.50, "c": null}', ' {"a":1.5,"b":"é \u2028","c":null}'),
    "null": ("null", " null"),
    "marked": (' {"a":1}', None),
    "long": ('{"n": 1000000000000000000000000000000}', None),
    "surrogate": ('{"s": "\\ud800"}', None),
    "infinite": ('{"x": [null, 1e400]}', None),
}


def test_0016_rewrites_json_texts_in_the_canonical_marked_form_in_batches(empty_database):
    upgrade(revision="0015")
    legacy = dict(LEGACY_JSON)
    if db.engine.dialect.name == "sqlite":
        legacy["nan"] = ('{"x": NaN}', None)  # PostgreSQL's json refuses it
        legacy["number"] = ("42", None)  # SQLite stores it as a number
    _add_evaluations(((name, "", "") for name in legacy), EVALUATIONS_0010, name_sort_key=str.lower)
    releases = [{"hash": uuid.uuid4().hex, "meta": f'{{"n": {n}, "b": true}}'} for n in range(1003)]
    with db.engine.begin() as connection:
        postgresql = connection.dialect.name == "postgresql"
        json_text = "CAST(:text AS JSON)" if postgresql else ":text"
        for name, (stored, _) in legacy.items():
            connection.execute(
                sa.text(f"UPDATE evaluations SET conditions = {json_text} WHERE name = :name"),
                {"text": stored, "name": name},
            )
        connection.execute(
            sa.text(
                "INSERT INTO releases (id, project_id, hash_id, version, project_name, metadata, created_at)"
                f" VALUES (:id, 1, :hash, '1', 'p', {json_text.replace(':text', ':meta')}, CURRENT_TIMESTAMP)"
            ),
            [{**row, "id": uuid.UUID(row["hash"]) if postgresql else row["hash"]} for row in releases],
        )

    upgrade()

    with db.engine.connect() as connection:
        names = dict(connection.execute(sa.text("SELECT name, pk FROM evaluations")).all())
        conditions = stored_json_texts(connection, "evaluations", "pk", "conditions")
        metadata = stored_json_texts(connection, "releases", "hash_id", "metadata")
    for name, (stored, rewritten) in legacy.items():
        expected = stored if rewritten is None else rewritten
        assert conditions[names[name]] == (42 if name == "number" else expected), name
    assert metadata == {row["hash"]: f' {{"b":true,"n":{n}}}' for n, row in enumerate(releases)}

    downgrade(revision="0015")  # keeps the texts, which every revision reads
    with db.engine.connect() as connection:
        assert stored_json_texts(connection, "evaluations", "pk", "conditions") == conditions


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_the_migrated_schema_matches_the_models(app):
    """What autogenerate (and `flask db check`) would write after the migrations is nothing: the models
    and the migrations agree, apart from the search objects each database gets by hand."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from webapp.models.hand_made import include_name, include_object

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_name": include_name, "include_object": include_object}
        )
        assert compare_metadata(context, db.metadata) == []
