"""The `search` list filter: PostHog's `icontains` applied to each word of the text, the words AND-ed.

A row matches when every whitespace-separated word occurs, as a case-insensitive substring, in at least one
of the searched fields (different words may match different fields, in any order). `%`, `_` and `\\` are
literal characters. Words of three or more characters use the trigram indexes (SQLite FTS5 `trigram`,
PostgreSQL `pg_trgm`); shorter words cannot be narrowed by a trigram index and are tested row by row.

Case folding: PostgreSQL folds every letter (ILIKE); SQLite folds every letter for words of three or more
characters (FTS5 trigram folds Unicode case) but only ASCII letters for shorter words (LIKE).
"""

from sqlalchemy import ColumnElement, Select, and_, literal_column, or_, select, text

# A trigram index answers words of at least this many characters.
MIN_INDEXED_LENGTH = 3


def words(term: str) -> list[str]:
    """The distinct words of a search, in order (split on whitespace)."""
    return list(dict.fromkeys(term.split()))


def like_pattern(word: str) -> str:
    """`%word%` with LIKE's metacharacters escaped (escape character: backslash)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def icontains(column, word: str) -> ColumnElement:
    return column.ilike(like_pattern(word), escape="\\")


def fts_phrase(word: str) -> str:
    """One FTS5 phrase matching `word` literally (a trigram table finds it as a substring)."""
    return '"' + word.replace('"', '""') + '"'


def fts_rows(table: str, word_list: list[str], name: str) -> Select:
    """The rowids of the FTS5 `table`'s rows whose indexed columns contain every word: one index lookup."""
    query = " AND ".join(fts_phrase(word) for word in word_list)
    match = text(f"{table} MATCH :{name}").bindparams(**{name: query})
    return select(literal_column("rowid")).select_from(text(table)).where(match)


def every_word(term: str, match_word) -> ColumnElement:
    """AND of `match_word(word)` over the words of `term`."""
    return and_(*(match_word(word) for word in words(term)))


def any_column(columns, word: str) -> ColumnElement:
    return or_(*(icontains(column, word) for column in columns))
