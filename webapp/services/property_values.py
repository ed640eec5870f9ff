"""A condition property's value checked by its operator: numbers to compare, patterns that compile, dates.

PostHog stores whatever a client sends and finds out at match time that `$ai_latency is at least "fast"`
matches nothing; here such a value is refused when it is saved, by the API and the editor alike. Each rule
is also stated as JSON Schema (`SCHEMA_RULES`), so the API's document says what is accepted.
"""

import datetime
import re
from typing import Any

from . import validation
from .errors import ValidationError

NUMBER_OPERATORS = ("gt", "gte", "lt", "lte")
REGEX_OPERATORS = ("regex", "not_regex")
DATE_OPERATORS = ("is_date_exact", "is_date_before", "is_date_after")
# Operators PostHog applies to each item of a list (exact/is_not as "in"/"not in", the text matches OR-ed).
LIST_OPERATORS = ("exact", "is_not", "icontains", "not_icontains", *REGEX_OPERATORS)
MAX_PATTERN_LENGTH = 500

# Numbers as text, as PostHog's property filter inputs send them: ASCII digits, one optional fraction,
# bounded so every one is a finite float.
NUMBER_TEXT = r"^-?[0-9]{1,20}(?:\.[0-9]{1,20})?$"
# PostHog's relative dates: -7d, -24h, -1m (months), -30M (minutes), -2w, -1q, -1y, optionally
# dStart/mEnd-style positions; the minus is optional, as in PostHog's relative_date_parse.
RELATIVE_DATE = r"^-?[0-9]{1,4}[hdwmqyM](?:Start|End)?$"
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# RFC 3339 (JSON Schema's date-time): a date, T, a time with seconds, Z or an offset.
ISO_DATE_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})$"
)
_NUMBER_TEXT, _RELATIVE_DATE = re.compile(NUMBER_TEXT), re.compile(RELATIVE_DATE)
_ISO_DATE, _ISO_DATE_TIME = re.compile(ISO_DATE), re.compile(ISO_DATE_TIME)

DATE_HELP = (
    "use a date like 2025-01-31, a date and time like 2025-01-31T09:30:00Z, "
    "or a relative date like -7d, -24h, -1m (a month) or -1y"
)


def check(operator: str, value: Any) -> Any:
    """`value` when it suits `operator`, else ValidationError (attr None: the caller names the field)."""
    if isinstance(value, list):
        if operator not in LIST_OPERATORS:
            raise ValidationError(None, "invalid", "This operator takes one value, not a list.")
        for position, item in enumerate(value, start=1):
            try:
                _check_one(operator, item)
            except ValidationError as error:
                raise ValidationError(None, error.code, f"Value {position}: {error.detail}") from None
        return value
    _check_one(operator, value)
    return value


def _check_one(operator: str, value: Any) -> None:
    if operator in NUMBER_OPERATORS:
        _number(value)
    elif operator in REGEX_OPERATORS:
        _pattern(value)
    elif operator in DATE_OPERATORS:
        _date(value)


def _number(value: Any) -> None:
    if validation.is_finite_number(value) or (isinstance(value, str) and _NUMBER_TEXT.fullmatch(value)):
        return
    raise ValidationError(
        None,
        "invalid",
        f"This operator compares numbers: enter a number like 2 or 0.5, not {validation.shown(value)}.",
    )


def _pattern(value: Any) -> None:
    if not isinstance(value, str):
        raise ValidationError(None, "invalid", "A pattern must be text (a regular expression).")
    if len(value) > MAX_PATTERN_LENGTH:
        raise ValidationError(
            None, "max_length", f"A pattern may be at most {MAX_PATTERN_LENGTH} characters."
        )
    try:
        re.compile(value)
    except (re.error, RecursionError, OverflowError) as error:
        reason = getattr(error, "msg", None) or "it does not compile"
        raise ValidationError(
            None, "invalid", f"{validation.shown(value)} is not a valid regular expression: {reason}."
        ) from None


def _date(value: Any) -> None:
    if isinstance(value, str):
        if _RELATIVE_DATE.fullmatch(value):
            return
        try:
            if _ISO_DATE.fullmatch(value):
                datetime.date.fromisoformat(value)
                return
            if _ISO_DATE_TIME.fullmatch(value):
                datetime.datetime.fromisoformat(value)
                return
        except ValueError:
            pass  # the right shape, but no such day or time: refused below
    raise ValidationError(None, "invalid", f"{validation.shown(value)} is not a date: {DATE_HELP}.")


def _when(operators: tuple[str, ...], value_schema: dict) -> dict:
    return {
        "if": {"properties": {"operator": {"enum": list(operators)}}, "required": ["operator"]},
        "then": {"properties": {"value": value_schema}},
    }


_NUMBER_SCHEMA = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMBER_TEXT}]}
_PATTERN_SCHEMA = {
    "type": "string",
    "format": "regex",
    "maxLength": MAX_PATTERN_LENGTH,
    "pattern": r"^[^\u0000]*$",
}
_DATE_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": RELATIVE_DATE},
        {"type": "string", "format": "date", "pattern": ISO_DATE},
        {"type": "string", "format": "date-time", "pattern": ISO_DATE_TIME},
    ]
}
# JSON Schema for the value by operator (null is refused by the model's required-value rule).
SCHEMA_RULES = [
    _when(NUMBER_OPERATORS, {"anyOf": [*_NUMBER_SCHEMA["anyOf"], {"type": "null"}]}),
    _when(
        REGEX_OPERATORS,
        {"anyOf": [_PATTERN_SCHEMA, {"type": "array", "items": _PATTERN_SCHEMA}, {"type": "null"}]},
    ),
    _when(DATE_OPERATORS, {"anyOf": [*_DATE_SCHEMA["anyOf"], {"type": "null"}]}),
]
