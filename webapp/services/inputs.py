"""Request bodies as pydantic models: each field runs a validation primitive and states its JSON Schema.

One definition both checks a body and documents it (the API's OpenAPI schema is built from these
models), so the two cannot drift. pydantic's errors come back as our ValidationError: the primitive's
code and detail, and `attr` the field's path joined with `__` (conditions__0__rollout_percentage).
"""

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, PlainValidator, WithJsonSchema
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from . import validation
from .errors import ValidationError

# Text both databases store: no NUL. (Nor a lone UTF-16 surrogate, which is refused too; a pattern
# cannot name one: JSON Schema strings are Unicode text, where it is not a character.)
CLEAN_TEXT = r"^[^\u0000]*$"
# ... with something besides whitespace (what str.strip() keeps).
NOT_BLANK_TEXT = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


def trimmed_length_text(max_length: int, allow_blank: bool) -> str:
    """Text of at most `max_length` characters once surrounding space is stripped (space is free)."""
    core = rf"[^\s\u0000](?:[^\u0000]{{0,{max_length - 2}}}[^\s\u0000])?"
    return rf"^\s*(?:{core}){'?' if allow_blank else ''}\s*$"


# What validation.boolean reads from text: ASCII, any case, surrounded by what strip() removes.
_SPACE = r"[\t\n\u000b\u000c\r\u001c-\u001f ]*"
_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0")
BOOLEAN_TEXT = (
    rf"^{_SPACE}(?:"
    + "|".join("".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word) for word in _WORDS)
    + rf"){_SPACE}$"
)

# pydantic's own error types, in our codes and words.
_PYDANTIC_ERRORS = {
    "missing": ("required", "This field is required."),
    "model_type": ("invalid", "Invalid data. Expected a dictionary."),
    "model_attributes_type": ("invalid", "Invalid data. Expected a dictionary."),
    "list_type": ("invalid", "Expected a list of items."),
    "too_long": ("max_length", "Ensure this field has no more items."),
}


class FormData(dict):
    """A form-encoded body: fields that hold JSON (an evaluation's conditions) arrive as its text."""


class Input(BaseModel):
    """A request body: unknown keys are ignored, as Django REST framework's serializers do."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class StrictInput(Input):
    """A nested object whose unknown keys are refused (a typo there would silently change behaviour)."""

    model_config = ConfigDict(extra="forbid")


def checked(check: Callable[[Any], Any], schema: dict, *, attr: str | None = None) -> Any:
    """A field type: `check(value)` (a primitive raising ValidationError) validates, `schema` documents.

    An error names the field's path, or `attr` when given (one name wherever the field is nested).
    """

    def validate(value: Any) -> Any:
        try:
            return check(value)
        except ValidationError as error:
            if attr is not None:
                raise ValidationError(attr, error.code, error.detail) from None  # passes pydantic by
            raise PydanticCustomError(error.code, error.detail) from None

    return Annotated[Any, PlainValidator(validate), WithJsonSchema(schema)]


def not_null(value: Any) -> Any:
    if value is None:
        raise ValidationError(None, "null", "This field may not be null.")
    return value


def text_field(*, max_length: int | None = None, allow_blank: bool = False, nullable: bool = False) -> Any:
    """Stripped text without NUL or lone surrogates; blank (unless allowed) or too long is refused."""

    def check(value: Any) -> str | None:
        if value is None and nullable:
            return None
        return validation.text(not_null(value), None, max_length=max_length, allow_blank=allow_blank)

    if max_length is None:
        schema: dict = {"type": "string", "pattern": CLEAN_TEXT if allow_blank else NOT_BLANK_TEXT}
    else:
        schema = {"type": "string", "pattern": trimmed_length_text(max_length, allow_blank)}
    return checked(check, {"anyOf": [schema, {"type": "null"}]} if nullable else schema)


def boolean_field() -> Any:
    """true/false, 0/1, or their words in text (yes/no, on/off), as Django REST framework reads them."""
    return checked(
        lambda value: validation.boolean(not_null(value), None),
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "integer", "enum": [0, 1]},
                {"type": "string", "pattern": BOOLEAN_TEXT},
            ]
        },
    )


def without_defaults(schema: dict) -> None:
    """json_schema_extra for a partial update: an absent field keeps its stored value, not a default."""
    for field in schema.get("properties", {}).values():
        field.pop("default", None)


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], data: Mapping, attr: str = "") -> Model:
    """Validate `data`; the first problem is raised as ValidationError with its `__`-joined path."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as errors:
        raise as_validation_error(errors.errors(include_url=False)[0], attr) from None


def problems(model: type[BaseModel], data: Mapping) -> list[ValidationError]:
    """Every problem of `data`, in the model's field order (a form shows them all at once)."""
    try:
        model.model_validate(data)
    except PydanticValidationError as errors:
        return [as_validation_error(error) for error in errors.errors(include_url=False)]
    except ValidationError as error:  # a check with a fixed attr stops at its first problem
        return [error]
    return []


def as_validation_error(error: Mapping, prefix: str = "") -> ValidationError:
    path = "__".join(str(part) for part in (prefix, *error["loc"]) if part != "")
    kind = error["type"]
    if kind == "extra_forbidden":
        return ValidationError(path, "unknown_field", f"Unknown field '{error['loc'][-1]}'.")
    code, detail = _PYDANTIC_ERRORS.get(kind, (kind, error["msg"]))
    return ValidationError(path or None, code, detail)


def clean(model: BaseModel) -> dict:
    """The fields the body set, as the checks returned them (nested objects in full, with defaults)."""
    return model.model_dump(include=model.model_fields_set)
