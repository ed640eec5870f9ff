"""How JSON columns are written and read back (the engine's json_serializer and json_deserializer).

Written: orjson's compact text with sorted keys, the very bytes the API's JSON provider writes for the
value, behind one leading space that marks it as such (JSON allows the space; PostgreSQL's `json` type and
SQLite keep the text as written). A value orjson cannot write as it is (keys that are not text; NaN, an
integer beyond 64 bits or a lone surrogate, which the input checks refuse) is written by the json module,
unmarked, as every row written before this scheme was; so may be a text written by hand.

Read: through the ORM, every text is parsed, whatever its form. A list page (api/driver_values.py) embeds
a marked text as it is, as StoredJSON: no parse and no second encode; it parses any other text.
"""

import json

import orjson

# A text starting with it is `dump`'s own canonical text.
MARK = " "
# orjson writes datetimes and dataclasses its own way where the json module refuses them: refuse them both.
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dump(value) -> str:
    """A value's stored text: the mark and its canonical text, else the json module's (orjson refuses the
    value, or would change it: it writes NaN and the infinities as null)."""
    try:
        canonical = orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value)
    if b"null" in canonical and orjson.loads(canonical) != value:  # NaN != NaN: never equal
        return json.dumps(value)
    return MARK + canonical.decode()


# Each ASCII digit as "0", any other byte as " ": 19 zeros in a row are 19 digits in a row, maybe an
# integer beyond 64 bits, which orjson would read as a float. (A regular expression takes several times
# as long as orjson's whole parse to find them.)
DIGITS_AS_ZEROS = bytes(ord("0") if byte in b"0123456789" else ord(" ") for byte in range(256))
LONG_NUMBER = b"0" * 19


def load(text: str | bytes):
    """A stored text's value, as the json module reads it; orjson reads it several times faster.

    The json module reads what orjson would read differently (long numbers) or refuses (a lone
    surrogate stored before the input checks existed).
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if isinstance(data, bytes) and LONG_NUMBER not in data.translate(DIGITS_AS_ZEROS):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


class StoredJSON:
    """A marked stored text (without its mark), which the JSON provider embeds as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def value(self):
        return load(self.text)


def stored(value):
    """A JSON column's value as the database driver gives it, for a JSON response: a marked text as
    StoredJSON, any other text parsed, a number SQLite stored as one as it is, NULL as None."""
    if isinstance(value, str):
        return StoredJSON(value[1:]) if value.startswith(MARK) else load(value)
    return value
