"""Numeric-aware sort keys: "eval 2" sorts before "eval 10" on every database.

Neither database can do this with a plain ORDER BY (SQLite has no such collation; PostgreSQL's ICU
"numeric" collations are nondeterministic per server build), so the key is computed here and stored.
"""

import re

DIGIT_RUN = re.compile(r"[0-9]+")
# Digits in a run's length prefix: a name is at most 400 characters, so its runs are shorter than 10,000.
LENGTH_WIDTH = 4
# A PostgreSQL B-tree entry holds at most about 2,700 bytes; the key stays well inside that.
MAX_KEY_BYTES = 1200


def _number(match: re.Match) -> str:
    digits = match.group().lstrip("0") or "0"
    # Its zero-padded length first: a shorter number is smaller; equal lengths compare digit by digit.
    return f"{len(digits):0{LENGTH_WIDTH}d}{digits}"


def natural_sort_key(text: str) -> str:
    """`text` casefolded, each run of ASCII digits replaced by its zero-padded length and its digits.

    Compared by code point (SQLite's BINARY, PostgreSQL's "C"), keys order names as a person reads them:
    "Eval 2" < "eval 10" < "Eval 10a". Names that differ only in case or leading zeros get equal keys; the
    list's tie-break (the primary key) orders those.
    """
    key = DIGIT_RUN.sub(_number, text.casefold())
    encoded = key.encode()
    if len(encoded) <= MAX_KEY_BYTES:
        return key
    return encoded[:MAX_KEY_BYTES].decode("utf-8", "ignore")
