"""The `search` list filter: PostHog's `icontains` applied to each word of the text, the words AND-ed.

A row matches when every whitespace-separated word occurs, as a case-insensitive substring, in at least one
of the searched fields (different words may match different fields, in any order). `%`, `_` and `\\` are
literal characters.

How each word is found (evaluations; symbol sets use the trigram indexes the same way):
- one letter or digit: a bit test of `search_chars` (migration 0013), which the default order's list index
  carries, so count and page read that index alone;
- SQLite, three or more characters: the FTS5 trigram index. A count asks it for the word's phrase; two
  ASCII characters: the index's trigrams that start with them, or a field's last two characters. Both
  are exact but for FTS5's case folding, which turns two non-ASCII characters into ASCII letters
  (FOLDED_INTO_ASCII): the rows holding one (a partial index lists them, migration 0015) are rechecked
  with LIKE. So a count of the candidates reads an index led by the key (Search.count_table), not every
  candidate's row. A page reads its rows anyway: it asks for a few of an ASCII word's trigrams (the
  whole phrase costs more) and checks each candidate it reads with LIKE;
- PostgreSQL: as services/search_postgresql.py describes (pg_trgm on the stored lowered text; a count
  through the words table of migration 0015);
- anything else (other short words) is tested row by row.

Case folding: PostgreSQL folds every letter (ILIKE: lower() on both sides); SQLite folds ASCII letters
(LIKE, as Django's icontains does there), except that a word of three or more characters with a non-ASCII
character is matched by the FTS5 phrase alone, which folds Unicode case.

Statements are kept per shape: a search is split into its `shape` (the database and how many words of
each kind) and the values of its bound parameters (named per word), so the list's count and page are
built once per shape (services.listing.paginate) and a search costs what a plain list costs in Python.
A page may walk the order's index past a word's candidates instead of sorting them all (Search.for_page).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    bindparam,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnClause, FromClause, TableClause
from sqlalchemy.sql.visitors import InternalTraversal, replacement_traverse

from . import search_postgresql

# A trigram index answers words of at least this many characters.
MIN_INDEXED_LENGTH = 3
# Bit i of a row's `search_chars` says its lowered searched text contains CHARACTERS[i] (migration 0013).
CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
# The characters SQLite's FTS5 folds into ASCII letters, where LIKE does not (KELVIN SIGN, LONG S): frozen
# in migration 0015's partial index (tests check both against FTS5 itself).
FOLDED_INTO_ASCII = "\u212a\u017f"
# How many of an ASCII word's trigrams a page asks SQLite's full-text index for (LIKE rechecks the rest):
# all of them, as a phrase, cost more than rechecking the candidates a page reads.
SAMPLED_TRIGRAMS = 3
# SQLite: a page walks the order's index, testing each entry's key against the candidates, when that reads
# fewer entries than looking up and sorting every candidate would (sqlite_walks): an index entry tested
# costs about an eighth of a candidate looked up and sorted.
WALK_COST_RATIO = 8


@dataclass(frozen=True)
class Search:
    """A search term as SQL: `shape` names the clause (the same for every term with the same number and
    kinds of words on the same database), `params` are the values of its bound parameters and `clause()`
    builds it (only when no statement of that shape is kept yet).

    `walk()`, when set, builds the same test for a page that walks the order's index, when many rows
    match (PostgreSQL: the words as one strpos test; SQLite: its candidate sets only test each entry's
    key, `+pk IN (...)`, instead of being looked up one by one and sorted). SQLite's choice also needs the
    table's largest key, which the count then returns (`key_bound`). `reads_rows`: the page's test reads
    each row it walks, not only the index entry (PostgreSQL's strpos on the stored text), so a first page
    reads the rows directly (listing._page) rather than their keys first.
    """

    shape: tuple
    params: dict[str, Any]
    clause: Callable[[], ColumnElement]
    walk: Callable[[], ColumnElement] | None = None
    key_bound: bool = False
    # What the count reads instead of the listed table, with `count_clause` (default: `clause`) and the
    # list's conditions moved onto its columns of the same names (counted_criteria).
    count_table: FromClause | None = None
    count_clause: Callable[[], ColumnElement] | None = None
    reads_rows: bool = False

    def for_page(self, count: int, rows_read: int, key_bound: int | None = None) -> "Search":
        """The search a page reading `rows_read` rows (offset + limit) of `count` matches runs; `key_bound`
        is the table's largest key when `self.key_bound`."""
        if self.walk is None:
            return self
        if self.key_bound:  # SQLite tests the candidates' keys on each index entry walked
            walks, reads_rows = sqlite_walks(count, rows_read, key_bound), False
        else:  # PostgreSQL's strpos reads each row walked
            walks, reads_rows = search_postgresql.walks(count, rows_read), True
        return Search((*self.shape, "walk"), self.params, self.walk, reads_rows=reads_rows) if walks else self

    def counted_criteria(self, conditions: list[ColumnElement], listed: TableClause) -> list | None:
        """The list's `conditions` and the search as the count reads them from `count_table`: each column
        of the `listed` table replaced by the count table's column of the same name (None if it has none)."""
        table = self.count_table
        missing = []

        def moved(element):
            if isinstance(element, ColumnClause) and element.table is listed:
                if element.name in table.c:
                    return table.c[element.name]
                missing.append(element.name)
            return None

        search = (self.count_clause or self.clause)()
        criteria = [replacement_traverse(clause, {}, moved) for clause in (*conditions, search)]
        return None if missing else criteria


def sqlite_walks(count: int, rows_read: int, key_bound: int | None) -> bool:
    """SQLite: whether a page walks the order's index. The list has at most `key_bound` index entries
    (the table's largest key): walking reads about rows_read * entries / count of them, sorting looks up
    all `count` candidates."""
    return count > 0 and rows_read * (key_bound or 0) <= WALK_COST_RATIO * count * count


def words(term: str) -> list[str]:
    """The distinct words of a search, in order (split on whitespace)."""
    return list(dict.fromkeys(term.split()))


def like_pattern(word: str) -> str:
    """`%word%` with LIKE's metacharacters escaped (escape character: backslash)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def icontains(column, name: str, *, sqlite: bool) -> ColumnElement:
    """`column` contains the LIKE pattern bound as `name` (like_pattern), ignoring case."""
    # SQLite's LIKE already folds ASCII case, as lower() there does: lower(x) LIKE lower(y) (SQLAlchemy's
    # ilike) gives the same rows, copying every text first.
    if sqlite:
        return column.like(bindparam(name), escape="\\")
    return column.ilike(bindparam(name), escape="\\")


def any_column(columns, name: str, *, sqlite: bool) -> ColumnElement:
    """One of `columns` contains the LIKE pattern bound as `name`."""
    return or_(*(icontains(column, name, sqlite=sqlite) for column in columns))


def fts_phrase(word: str) -> str:
    """One FTS5 phrase matching `word` literally (a trigram table finds it as a substring)."""
    return '"' + word.replace('"', '""') + '"'


def fts_rows(table: str, name: str) -> Select:
    """SQLite: the rowids of the FTS5 `table`'s rows that match the query bound as `name`."""
    return select(literal_column("rowid")).select_from(text(table)).where(text(f"{table} MATCH :{name}"))


def character_bit(word: str) -> int | None:
    """The `search_chars` bit that answers a one-character word, if it has one."""
    if len(word) != 1 or not word.isascii():
        return None
    index = CHARACTERS.find(word.lower())
    return None if index < 0 else 1 << index


def has_characters(chars_column) -> ColumnElement:
    """The row's `search_chars` has every bit of the mask bound as `search_chars`."""
    mask = bindparam("search_chars", type_=BigInteger)
    return chars_column.op("&")(mask) == mask


def fts_query(word_list: list[str]) -> str:
    """An FTS5 trigram query of the rows containing all the words (each a phrase: its trigrams in a row)."""
    return " AND ".join(fts_phrase(word) for word in word_list)


def trigram_sample(word: str) -> list[str]:
    """The first, a middle and the last trigram of `word`: enough to narrow it to a few candidates."""
    trigrams = [word[start : start + 3] for start in range(len(word) - 2)]
    picks = (trigrams[0], trigrams[len(trigrams) // 2], trigrams[-1])[:SAMPLED_TRIGRAMS]
    return list(dict.fromkeys(picks))


def fts_sample(word_list: list[str]) -> str:
    """An FTS5 trigram query every row containing all the words matches: ASCII words by a sample of
    their trigrams (a superset: the caller rechecks them), other words as exact phrases."""
    terms = []
    for word in word_list:
        terms += trigram_sample(word) if word.isascii() else [word]
    return " AND ".join(fts_phrase(term) for term in dict.fromkeys(terms))


class IndexedTable(TableClause):
    """SQLite: a table read through the named index (INDEXED BY); other databases: the table itself."""

    inherit_cache = True
    _traverse_internals = [*TableClause._traverse_internals, ("index", InternalTraversal.dp_string)]

    def __init__(self, table: TableClause, index: str):
        super().__init__(table.name, *(ColumnClause(column.name, column.type) for column in table.c))
        self.index = index


@compiles(IndexedTable)
def _table(element, compiler, **kw):
    return compiler.visit_table(element, **kw)


@compiles(IndexedTable, "sqlite")
def _indexed_table(element, compiler, **kw):
    sql = compiler.visit_table(element, **kw)
    return f"{sql} INDEXED BY {element.index}" if kw.get("asfrom") else sql


@dataclass(frozen=True)
class TextIndex:
    """What finds an evaluation-like table's rows by the words in its text columns.

    SQLite: `fts_table` indexes `columns` by `key` (the rowid); PostgreSQL: `lowered_text` is their
    lowered text, joined by spaces (no word has one, so none matches across two fields), under a trigram
    index. `chars_column` holds their character-set bits. PostgreSQL's counts read `counts` (a row per
    row: the counted columns, `search_chars` and `words`) and `vocabulary` (every `word`), migration 0015.
    """

    columns: Sequence[ColumnElement]
    key: ColumnElement
    fts_table: str
    lowered_text: ColumnElement
    chars_column: ColumnElement
    counts: TableClause | None = None
    vocabulary: TableClause | None = None

    def search(self, term: str, dialect: str) -> Search:
        """Every word of `term` is in one of the columns, through the indexes described above."""
        word_list = words(term)
        mask = 0
        for word in word_list:
            bit = character_bit(word)
            if bit is not None:
                mask |= bit
        others = [word for word in word_list if character_bit(word) is None]

        def with_mask(clauses: list[ColumnElement], chars_column=self.chars_column) -> ColumnElement:
            if mask:
                # First: the cheapest test, answered by the default order's index.
                clauses.insert(0, has_characters(chars_column))
            return and_(*clauses)

        if dialect != "postgresql":
            shape, params, build, sqlite_walk, count = self._sqlite(others)
            if mask:
                params["search_chars"] = mask
            if sqlite_walk is None:
                return Search((dialect, bool(mask), *shape), params, lambda: with_mask(build()))
            # Candidate sets: walked past by a page, counted exactly from the index led by the key.
            return Search(
                (dialect, bool(mask), *shape),
                params,
                lambda: with_mask(build()),
                lambda: with_mask(sqlite_walk()),
                key_bound=True,
                count_table=self.sqlite_count_table,
                count_clause=lambda: with_mask(count()),
            )

        shape, params, build, count = self._postgresql(others)
        if mask:
            params["search_chars"] = mask

        def walk() -> ColumnElement:
            names = [f"search_word_{number}" for number in range(len(others))]
            return with_mask([search_postgresql.walk_clause(self.lowered_text, names)])

        counted = count is not None and self.counts is not None
        return Search(
            (dialect, bool(mask), *shape),
            params,
            lambda: with_mask(build()),
            walk if others else None,
            count_table=self.counts if counted else None,
            count_clause=(lambda: with_mask(count(), self.counts.c.search_chars)) if counted else None,
        )

    @cached_property
    def sqlite_count_table(self) -> IndexedTable:
        """SQLite: the table read through the index led by the key holding every column a count tests."""
        return IndexedTable(self.key.table, f"ix_{self.key.table.name}_search_count")

    def _sqlite(self, word_list: list[str]):
        """SQLite: (shape, params, clauses builder, walked clauses builder or None) for words that are not
        one letter or digit; candidate sets (full-text or two-character) can be walked past."""
        two, short, long_ascii, long_other = [], [], [], []
        for word in word_list:
            if len(word) == 2 and word.isascii():
                two.append(word)
            elif len(word) < MIN_INDEXED_LENGTH:
                short.append(word)
            elif word.isascii():
                long_ascii.append(word)
            else:
                long_other.append(word)
        params = {}
        for number, word in enumerate(two):
            params |= two_character_params(word, f"search_two_{number}")
        for number, word in enumerate(short):
            params[f"search_short_{number}"] = like_pattern(word)
        for number, word in enumerate(long_ascii):
            params[f"search_word_{number}"] = like_pattern(word)
        fts_words = long_ascii + long_other
        if fts_words:
            params["search_fts"] = fts_sample(fts_words)
        if long_ascii:
            params["search_phrases"] = fts_query(fts_words)
        counts = (len(two), len(short), len(long_ascii), bool(fts_words))
        table, fields = self.key.table.name, [column.key for column in self.columns]
        two_likes = [f"search_two_{n}_like" for n in range(counts[0])]
        word_likes = [f"search_word_{n}" for n in range(counts[2])]

        def clauses(walk: bool = False, count: bool = False) -> list[ColumnElement]:
            """A page's clauses (`walk`: past the order's index), or the count's, whose candidates are
            exact: whole phrases, rechecked only where FTS5 folds into ASCII (folded_mismatches)."""
            # Walking: `+pk` keeps SQLite from driving the plan by the candidates' keys.
            key = literal_column(f"+{table}.{self.key.name}") if walk else self.key
            clauses = []
            if counts[3]:
                query = "search_phrases" if count and counts[2] else "search_fts"
                clauses.append(key.in_(fts_rows(self.fts_table, query)))
            for number in range(counts[0]):
                rows = two_characters(table, fields, self.fts_table, f"search_two_{number}")
                clauses.append(key.in_(text(rows).columns(self.key)))
            rechecked = two_likes + word_likes if count else two_likes
            if rechecked:
                mismatches = folded_mismatches(table, fields, rechecked)
                clauses.append(key.not_in(text(mismatches).columns(self.key)))
            if not count:
                # A page reads its rows anyway: a sample of the words' trigrams, then LIKE, costs less.
                clauses += [any_column(self.columns, name, sqlite=True) for name in word_likes]
            clauses += [any_column(self.columns, f"search_short_{n}", sqlite=True) for n in range(counts[1])]
            return clauses

        walk = (lambda: clauses(walk=True)) if two or fts_words else None
        return counts, params, clauses, walk, (lambda: clauses(count=True))

    # --- PostgreSQL ---------------------------------------------------------------------------

    def _postgresql(self, word_list: list[str]):
        """PostgreSQL: (shape, params, clauses builder, count clauses builder or None) for words that are
        not one letter or digit, each found as services/search_postgresql.py says; the count's clauses
        test the words table (`counts`) when every word is one it answers."""
        names = [f"search_word_{number}" for number in range(len(word_list))]
        shapes = tuple(search_postgresql.word_shape(word) for word in word_list)
        params = {}
        for name, word in zip(names, word_list, strict=True):
            params |= search_postgresql.word_params(word, name)

        def build() -> list[ColumnElement]:
            clauses = []
            for name, shape in zip(names, shapes, strict=True):
                clauses += search_postgresql.word_clauses(self.lowered_text, shape, name)
            return clauses

        def count() -> list[ColumnElement]:
            return [
                search_postgresql.count_clause(self.counts, self.vocabulary, shape, name)
                for name, shape in zip(names, shapes, strict=True)
            ]

        counted = bool(word_list) and all(map(search_postgresql.counted, word_list))
        return (*shapes, counted), params, build, count if counted else None


def folded_mismatches(table: str, fields, names: list[str]) -> str:
    """SQLite: the keys of the rows whose text FTS5 folds into ASCII differently from LIKE (a partial
    index lists them, migration 0015) and that lack one of the words whose LIKE patterns are bound under
    `names`: the only candidates the indexes give that LIKE would not."""
    folded = f"({' || '.join(fields)}) GLOB '*[{FOLDED_INTO_ASCII}]*'"
    words_found = " AND ".join(
        "(" + " OR ".join(f"{field} LIKE :{name} ESCAPE '\\'" for field in fields) + ")" for name in names
    )
    index = f"ix_{table}_search_folded"
    return f"SELECT rowid FROM {table} INDEXED BY {index} WHERE {folded} AND NOT ({words_found})"


def two_characters(table: str, fields, fts_table: str, name: str) -> str:
    """SQLite: the rowids of the rows holding an ASCII two-character word (and those FTS5's case folding
    adds: folded_mismatches), as SQL with the bind parameters `<name>*` (two_character_params).
    Each occurrence starts one of the index's
    trigrams (its vocabulary lists those that start with the word: one statement, no scan), unless it ends
    its field (an expression index on each field's last two characters, migration 0013: named, since the
    planner would weigh it by its average rows per value, all rows for descriptions that all end in "s.")."""
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


def two_character_params(word: str, name: str) -> dict:
    """The values of two_characters' parameters for `word`, and `<name>_like`: its LIKE pattern."""
    folded = word.lower()
    return {
        name: folded,
        f"{name}_start": folded,
        f"{name}_stop": folded[0] + chr(ord(folded[1]) + 1),
        f"{name}_none": fts_phrase(folded),
        f"{name}_like": like_pattern(word),
    }


def search_column(qualified_name: str, type_=None):
    """A column the ORM models do not map (kept by the database itself), for use in clauses."""
    return literal_column(qualified_name, type_ or BigInteger)
