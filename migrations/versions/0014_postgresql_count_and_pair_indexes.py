"""PostgreSQL: narrow indexes for list counts, and the rows a two-character search word must scan

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 05:00:00.000000

Counts: a count of a whole list reads one index entry per row. The list indexes carry the order's column
and the key, so each row has its own entry; an index on the counted columns alone keeps one entry per
distinct value with the list of its rows (B-tree deduplication): the same count reads a sixth of the
pages for a third less CPU (100,000 evaluations: 92 pages instead of 496). The evaluations' one ends in
the character bits (0013), which take few distinct values: a one-character search counts from it too.

Two-character words (services/search_postgresql.py): every occurrence of an ASCII letter-or-digit pair
inside the lowered text is followed by another ASCII character (then it starts a trigram of the pg_trgm
index: the pair and a letter or digit, or the pair at the end of a word), or ends the text (a LIKE
'%xy' finds it through the index), or is followed by a non-ASCII character: those rows, usually few, are
listed by a partial index and rechecked. SQLite answers these from its own indexes (0013); nothing
changes there.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Frozen copy of services/search_postgresql.WIDE_FOLLOWER (tests check they agree): an ASCII letter or
# digit followed by a non-ASCII character, in the lowered text.
WIDE_FOLLOWER = r"[a-z0-9][^\x01-\x7f]"
INDEXES = {
    "ix_evaluations_count": "evaluations (project_id, deleted, enabled, search_chars)",
    "ix_symbol_sets_count": "symbol_sets (project_id)",
    "ix_evaluations_search_wide": f"evaluations (project_id) WHERE search_text ~ '{WIDE_FOLLOWER}'",
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {definition}")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
