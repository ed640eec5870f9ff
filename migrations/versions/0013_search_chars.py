"""evaluation search: bits for 1-character words, SQLite's index for 2-character ones, a lowered copy on PostgreSQL

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 02:00:00.000000

`search_chars`: bit i is set when the lowered name, description or prompt contains CHARACTERS[i], so a
one-character word (a letter or digit) is a bit test instead of a substring scan of every row. The list
index of the default order ends in it, so a count and a page read that index alone.

SQLite: a plain column kept by triggers on insert and on updates of the searched fields (lower() folds
ASCII letters there, as LIKE does). A two-character word occurs at the start of one of the full-text
index's trigrams (an fts5vocab table lists those that start with it) or at the end of a field (three
expression indexes on each field's last two characters).

PostgreSQL: a stored generated column (lower() folds every letter, as ILIKE does), and `search_text`, the
stored lowered name, description and prompt: its trigram index replaces 0009's expression index, and
`search_text LIKE lower(pattern)` is ILIKE without lowering every candidate row again (a quarter of the
recheck's time).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# Frozen copy of webapp.services.search.CHARACTERS (tests check they agree).
CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
FIELDS = "{0}name || ' ' || {0}description || ' ' || {0}prompt"
CREATED = ("project_id", "deleted", "created_at", "pk")


def _bits(text: str, find: str) -> str:
    """SQL for the character-set bits of the lowered `text` (`find` locates a character)."""
    return " | ".join(f"(CASE WHEN {find}({text}, '{c}') > 0 THEN {1 << i} ELSE 0 END)" for i, c in
                      enumerate(CHARACTERS))


def _sqlite_bits(prefix: str) -> str:
    # One lower() per row: the sub-select names it once for all 36 tests.
    return f"(SELECT {_bits('d', 'instr')} FROM (SELECT lower({FIELDS.format(prefix)}) AS d))"


# SQLite, two-character words: the index's trigrams that start with the word (fts5vocab lists them), and
# the fields that end with it (no trigram starts there).
SQLITE_ENDS = {f"ix_evaluations_{field}_end": field for field in ("name", "description", "prompt")}
SQLITE_VOCABULARY = "CREATE VIRTUAL TABLE evaluations_fts_vocab USING fts5vocab(evaluations_fts, 'row')"

SQLITE_TRIGGERS = {
    "evaluations_search_chars_insert": "AFTER INSERT ON evaluations",
    "evaluations_search_chars_update": "AFTER UPDATE OF name, description, prompt ON evaluations",
}


def _upgrade_sqlite():
    op.execute("ALTER TABLE evaluations ADD COLUMN search_chars INTEGER NOT NULL DEFAULT 0")
    for name, event in SQLITE_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} {event} BEGIN "
            f"UPDATE evaluations SET search_chars = {_sqlite_bits('new.')} WHERE pk = new.pk; END"
        )
    op.execute(f"UPDATE evaluations SET search_chars = {_sqlite_bits('evaluations.')}")
    op.execute(SQLITE_VOCABULARY)
    for name, field in SQLITE_ENDS.items():
        op.execute(f"CREATE INDEX {name} ON evaluations (lower(substr({field}, -2)))")


def _upgrade_postgresql():
    # plpgsql: never inlined, so the lowered text is computed once per row, not once per character.
    op.execute(
        "CREATE FUNCTION evaluation_search_chars(d text) RETURNS bigint LANGUAGE plpgsql IMMUTABLE "
        f"PARALLEL SAFE AS $$ BEGIN RETURN {_bits('d', 'strpos')}; END $$"
    )
    lowered = f"lower({FIELDS.format('')})"
    op.execute(
        f"ALTER TABLE evaluations ADD COLUMN search_text text GENERATED ALWAYS AS ({lowered}) STORED, "
        "ADD COLUMN search_chars bigint GENERATED ALWAYS AS "
        f"(evaluation_search_chars({lowered})) STORED"
    )
    op.execute("DROP INDEX IF EXISTS ix_evaluations_search_trgm")
    op.execute("CREATE INDEX ix_evaluations_search_trgm ON evaluations USING gin (search_text gin_trgm_ops)")


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _upgrade_sqlite()
        chars = ", search_chars"
    elif dialect == "postgresql":
        _upgrade_postgresql()
        chars = ") INCLUDE (search_chars"
    else:
        return
    op.execute("DROP INDEX ix_evaluations_list_created")
    op.execute(f"CREATE INDEX ix_evaluations_list_created ON evaluations ({', '.join(CREATED)}{chars})")


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return
    op.execute("DROP INDEX ix_evaluations_list_created")
    op.execute(f"CREATE INDEX ix_evaluations_list_created ON evaluations ({', '.join(CREATED)})")
    if dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        for name in SQLITE_ENDS:
            op.execute(f"DROP INDEX {name}")
        op.execute("DROP TABLE evaluations_fts_vocab")
        op.execute("ALTER TABLE evaluations DROP COLUMN search_chars")
    else:
        op.execute("DROP INDEX ix_evaluations_search_trgm")
        op.execute("ALTER TABLE evaluations DROP COLUMN search_chars, DROP COLUMN search_text")
        op.execute("DROP FUNCTION evaluation_search_chars(text)")
        op.execute(
            "CREATE INDEX ix_evaluations_search_trgm ON evaluations USING gin "
            f"(({FIELDS.format('')}) gin_trgm_ops)"
        )
