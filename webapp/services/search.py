"""The `search` list filter: PostHog's `icontains` applied to each word of the text, the words AND-ed.

A row matches when every whitespace-separated word occurs, as a case-insensitive substring, in at least one
of the searched fields (different words may match different fields, in any order). `%`, `_` and `\\` are
literal characters.

How each word is found (evaluations; symbol sets use the trigram indexes the same way):
- one letter or digit: a bit test of `search_chars` (migration 0013), which the default order's list index
  carries, so count and page read that index alone;
- three or more characters: the trigram index (SQLite FTS5 `trigram`, PostgreSQL `pg_trgm` on the stored
  lowered text). On SQLite an ASCII word asks the index for a few of its trigrams (all of them, as a
  phrase, costs more than rechecking the candidates) and each candidate is then checked with LIKE;
- anything else (two characters, other single characters) is tested row by row.

Case folding: PostgreSQL folds every letter (ILIKE: lower() on both sides); SQLite folds ASCII letters
(LIKE, as Django's icontains does there), except that a word of three or more characters with a non-ASCII
character is matched by the FTS5 phrase alone, which folds Unicode case.
"""

from sqlalchemy import BigInteger, ColumnElement, Select, and_, func, literal_column, or_, select, text

# A trigram index answers words of at least this many characters.
MIN_INDEXED_LENGTH = 3
# Bit i of a row's `search_chars` says its lowered searched text contains CHARACTERS[i] (migration 0013).
CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
# How many of an ASCII word's trigrams SQLite's full-text index is asked for (LIKE rechecks the rest).
SAMPLED_TRIGRAMS = 3


def words(term: str) -> list[str]:
    """The distinct words of a search, in order (split on whitespace)."""
    return list(dict.fromkeys(term.split()))


def like_pattern(word: str) -> str:
    """`%word%` with LIKE's metacharacters escaped (escape character: backslash)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def icontains(column, word: str, *, sqlite: bool = False) -> ColumnElement:
    # SQLite's LIKE already folds ASCII case, as lower() there does: lower(x) LIKE lower(y) (SQLAlchemy's
    # ilike) gives the same rows, copying every text first.
    if sqlite:
        return column.like(like_pattern(word), escape="\\")
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


def any_column(columns, word: str, *, sqlite: bool = False) -> ColumnElement:
    return or_(*(icontains(column, word, sqlite=sqlite) for column in columns))


def character_bit(word: str) -> int | None:
    """The `search_chars` bit that answers a one-character word, if it has one."""
    if len(word) != 1 or not word.isascii():
        return None
    index = CHARACTERS.find(word.lower())
    return None if index < 0 else 1 << index


def has_character(chars_column, bit: int) -> ColumnElement:
    return chars_column.op("&")(bit) != 0


def trigram_sample(word: str) -> list[str]:
    """The first, a middle and the last trigram of `word`: enough to narrow it to a few candidates."""
    trigrams = [word[start : start + 3] for start in range(len(word) - 2)]
    picks = (trigrams[0], trigrams[len(trigrams) // 2], trigrams[-1])[:SAMPLED_TRIGRAMS]
    return list(dict.fromkeys(picks))


def fts_query(word_list: list[str]) -> str:
    """An FTS5 trigram query every row containing all the words matches: ASCII words by a sample of
    their trigrams (a superset: the caller rechecks them), other words as exact phrases."""
    terms = []
    for word in word_list:
        terms += trigram_sample(word) if word.isascii() else [word]
    return " AND ".join(fts_phrase(term) for term in dict.fromkeys(terms))


def indexed_text_clause(
    term: str, columns, key, *, sqlite: bool, fts_table: str, lowered_text, chars_column
) -> ColumnElement:
    """Every word of `term` is in one of `columns`, through the indexes described above.

    SQLite: `fts_table` indexes `columns` by `key` (the rowid); PostgreSQL: `lowered_text` is their
    lowered text, joined by spaces (no word has one, so none matches across two fields), under a trigram
    index. `chars_column` holds their character-set bits.
    """
    clauses, fts_words = [], []
    for word in words(term):
        bit = character_bit(word)
        if bit is not None:
            clauses.append(has_character(chars_column, bit))
        elif not sqlite:
            # lower() on both sides is what ILIKE does, without lowering each candidate row again.
            clauses.append(lowered_text.like(func.lower(like_pattern(word)), escape="\\"))
        elif len(word) == 2 and word.isascii():
            number = len(clauses)
            fields = [column.key for column in columns]
            rows = text(two_characters(word, key.table.name, fields, fts_table, number))
            rows = rows.bindparams(**two_character_params(word, number)).columns(key)
            clauses.append(key.in_(rows))
            clauses.append(any_column(columns, word, sqlite=True))
        elif len(word) < MIN_INDEXED_LENGTH:
            clauses.append(any_column(columns, word, sqlite=True))
        else:
            fts_words.append(word)
            if word.isascii():
                clauses.append(any_column(columns, word, sqlite=True))
    if fts_words:
        match = text(f"{fts_table} MATCH :search_words").bindparams(search_words=fts_query(fts_words))
        rows = select(literal_column("rowid")).select_from(text(fts_table)).where(match)
        clauses.insert(0, key.in_(rows))
    return and_(*clauses)


def two_characters(word: str, table: str, fields, fts_table: str, number: int) -> str:
    """SQLite: the rowids of candidates for an ASCII two-character word (LIKE rechecks them), as SQL with
    the bind parameters `word_<number>_*`. Each occurrence starts one of the index's trigrams (its
    vocabulary lists those that start with the word: one statement, no scan), unless it ends its field
    (an expression index on each field's last two characters, migration 0013: named, since the planner
    would weigh it by its average rows per value, all rows for descriptions that all end in "s.")."""
    name = f"word_{number}"
    # The trigrams as an OR of FTS5 phrases; with none, the word's own phrase, which matches nothing
    # (it is shorter than a trigram).
    phrases = f"""coalesce(group_concat('"' || replace(term, '"', '""') || '"', ' OR '), :{name}_none)"""
    trigrams = f"SELECT {phrases} FROM {fts_table}_vocab WHERE term >= :{name}_start AND term < :{name}_stop"
    return " UNION ALL ".join(
        [
            f"SELECT rowid FROM {fts_table} WHERE {fts_table} MATCH ({trigrams})",
            *(
                f"SELECT pk FROM {table} INDEXED BY ix_{table}_{field}_end "
                f"WHERE lower(substr({field}, -2)) = :{name}"
                for field in fields
            ),
        ]
    )


def two_character_params(word: str, number: int) -> dict:
    folded = word.lower()
    name = f"word_{number}"
    return {
        name: folded,
        f"{name}_start": folded,
        f"{name}_stop": folded[0] + chr(ord(folded[1]) + 1),
        f"{name}_none": fts_phrase(folded),
    }


def search_column(qualified_name: str, type_=None):
    """A column the ORM models do not map (kept by the database itself), for use in clauses."""
    return literal_column(qualified_name, type_ or BigInteger)
