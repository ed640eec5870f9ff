"""The input primitives: strict where Python's own parsers are lenient."""

import math
import uuid

import pytest

from webapp.services import validation
from webapp.services.errors import ValidationError


def refused(function, *args, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        function(*args, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("7", 7), ("-12", -12), ("007", 7), (42, 42), (str(2**63 - 1), 2**63 - 1)],
)
def test_integer_accepts_ascii_digits_and_ints(text, expected):
    assert validation.integer(text, "n") == expected


@pytest.mark.parametrize(
    "text",
    ["²", "٣", "１", " 7", "7 ", "1_000", "1.0", "1e3", "+7", "", "-", "0x1f", "7\x00", True, 1.0, None],
)
def test_integer_refuses_what_int_would_take_or_guess(text):
    error = refused(validation.integer, text, "limit")
    assert (error.attr, error.code) == ("limit", "invalid")
    assert "is not a whole number" in error.detail


def test_integer_bounds_are_checked_without_converting_huge_text():
    assert refused(validation.integer, "0", "limit", minimum=1).detail == "limit must be 1 or more."
    assert refused(validation.integer, "11", "n", maximum=10).detail == "n must be 10 or less."
    # Far past Python's 4300-digit int() limit: out of range, not a ValueError.
    assert refused(validation.integer, "9" * 100_000, "offset").detail.endswith(f"{2**63 - 1} or less.")
    assert refused(validation.integer, "-" + "9" * 5000, "n", minimum=0).detail == "n must be 0 or more."
    assert validation.integer("0" * 50 + "5", "n", maximum=10) == 5


def test_boolean_words_any_case_and_json_booleans():
    for value in (True, 1, "true", "TRUE", "1", "yes", "on", " On "):
        assert validation.boolean(value, "b") is True
    for value in (False, 0, "false", "0", "no", "OFF"):
        assert validation.boolean(value, "b") is False
    for value in ("maybe", "2", 2, "²", "\u0130", "", None, [], "tru\x00e"):
        error = refused(validation.boolean, value, "enabled")
        assert (error.attr, error.code) == ("enabled", "invalid")


def test_uuids_are_ascii_hex_only():
    key = uuid.uuid4()
    for text in (str(key), str(key).upper(), key.hex):
        assert validation.parse_uuid(text) == key
    assert validation.parse_uuid(key) is key
    # uuid.UUID() accepts every one of these.
    for text in (
        "٣" * 32,
        "{" + str(key) + "}",
        "urn:uuid:" + str(key),
        " " + key.hex[1:],
        "1_" + key.hex[2:],
    ):
        assert validation.parse_uuid(text) is None, text
    assert validation.parse_uuid(None) is None
    assert validation.uuid_list(f"{key}, ,{key.hex}", "ids") == [key, key]
    assert validation.uuid_list([str(key), f"{key},{key}"], "ids") == [key, key, key]
    error = refused(validation.uuid_list, f"{key},٣٣", "id__in")
    assert (error.attr, error.detail) == ("id__in", "'٣٣' is not a valid UUID.")


def test_text_refuses_nul_and_lone_surrogates_but_keeps_every_real_character():
    for value in ("a\x00b", "\x00"):
        assert "null characters" in refused(validation.clean_text, value, "name").detail
    for value in ("\ud800", "a\udfffb", "\udcff"):
        assert "surrogate" in refused(validation.clean_text, value, "name").detail
    for value in ("", "plain", "🧪 𝔘𝔫𝔦 𠜎", "\u202e", "<script>", "\ufffd"):
        assert validation.clean_text(value, "name") == value
    assert validation.text("  x  ", "name") == "x"
    assert refused(validation.text, " ", "name").code == "blank"
    assert validation.text(" ", "name", allow_blank=True) == ""
    assert refused(validation.text, "xx", "name", max_length=1).code == "max_length"
    assert refused(validation.text, 5, "name").detail == "Not a valid string."


def test_finite_numbers():
    assert all(map(validation.is_finite_number, (0, -1, 2.5, 10**30)))
    assert not any(map(validation.is_finite_number, (True, math.nan, math.inf, -math.inf, "1", None)))
    assert validation.number_from_text(" 12 ") == 12
    assert validation.number_from_text("-0.5") == -0.5
    assert validation.number_from_text("1e2") == 100
    for text in ("NaN", "inf", "Infinity", "1e999", "١٢", "1_000", "0x10", "", "1.", ".5", "9" * 500):
        assert validation.number_from_text(text) is None, text


def test_loads_json_refuses_non_finite_numbers_at_their_path():
    for literal in ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 401):
        error = refused(validation.loads_json, '{"a": [1, {"b": @}]}'.replace("@", literal))
        assert isinstance(error, validation.InvalidJSON)
        assert (error.code, error.attr) == ("parse_error", "a__1__b")
    assert validation.loads_json('{"a": [1.5, -2, "\\u00e9", "\\ud83e\\uddea"]}') == {
        "a": [1.5, -2, "é", "🧪"]
    }


def test_loads_json_bounds_depth_and_reports_bad_json():
    nested = "[" * validation.MAX_JSON_DEPTH + "]" * validation.MAX_JSON_DEPTH
    assert validation.loads_json(nested) is not None
    too_deep = "[" * (validation.MAX_JSON_DEPTH + 1) + "]" * (validation.MAX_JSON_DEPTH + 1)
    assert "nested deeper" in refused(validation.loads_json, too_deep).detail
    assert "nested deeper" in refused(validation.loads_json, "[" * 200_000).detail
    assert "line 1 column 6" in refused(validation.loads_json, '{"a":').detail
    assert "not UTF-8" in refused(validation.loads_json, b'"\xff"').detail


def test_loads_json_leaves_strings_to_their_fields_but_check_json_refuses_them():
    value = validation.loads_json('{"k": "a\\u0000", "\\ud800": 1}')
    assert value == {"k": "a\x00", "\ud800": 1}
    error = refused(validation.check_json, {"tags": ["ok", "a\x00"]}, "metadata")
    assert (error.attr, error.code) == ("metadata__tags__1", "invalid")
    error = refused(validation.check_json, {"x": {"\ud800": 1}}, "metadata")
    assert error.attr == "metadata__x" and "key" in error.detail
    assert refused(validation.check_json, [math.nan], "v").attr == "v__0"


def test_shown_quotes_safely_and_briefly():
    assert validation.shown("ab") == "'ab'"
    assert validation.shown("a\x00\ud800") == "'a\\x00\\ud800'"
    assert validation.shown("9" * 100) == "'" + "9" * 40 + "…'"
    assert validation.shown({"a": 1}) == "an object"
    assert validation.shown(math.nan) == "'NaN'"
    assert validation.shown(uuid.UUID(int=1)) == "'\"00000000-0000-0000-0000-000000000001\"'"
