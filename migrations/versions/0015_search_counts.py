"""evaluation search counts without rechecking every match: exact candidates and narrow rows to count

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 08:10:00.000000

A search's exact count used to read every candidate's row to recheck it (thousands of wide rows for a
common word). This revision lets the indexes give exact matches, so a count reads only narrow entries
(services/search.py and search_postgresql.py describe the statements):

SQLite: the FTS5 trigram phrase of a whole word is exact up to case folding: FTS5 folds two non-ASCII
characters into ASCII letters (FOLDED_INTO_ASCII: KELVIN SIGN into "k", LONG S into "s") where LIKE does
not. A partial index lists the rows containing one of them (usually none), the only ones a search still
rechecks with LIKE; and an index led by the key, holding every column a count tests, counts the
candidates without reading their rows.

PostgreSQL: `evaluation_search` keeps, per evaluation, the columns a list's count filters on and the
words of its lowered searched text (runs of ASCII letters and digits; a run longer than 128 characters
as overlapping 128-character pieces every 64, so any 65 characters of it lie in one piece) under a GIN
index, whose matches of `words && array[...]` are exact: a count visits only these short rows, never
rechecks. `evaluation_search_vocabulary` lists every word ever indexed (never pruned: an old word only
adds an empty key to a search), so a search word's rows are those holding a word that contains it.
Triggers keep both in step: once per insert statement (over all its rows: a bulk insert's thousand rows
at a time), and per updated row whose searched or counted columns changed.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Frozen copy of webapp.services.search.FOLDED_INTO_ASCII (tests check they agree with FTS5 itself).
FOLDED_INTO_ASCII = "\u212a\u017f"
SQLITE_FOLDED = f"(name || description || prompt) GLOB '*[{FOLDED_INTO_ASCII}]*'"
SQLITE_INDEXES = {
    "ix_evaluations_search_count": "evaluations (pk, project_id, deleted, enabled, search_chars)",
    "ix_evaluations_search_folded": f"evaluations (pk) WHERE {SQLITE_FOLDED}",
}

# Frozen copies of webapp.services.search_postgresql.PIECE_LENGTH and PIECE_STEP.
PIECE_LENGTH, PIECE_STEP = 128, 64
POSTGRESQL_WORDS = f"""
CREATE FUNCTION evaluation_search_words(lowered text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT CASE WHEN length(run) <= {PIECE_LENGTH} THEN run
                                            ELSE substr(run, start, {PIECE_LENGTH}) END), '{{}}')
    FROM regexp_split_to_table(lowered, '[^a-z0-9]+') AS run,
         generate_series(1, greatest(length(run) - {PIECE_STEP}, 1), {PIECE_STEP}) AS start
    WHERE run <> ''
$$
"""
POSTGRESQL_TABLES = (
    """
    CREATE TABLE evaluation_search (
        pk integer PRIMARY KEY REFERENCES evaluations (pk) ON DELETE CASCADE,
        project_id integer NOT NULL,
        deleted boolean NOT NULL,
        enabled boolean NOT NULL,
        search_chars bigint NOT NULL,
        words text[] NOT NULL
    )
    """,
    "CREATE INDEX ix_evaluation_search_words ON evaluation_search USING gin (words)",
    "CREATE TABLE evaluation_search_vocabulary (word text NOT NULL)",
    "CREATE INDEX ix_evaluation_search_vocabulary ON evaluation_search_vocabulary (word)",
    "CREATE INDEX ix_evaluation_search_vocabulary_trgm ON evaluation_search_vocabulary "
    "USING gin (word gin_trgm_ops)",
)
# Words a concurrent writer is adding may be added twice (no unique key, so no writer waits on another's).
VOCABULARY_INSERT = """
    INSERT INTO evaluation_search_vocabulary (word)
    SELECT DISTINCT added.word FROM {words} AS added (word)
    WHERE NOT EXISTS (SELECT FROM evaluation_search_vocabulary known WHERE known.word = added.word)
"""
# Inserts: once per statement, over all its rows (a bulk insert's thousand rows at a time).
POSTGRESQL_ADDED = f"""
CREATE FUNCTION evaluation_search_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH indexed AS (
        INSERT INTO evaluation_search (pk, project_id, deleted, enabled, search_chars, words)
        SELECT pk, project_id, deleted, enabled, search_chars, evaluation_search_words(search_text)
        FROM added_rows
        RETURNING words
    )
    {VOCABULARY_INSERT.format(words="indexed, unnest(indexed.words)")};
    RETURN NULL;
END
$$
"""
# Updates of the searched, counted or key columns: row by row.
POSTGRESQL_CHANGED = f"""
CREATE FUNCTION evaluation_search_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_words text[] := evaluation_search_words(NEW.search_text);
BEGIN
    UPDATE evaluation_search SET project_id = NEW.project_id, deleted = NEW.deleted, enabled = NEW.enabled,
        search_chars = NEW.search_chars, words = row_words
    WHERE pk = NEW.pk;
    {VOCABULARY_INSERT.format(words="unnest(row_words)")};
    RETURN NULL;
END
$$
"""
POSTGRESQL_TRIGGERS = {
    "evaluation_search_insert": (
        "AFTER INSERT ON evaluations REFERENCING NEW TABLE AS added_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION evaluation_search_added()"
    ),
    "evaluation_search_update": (
        "AFTER UPDATE ON evaluations FOR EACH ROW WHEN ("
        + " OR ".join(
            f"OLD.{column} IS DISTINCT FROM NEW.{column}"
            for column in ("project_id", "deleted", "enabled", "search_text")
        )
        + ") EXECUTE FUNCTION evaluation_search_changed()"
    ),
}
FUNCTIONS = ("evaluation_search_added()", "evaluation_search_changed()", "evaluation_search_words(text)")


def _upgrade_postgresql():
    op.execute(POSTGRESQL_WORDS)
    for statement in POSTGRESQL_TABLES:
        op.execute(statement)
    op.execute(
        "INSERT INTO evaluation_search (pk, project_id, deleted, enabled, search_chars, words) "
        "SELECT pk, project_id, deleted, enabled, search_chars, evaluation_search_words(search_text) "
        "FROM evaluations"
    )
    op.execute(
        "INSERT INTO evaluation_search_vocabulary (word) SELECT DISTINCT unnest(words) FROM evaluation_search"
    )
    op.execute(POSTGRESQL_ADDED)
    op.execute(POSTGRESQL_CHANGED)
    for name, definition in POSTGRESQL_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {definition}")


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name, definition in SQLITE_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {definition}")
    elif dialect == "postgresql":
        _upgrade_postgresql()


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in SQLITE_INDEXES:
            op.execute(f"DROP INDEX {name}")
    elif dialect == "postgresql":
        for name in POSTGRESQL_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON evaluations")
        op.execute("DROP TABLE evaluation_search_vocabulary")
        op.execute("DROP TABLE evaluation_search")
        for function in FUNCTIONS:
            op.execute(f"DROP FUNCTION {function}")
