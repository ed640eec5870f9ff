"""Schema objects the migrations make by hand, per database, and the models leave out on purpose.

The search machinery differs by dialect (SQLite: FTS5 tables, triggers and expression indexes; PostgreSQL:
generated columns and pg_trgm indexes), so no model can declare it. Autogenerate (migrations/env.py) and
the test that the migrated schema matches the models (tests/test_migrations.py) skip exactly these names;
anything else that differs is drift.
"""

# Tables (SQLite's full-text index and its shadow tables; PostgreSQL has none).
FTS_TABLE_SUFFIXES = tuple(
    f"_fts{suffix}" for suffix in ("", "_data", "_idx", "_content", "_docsize", "_config", "_vocab")
)
# PostgreSQL's search counts (migration 0015): each evaluation's counted columns and words, and every word.
TABLES = frozenset({"evaluation_search", "evaluation_search_vocabulary"})
# (table, column) pairs kept by triggers (SQLite) or generated (PostgreSQL), migration 0013.
COLUMNS = frozenset({("evaluations", "search_chars"), ("evaluations", "search_text")})
# Indexes over expressions, operator classes or the columns above (migrations 0009, 0013), and the
# created-order index, which ends in search_chars on SQLite and INCLUDEs it on PostgreSQL.
INDEXES = frozenset(
    {
        "ix_evaluations_search_trgm",
        "ix_evaluations_name_trgm",
        "ix_evaluations_description_trgm",
        "ix_evaluations_name_end",
        "ix_evaluations_description_end",
        "ix_evaluations_prompt_end",
        "ix_evaluations_list_created",
        "ix_symbol_sets_ref_trgm",
        # PostgreSQL only (migration 0014): count indexes and the rows two-character words must recheck.
        "ix_evaluations_count",
        "ix_symbol_sets_count",
        "ix_evaluations_search_wide",
        # SQLite only (migration 0015): counts of a search's candidates, and the rows its words recheck.
        "ix_evaluations_search_count",
        "ix_evaluations_search_folded",
    }
)
# The benchmark's marker of its seed (bench/api_list.py), when autogenerate runs against that database.
OTHER_TABLES = frozenset({"bench_api_list_seed"})


def include_name(name, type_, parent_names) -> bool:
    """Alembic's include_name hook (reflected names): leave the hand-made tables out."""
    return type_ != "table" or not (
        name.endswith(FTS_TABLE_SUFFIXES) or name in TABLES or name in OTHER_TABLES
    )


def include_object(object_, name, type_, reflected, compare_to) -> bool:
    """Alembic's include_object hook (both sides): leave the hand-made columns and indexes out."""
    if type_ == "column":
        return (object_.table.name, name) not in COLUMNS
    if type_ == "index":
        return name not in INDEXES
    return True
