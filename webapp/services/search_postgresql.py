"""PostgreSQL: how a search word that is not one letter or digit is found in a lowered text column.

The column (e.g. evaluations.search_text, migration 0013) holds the lowered searched fields and has a
`pg_trgm` GIN index. pg_trgm splits the text into words of letters and digits (any other character
separates them), pads each with two spaces before and one after, and indexes every three consecutive
characters: show_trgm('sql') = {"  s", " sq", "ql ", "sql"}.

- Three or more characters: `LIKE lower('%word%')` (escaped), which the index answers with the word's
  trigrams (every one: a sample of them would read fewer posting lists, but a rare word with common
  first, middle and last trigrams, like "helpful", would then recheck thousands of rows) and LIKE
  rechecks. A word with punctuation or non-ASCII characters the same way, with the trigrams the index
  can take from it, or a scan.
- Two ASCII letters or digits ("sq"): no trigram is the word alone, but every occurrence is
  1. followed by an ASCII character: it starts the trigram "sq" + that letter or digit, or "sq " (any
     other ASCII character ends the word). The regex `sq[\\x01-\\x7f]` is answered by the index with
     exactly those 37 trigrams (pg_trgm expands a character class of at most 256 characters);
  2. or at the end of the text: `LIKE '%sq'` is the trigram "sq ";
  3. or followed by a non-ASCII character: the row then matches WIDE_FOLLOWER, whose rows a partial index
     lists (migration 0014; usually few: a non-ASCII letter or digit right after an ASCII one).
  The three OR-ed are a superset of the rows containing the word, found by the indexes; `strpos` keeps
  the rows that contain it. (A `LIKE '%sq%'` alone gives pg_trgm no trigram: a scan of every row.)
- One character other than a letter or digit, or two characters with one: `LIKE` on every row.

A page of a search that matches many rows (WALK_FACTOR times the rows the page reads) walks the order's
index and tests each row (walk_clause): it stops after the page, where the indexes above would visit and
sort every match. Its words are one condition, which no index answers: the planner, whose estimate for
several words multiplies theirs, would otherwise sort.

Every test reads the lowered column and lowers the word with the same lower(), so the rows are those of
`ILIKE '%word%'` on the fields: icontains.

Counts (migration 0015): the trigram index's candidates must each be rechecked, reading its wide row; the
count of a search whose words are all ASCII letters and digits (`counted`) reads the words table instead.
It holds each row's counted columns and its words: the runs of ASCII letters and digits of the lowered
text (a run longer than PIECE_LENGTH as pieces of that length every PIECE_STEP characters). Such a word
occurs in the text exactly when it occurs in one of the row's words (no other character can be part of
an occurrence), so a row matches when its words overlap (`&&`, which the GIN index answers exactly) the
vocabulary's words that contain the search word (LIKE, through the vocabulary's trigram index).
"""

from sqlalchemy import ColumnElement, Text, bindparam, func, literal_column, or_, select

from . import search

# Frozen in migration 0014's partial index (tests check they agree): an ASCII letter or digit followed
# by a non-ASCII character. Written into the SQL as a literal: PostgreSQL uses a partial index only for
# a condition it can see implies the index's own.
WIDE_FOLLOWER = r"[a-z0-9][^\x01-\x7f]"
# The ASCII characters (NUL cannot occur in text).
ASCII_CLASS = r"[\x01-\x7f]"
ASCII_ALPHANUMERIC = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
# A search page walks the order's index when the search matches at least this many times the rows the
# page reads (offset + limit): spread evenly, the walk reads 1/WALK_FACTOR of the rows the count found.
WALK_FACTOR = 20
# Frozen in migration 0015's evaluation_search_words(): a run of letters and digits longer than
# PIECE_LENGTH is kept as pieces of PIECE_LENGTH characters starting every PIECE_STEP characters, so every
# MAX_COUNTED_LENGTH characters of it lie in one piece.
PIECE_LENGTH, PIECE_STEP = 128, 64
MAX_COUNTED_LENGTH = PIECE_LENGTH - PIECE_STEP + 1


def word_shape(word: str) -> str:
    """How `word` is found: "pair" (two ASCII letters or digits) or "like"."""
    return "pair" if len(word) == 2 and set(word.lower()) <= ASCII_ALPHANUMERIC else "like"


def word_params(word: str, name: str) -> dict:
    """The bound values of word_clauses(word_shape(word), `name`) and of walk_clause for `word`."""
    params = {f"{name}_text": word}
    if word_shape(word) == "pair":
        folded = word.lower()
        return params | {name: folded, f"{name}_follow": folded + ASCII_CLASS, f"{name}_end": "%" + folded}
    return params | {name: search.like_pattern(word)}


def _bound(name: str):
    return bindparam(name, type_=Text)


def word_clauses(lowered_text, shape: str, name: str) -> list[ColumnElement]:
    """`lowered_text` contains the word of this shape whose values word_params bound under `name`."""
    if shape == "pair":
        candidates = or_(
            lowered_text.op("~")(_bound(f"{name}_follow")),
            lowered_text.like(_bound(f"{name}_end")),
            lowered_text.op("~")(literal_column(f"'{WIDE_FOLLOWER}'")),
        )
        # strpos, not LIKE: a LIKE '%sq%' would join the index scan as a key that matches every row.
        return [candidates, func.strpos(lowered_text, _bound(name)) > 0]
    # lower() on both sides is what ILIKE does, without lowering each candidate row again.
    return [lowered_text.like(func.lower(_bound(name)), escape="\\")]


def counted(word: str) -> bool:
    """Whether the words table answers `word` exactly: 2 to MAX_COUNTED_LENGTH ASCII letters or digits."""
    return 2 <= len(word) <= MAX_COUNTED_LENGTH and word.isascii() and set(word.lower()) <= ASCII_ALPHANUMERIC


def count_clause(counts, vocabulary, shape: str, name: str) -> ColumnElement:
    """`counts`' row has a word containing the `counted` word of this shape bound under `name`."""
    known = vocabulary.c.word
    if shape == "pair":
        # Every vocabulary word is letters and digits: the pair is followed by one, or ends the word.
        containing = or_(known.op("~")(_bound(f"{name}_follow")), known.like(_bound(f"{name}_end")))
    else:
        containing = known.like(func.lower(_bound(name)), escape="\\")
    return counts.c.words.op("&&")(select(func.array_agg(known)).where(containing).scalar_subquery())


def walks(count: int, rows_read: int) -> bool:
    """Whether a page reading `rows_read` rows (offset + limit) of a search matching `count` walks."""
    return count >= WALK_FACTOR * rows_read


def walk_clause(lowered_text, names: list[str]) -> ColumnElement:
    """Every word bound under `names` (word_params) is in `lowered_text`, as one test no index answers."""
    return func.least(*(func.strpos(lowered_text, func.lower(_bound(f"{name}_text"))) for name in names)) > 0
