"""Input primitives shared by every caller: the API, the web forms, the query strings and the commands.

Python's own parsers are too lenient for input: int() and float() take "²", "٣", " 7 " and "1_000",
uuid.UUID() takes non-ASCII digits, json.loads() takes NaN, and a str may hold NUL or a lone UTF-16
surrogate that no page can encode (and PostgreSQL refuses NUL). Everything here is strict ASCII and
bounded; the checks raise ValidationError(attr, code, detail), so a value that passed can always be
stored and shown again.
"""

import json
import math
import re
import uuid
from collections.abc import Iterable
from typing import Any

from .errors import ValidationError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Integer primary keys (projects, users) are 32-bit on PostgreSQL.
INT32_MAX = 2**31 - 1
MAX_JSON_DEPTH = 32
MAX_NUMBER_DIGITS = 400

_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
_UUID = re.compile(UUID_PATTERN.strip("^$"))
_SURROGATE = re.compile("[\ud800-\udfff]")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def shown(value: Any, limit: int = 40) -> str:
    """`value` quoted for an error message: short, printable, and safe to encode."""
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return f"'{text[:limit]}…'" if len(text) > limit else f"'{text}'"


# --- text ---------------------------------------------------------------------------------


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored or shown (a NUL or a lone surrogate), else None."""
    if "\x00" in value:
        return "The text may not contain null characters."
    if not value.isascii() and _SURROGATE.search(value):
        return "The text contains a lone UTF-16 surrogate, which is not a character."
    return None


def printable(value: str) -> str:
    """`value` with any lone surrogate replaced by U+FFFD, so it can be encoded as UTF-8."""
    return _SURROGATE.sub("\ufffd", value) if not value.isascii() else value


def clean_text(value: str, attr: str | None) -> str:
    """`value` unchanged when both databases can store it and a page can show it."""
    problem = text_problem(value)
    if problem:
        raise ValidationError(attr, "invalid", problem)
    return value


def text(value: Any, attr: str, *, max_length: int | None = None, allow_blank: bool = False) -> str:
    """A stripped string without NUL or lone surrogates; blank or too long is an error."""
    if not isinstance(value, str):
        raise ValidationError(attr, "invalid", "Not a valid string.")
    value = clean_text(value, attr).strip()
    if not value and not allow_blank:
        raise ValidationError(attr, "blank", "This field may not be blank.")
    if max_length is not None and len(value) > max_length:
        raise ValidationError(
            attr, "max_length", f"Ensure this field has no more than {max_length} characters."
        )
    return value


# --- numbers ------------------------------------------------------------------------------


def integer(value: Any, attr: str | None, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """An int, or ASCII digits with an optional minus sign and nothing else, within the bounds."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value):
        if len(value.lstrip("-").lstrip("0")) > len(str(max(abs(minimum), abs(maximum)))):
            # Out of range however it reads; never hand int() thousands of digits.
            bound = minimum if value.startswith("-") else maximum
            raise _out_of_range(attr, minimum, maximum, bound)
        number = int(value)
    else:
        raise ValidationError(attr, "invalid", f"{shown(value)} is not a whole number.")
    if number < minimum:
        raise _out_of_range(attr, minimum, maximum, minimum)
    if number > maximum:
        raise _out_of_range(attr, minimum, maximum, maximum)
    return number


def _out_of_range(attr: str | None, minimum: int, maximum: int, bound: int) -> ValidationError:
    name = attr or "The number"
    if bound == minimum:
        return ValidationError(attr, "invalid", f"{name} must be {minimum} or more.")
    return ValidationError(attr, "invalid", f"{name} must be {maximum} or less.")


def is_finite_number(value: Any) -> bool:
    """A JSON number a database stores and every client parses: no bool, NaN or infinity."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def number_from_text(value: str) -> int | float | None:
    """The finite number that ASCII decimal text spells ("12", "-0.5", "1e2"), else None."""
    value = value.strip()
    if len(value) > MAX_NUMBER_DIGITS or not _DECIMAL.fullmatch(value):
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


# --- booleans and ids ---------------------------------------------------------------------


def boolean(value: Any, attr: str | None) -> bool:
    """true/false, 1/0, yes/no, on/off (any case), or a JSON boolean or 0/1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.isascii():
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValidationError(attr, "invalid", f"{shown(value)} is not a valid boolean; use true or false.")


def parse_uuid(value: Any) -> uuid.UUID | None:
    """A UUID from a UUID or its ASCII hex text (with or without hyphens), else None."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str) and _UUID.fullmatch(value):
        return uuid.UUID(value)
    return None


def uuid_list(value: str | Iterable[str], attr: str) -> list[uuid.UUID]:
    """UUIDs from comma-separated text or a list of texts; empty parts are skipped."""
    parts = value.split(",") if isinstance(value, str) else [p for item in value for p in item.split(",")]
    result = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        key = parse_uuid(part)
        if key is None:
            raise ValidationError(attr, "invalid", f"{shown(part)} is not a valid UUID.")
        result.append(key)
    return result


# --- JSON ---------------------------------------------------------------------------------


class InvalidJSON(ValidationError):
    """JSON we do not accept (the API's 400 parse_error); `attr` names where, when known."""

    def __init__(self, detail: str, attr: str | None = None):
        super().__init__(attr, "parse_error", detail)


class _Rejected:
    """A parsed number JSON must not carry; reported with its path once the tree is walked."""

    def __init__(self, literal: str):
        self.literal = literal


def _parse_float(literal: str) -> float | _Rejected:
    number = float(literal)
    return number if math.isfinite(number) and len(literal) <= MAX_NUMBER_DIGITS else _Rejected(literal)


def _parse_int(literal: str) -> int | _Rejected:
    return int(literal) if len(literal) <= MAX_NUMBER_DIGITS else _Rejected(literal)


def loads_json(data: bytes | str) -> Any:
    """Parse JSON strictly: finite numbers only, at most MAX_JSON_DEPTH levels; else InvalidJSON.

    NaN, Infinity and numbers that overflow are not JSON (RFC 8259): PostgreSQL refuses them and
    clients cannot parse them back. Strings are left to the fields that read them, whose checks
    name the field and its error code; free-form JSON stored as it is goes through check_json.
    The caller bounds the size (MAX_CONTENT_LENGTH for request bodies).
    """
    try:
        value = json.loads(data, parse_constant=_Rejected, parse_float=_parse_float, parse_int=_parse_int)
    except RecursionError:
        raise InvalidJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.") from None
    except ValueError as error:  # JSONDecodeError, or bytes that are not UTF-8
        raise InvalidJSON(f"The body is not valid JSON ({_reason(error)}).") from None
    _walk(value, "", strings=False)
    return value


def _reason(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    return "it is not UTF-8 text" if isinstance(error, UnicodeDecodeError) else str(error)


def check_json(value: Any, attr: str = "") -> None:
    """Refuse a tree with NUL or lone surrogates in any string or key, non-finite numbers or deep nesting.

    `attr` prefixes the path named in the error (`metadata__tags__0`).
    """
    _walk(value, attr, strings=True)


def _walk(value: Any, attr: str, *, strings: bool) -> None:
    """Check every node without recursion; the first problem in document order is reported."""
    stack = [(value, attr, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if strings:
                clean_text(item, path or None)
        elif isinstance(item, _Rejected):
            raise InvalidJSON(f"{item.literal[:20]} is not a number JSON accepts; use finite numbers.", path)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidJSON(f"{item} is not a number JSON accepts; use finite numbers.", path or None)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise InvalidJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.", path)
            pairs = list(item.items() if isinstance(item, dict) else enumerate(item))
            for key, child in reversed(pairs):
                if strings and isinstance(key, str) and text_problem(key):
                    # The key cannot be named as it is: name the object that holds it.
                    problem = text_problem(key)
                    raise ValidationError(path or None, "invalid", f"A key in this object: {problem}")
                stack.append((child, f"{path}__{key}" if path else str(key), depth + 1))
