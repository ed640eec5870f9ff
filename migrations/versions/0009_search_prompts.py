"""evaluation search covers the prompt too: one trigram index over name, description and prompt

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 23:50:00.000000

SQLite: the FTS5 trigram table gets a prompt column (rebuilt from the rows; triggers follow).
PostgreSQL: one pg_trgm GIN index on the expression the search filters on,
`name || ' ' || description || ' ' || prompt`, replaces the two per-column ones, so every word of a
search is one bitmap index scan on one index instead of an OR over columns.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _sqlite_index(columns: tuple[str, ...]) -> list[str]:
    """The FTS5 table over `columns` of evaluations, its triggers, and the statement filling it."""
    names = ", ".join(columns)
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    return [
        f"CREATE VIRTUAL TABLE evaluations_fts USING fts5("
        f"{names}, content='evaluations', content_rowid='pk', tokenize='trigram')",
        "CREATE TRIGGER evaluations_fts_insert AFTER INSERT ON evaluations BEGIN "
        f"INSERT INTO evaluations_fts(rowid, {names}) VALUES (new.pk, {new}); END",
        "CREATE TRIGGER evaluations_fts_delete AFTER DELETE ON evaluations BEGIN "
        f"INSERT INTO evaluations_fts(evaluations_fts, rowid, {names}) VALUES ('delete', old.pk, {old}); END",
        f"CREATE TRIGGER evaluations_fts_update AFTER UPDATE OF {names} ON evaluations BEGIN "
        f"INSERT INTO evaluations_fts(evaluations_fts, rowid, {names}) VALUES ('delete', old.pk, {old}); "
        f"INSERT INTO evaluations_fts(rowid, {names}) VALUES (new.pk, {new}); END",
        "INSERT INTO evaluations_fts(evaluations_fts) VALUES ('rebuild')",
    ]


def _drop_sqlite_index():
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS evaluations_fts_{trigger}")
    op.execute("DROP TABLE IF EXISTS evaluations_fts")


DOCUMENT = "(name || ' ' || description || ' ' || prompt)"


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _drop_sqlite_index()
        for statement in _sqlite_index(("name", "description", "prompt")):
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(f"CREATE INDEX ix_evaluations_search_trgm ON evaluations USING gin ({DOCUMENT} gin_trgm_ops)")
        op.execute("DROP INDEX IF EXISTS ix_evaluations_name_trgm")
        op.execute("DROP INDEX IF EXISTS ix_evaluations_description_trgm")


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _drop_sqlite_index()
        for statement in _sqlite_index(("name", "description")):
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("CREATE INDEX ix_evaluations_name_trgm ON evaluations USING gin (name gin_trgm_ops)")
        op.execute(
            "CREATE INDEX ix_evaluations_description_trgm ON evaluations USING gin (description gin_trgm_ops)"
        )
        op.execute("DROP INDEX IF EXISTS ix_evaluations_search_trgm")
