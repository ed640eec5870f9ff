"""Evaluations: validation, listing, create/update/archive/duplicate, with activity entries."""

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError
from sqlalchemy import BigInteger, Text, bindparam, column, select, table
from sqlalchemy.orm import selectinload

from ..database import write_transaction
from ..extensions import db
from ..models import Evaluation, Project, User
from ..models.types import utcnow
from . import activity, inputs, property_values, search, validation
from .errors import Conflict, NotFound, ValidationError
from .listing import BOOLEAN, TEXT, UUID_LIST, ListQuery, ListSpec, Page, paginate, uuid_text

SCOPE = "Evaluation"
NAME_MAX_LENGTH = 400
MAX_CONDITION_SETS = 50
MAX_PROPERTIES_PER_SET = 50
EDITABLE_FIELDS = ("name", "description", "enabled", "prompt", "conditions")
OPERATORS = (
    "exact",
    "is_not",
    "icontains",
    "not_icontains",
    "regex",
    "not_regex",
    "gt",
    "gte",
    "lt",
    "lte",
    "is_set",
    "is_not_set",
    "is_date_exact",
    "is_date_before",
    "is_date_after",
)
VALUELESS_OPERATORS = ("is_set", "is_not_set")
PROPERTY_TYPES = ("event", "person", "session", "group", "cohort", "element", "hogql")
BULK_ACTIONS = ("enable", "disable", "archive", "restore")

# --- validation ---------------------------------------------------------------------------


def _scalar_or_list(value: Any) -> Any:
    """A property's value: text, a finite number, a boolean, a list of them, or null."""
    items = value if isinstance(value, list) else [value]
    if value is not None and not all(map(_is_scalar, items)):
        raise ValidationError(None, "invalid", "A value must be text, a number, a boolean or a list of them.")
    for item in items:
        if isinstance(item, str):
            validation.clean_text(item, None)  # the field, also for one item of a list
    return value


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or validation.is_finite_number(value)


def _choice(choices: tuple[str, ...], default: str, what: str) -> Any:
    """One of `choices`; null or "" mean `default`."""

    def check(value: Any) -> str:
        if value is None or value == "":
            return default
        if value not in choices:
            raise ValidationError(None, "invalid_choice", f"{validation.shown(value)} is not a valid {what}.")
        return value

    return inputs.checked(check, {"enum": [*choices, "", None], "default": default})


def _property_key(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(None, "required", "Every property needs a key.")
    return validation.clean_text(value, None).strip()


_SCALAR_SCHEMAS = [{"type": "string", "pattern": inputs.CLEAN_TEXT}, {"type": "number"}, {"type": "boolean"}]


class PropertyFilter(inputs.StrictInput):
    """One property test of a condition set; `value` is required unless the operator is is_set/is_not_set."""

    model_config = ConfigDict(
        json_schema_extra={
            # A value is required, and not empty, unless the operator tests only presence.
            "if": {"properties": {"operator": {"enum": list(VALUELESS_OPERATORS)}}, "required": ["operator"]},
            "else": {"required": ["value"], "properties": {"value": {"not": {"enum": [None, "", []]}}}},
            # ... and suits the operator: a number to compare, a pattern that compiles, a date.
            "allOf": property_values.SCHEMA_RULES,
        }
    )

    key: inputs.checked(_property_key, {"type": "string", "pattern": inputs.NOT_BLANK_TEXT})
    operator: _choice(OPERATORS, "exact", "operator") = "exact"
    type: _choice(PROPERTY_TYPES, "event", "property type") = "event"
    value: inputs.checked(
        _scalar_or_list,
        {
            "anyOf": [
                *_SCALAR_SCHEMAS,
                {"type": "array", "items": {"anyOf": _SCALAR_SCHEMAS}},
                {"type": "null"},
            ]
        },
    ) = None

    @field_validator("value")
    @classmethod
    def _value_for_operator(cls, value: Any, info: ValidationInfo) -> Any:
        operator = info.data.get("operator")
        if operator in VALUELESS_OPERATORS:
            return None
        if value is None or value == "" or value == []:
            raise PydanticCustomError("required", "Every property needs a value.")
        try:
            return property_values.check(operator, value)
        except ValidationError as error:
            raise PydanticCustomError(error.code, error.detail) from None

    @model_validator(mode="before")
    @classmethod
    def _object(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise PydanticCustomError("invalid", "Each property must be an object.")
        if "value" not in value:
            # Checked like null: valueless operators need none, the others report it as required.
            return {**value, "value": None}
        return value


def _set_id(value: Any) -> str:
    if value is None or value == "":
        return str(uuid.uuid4())
    if not isinstance(value, str):
        raise ValidationError(None, "invalid", "The condition set id must be a string.")
    return validation.clean_text(value, None)


MIN_ROLLOUT = 0.1


def _rollout(value: Any) -> int | float:
    """0.1 to 100, as PostHog's editor allows (0 would never run); left out or null means 100.

    PostHog's API stores whatever is sent and its editor always sends a number; API clients that
    leave the field out keep getting 100, as before. What someone explicitly sends is checked:
    blank text or 0 is an error, never a silent 100.
    """
    if value is None:
        return 100
    if isinstance(value, str) and not value.strip():
        raise ValidationError(None, "blank", "Enter a rollout percentage: a number between 0.1% and 100%.")
    if not validation.is_finite_number(value) or not MIN_ROLLOUT <= value <= 100:
        raise ValidationError(None, "invalid", "Rollout percentage must be a number between 0.1% and 100%.")
    return value


def _properties(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PydanticCustomError("invalid", "Properties must be a list.")
    if len(value) > MAX_PROPERTIES_PER_SET:
        raise PydanticCustomError(
            "max_length", f"Use at most {MAX_PROPERTIES_PER_SET} properties in one condition set."
        )
    return value


class ConditionSet(inputs.StrictInput):
    """A group of property tests and the share of matches it applies to.

    PostHog stores each set's compiled filter as `bytecode`/`bytecode_error`; they are accepted (so
    conditions read from PostHog can be sent back unchanged) and dropped: nothing here runs them.
    """

    id: inputs.checked(
        _set_id, {"anyOf": [{"type": "string", "pattern": inputs.CLEAN_TEXT}, {"type": "null"}]}
    ) = Field(default_factory=lambda: str(uuid.uuid4()))
    rollout_percentage: inputs.checked(
        _rollout,
        {
            "anyOf": [{"type": "number", "minimum": MIN_ROLLOUT, "maximum": 100}, {"type": "null"}],
            "description": "0.1 to 100; left out or null means 100.",
        },
    ) = 100
    properties: Annotated[
        Annotated[list[PropertyFilter], Field(max_length=MAX_PROPERTIES_PER_SET)] | None,
        BeforeValidator(_properties),
    ] = Field(default_factory=list)
    bytecode: Any = Field(default=None, exclude=True)
    bytecode_error: Any = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _object(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise PydanticCustomError("invalid", "Each condition set must be an object.")
        return value


def _condition_sets(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PydanticCustomError("invalid", "Conditions must be a list of condition sets.")
    if len(value) > MAX_CONDITION_SETS:
        raise PydanticCustomError("max_length", f"Use at most {MAX_CONDITION_SETS} condition sets.")
    return value


Conditions = Annotated[
    Annotated[list[ConditionSet], Field(max_length=MAX_CONDITION_SETS)] | None,
    BeforeValidator(_condition_sets),
    Field(description="Who the evaluation applies to; null is none."),
]
_CONDITIONS = TypeAdapter(Conditions)


class EvaluationInput(inputs.Input):
    """The writable fields of an evaluation (POST and PUT); read-only and unknown keys are ignored."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Toxicity",
                    "prompt": "Is the reply toxic? Answer yes or no.",
                    "enabled": True,
                    "conditions": [
                        {
                            "rollout_percentage": 25,
                            "properties": [
                                {"key": "$ai_model", "value": "gpt-4o", "operator": "exact", "type": "event"}
                            ],
                        }
                    ],
                }
            ]
        }
    )

    name: inputs.text_field(max_length=NAME_MAX_LENGTH)
    description: inputs.text_field(allow_blank=True) = ""
    prompt: inputs.text_field()
    enabled: inputs.boolean_field() = False
    deleted: inputs.boolean_field() = False
    conditions: Conditions = Field(default_factory=list)


class EvaluationPatch(EvaluationInput):
    """PATCH: the same fields, none required (and none defaulted: what is not sent stays as it is)."""

    model_config = ConfigDict(json_schema_extra=inputs.without_defaults)

    name: inputs.text_field(max_length=NAME_MAX_LENGTH) = None
    prompt: inputs.text_field() = None


def _decode_conditions(value: str) -> Any:
    """Conditions given as JSON text (how a form-encoded body carries them)."""
    try:
        return validation.loads_json(value) if value.strip() else []
    except ValidationError as error:
        attr = f"conditions__{error.attr}" if error.attr else "conditions"
        prefix = "Conditions must be valid JSON: " if isinstance(error, validation.InvalidJSON) else ""
        raise ValidationError(attr, "invalid", prefix + error.detail) from None


def validate_conditions(value: Any) -> list[dict]:
    """Check the condition-set shape (a list, or its JSON text); return it normalized."""
    if isinstance(value, str):
        value = _decode_conditions(value)
    try:
        return [item.model_dump() for item in _CONDITIONS.validate_python(value)]
    except PydanticValidationError as errors:
        raise inputs.as_validation_error(errors.errors(include_url=False)[0], "conditions") from None


def validate_input(data: Mapping, *, partial: bool) -> dict:
    """Validate writable fields; unknown and read-only fields are ignored."""
    if isinstance(data, inputs.FormData) and isinstance(data.get("conditions"), str):
        data = {**data, "conditions": _decode_conditions(data["conditions"])}
    return inputs.clean(inputs.parse(EvaluationPatch if partial else EvaluationInput, data))


def input_problems(data: Mapping) -> list[ValidationError]:
    """Every problem of a whole evaluation's fields (what validate_input raises is the first)."""
    return inputs.problems(EvaluationInput, data)


# --- reading ------------------------------------------------------------------------------


EVALUATIONS, USERS = Evaluation.__table__, User.__table__
SEARCHED_COLUMNS = (EVALUATIONS.c.name, EVALUATIONS.c.description, EVALUATIONS.c.prompt)
# Kept by the database (migration 0013), not mapped: no write path sets them.
SEARCH_TEXT = search.search_column("evaluations.search_text", Text)
SEARCH_CHARS = search.search_column("evaluations.search_chars")
# PostgreSQL: what a search's count reads (migration 0015): each evaluation's counted columns and words.
SEARCH_COUNTS = table(
    "evaluation_search",
    *(column(name) for name in ("pk", "project_id", "deleted", "enabled")),
    column("search_chars", BigInteger),
    column("words"),
)
SEARCH_VOCABULARY = table("evaluation_search_vocabulary", column("word", Text))


# Every word of a search is in the name, description or prompt (see services.search).
TEXT_INDEX = search.TextIndex(
    columns=SEARCHED_COLUMNS,
    key=EVALUATIONS.c.pk,
    fts_table="evaluations_fts",
    lowered_text=SEARCH_TEXT,
    chars_column=SEARCH_CHARS,
    counts=SEARCH_COUNTS,
    vocabulary=SEARCH_VOCABULARY,
)


# What a list shows of each evaluation, with its author's fields (serializers.evaluation_row).
LIST_COLUMNS = (
    uuid_text(EVALUATIONS.c.id, "id"),
    EVALUATIONS.c.name,
    EVALUATIONS.c.description,
    EVALUATIONS.c.enabled,
    EVALUATIONS.c.prompt,
    EVALUATIONS.c.conditions,
    EVALUATIONS.c.created_at,
    EVALUATIONS.c.updated_at,
    EVALUATIONS.c.deleted,
    EVALUATIONS.c.created_by_id,
    uuid_text(USERS.c.uuid, "created_by_uuid"),
    *(
        USERS.c[name].label(f"created_by_{name}")
        for name in (
            "distinct_id",
            "first_name",
            "last_name",
            "email",
            "is_email_verified",
            "hedgehog_config",
            "role_at_organization",
        )
    ),
)
LIST_SPEC = ListSpec(
    order_columns={
        "created_at": EVALUATIONS.c.created_at,
        "updated_at": EVALUATIONS.c.updated_at,
        # Numeric-aware and case-folded (models/natural_sort.py).
        "name": EVALUATIONS.c.name_sort_key,
    },
    default_order="-created_at",
    filters={
        "enabled": BOOLEAN.described("Only enabled (true) or only disabled (false) evaluations."),
        "id__in": UUID_LIST.described("Only these evaluations (a comma list of ids)."),
        "search": TEXT.described(
            "Every word (split on whitespace) is contained in the name, description or prompt: a "
            "case-insensitive substring match (PostHog's icontains) per word, the words AND-ed, in any order "
            "and any of those fields; % and _ are literal."
        ),
    },
    columns=select(*LIST_COLUMNS).select_from(
        EVALUATIONS.outerjoin(USERS, USERS.c.id == EVALUATIONS.c.created_by_id)
    ),
    key=EVALUATIONS.c.pk,
    conditions={
        "project_id": EVALUATIONS.c.project_id == bindparam("project_id"),
        # `=`, not IS: PostgreSQL answers only `=` from an index.
        "deleted": EVALUATIONS.c.deleted == bindparam("deleted"),
        "enabled": EVALUATIONS.c.enabled == bindparam("enabled"),
        "id__in": EVALUATIONS.c.id.in_(bindparam("id__in", expanding=True)),
    },
    search=TEXT_INDEX.search,
)


def parse_list_query(args: Mapping[str, str], default_limit: int, max_limit: int) -> ListQuery:
    return LIST_SPEC.parse(args, default_limit, max_limit)


def list_evaluations(
    project: Project, query: ListQuery, *, archived: bool = False, raw: bool = False
) -> Page:
    """One page of the project's evaluations (archived ones only when asked), as rows of LIST_COLUMNS
    (raw: the driver's values, listing.paginate)."""
    where = {"project_id": project.id, "deleted": archived}
    where |= {name: query.filters[name] for name in ("enabled", "id__in") if name in query.filters}
    return paginate(db.session, LIST_SPEC, query, where, raw=raw)


def _find(
    project: Project, evaluation_id: Any, *, include_deleted: bool, for_update: bool = False
) -> Evaluation:
    key = validation.parse_uuid(evaluation_id)
    if key is None:
        raise NotFound(resource="evaluation")
    statement = (
        select(Evaluation)
        .options(selectinload(Evaluation.created_by))
        .where(Evaluation.id == key, Evaluation.project_id == project.id)
    )
    if for_update:
        # PostgreSQL: lock the row so concurrent writers queue instead of losing updates
        # (SQLite's BEGIN IMMEDIATE already serializes writers).
        statement = statement.with_for_update(of=Evaluation)
    evaluation = db.session.scalar(statement)
    if evaluation is None or (evaluation.deleted and not include_deleted):
        raise NotFound(resource="evaluation")
    return evaluation


def get_evaluation(project: Project, evaluation_id: Any, *, include_deleted: bool = False) -> Evaluation:
    """A live evaluation of this project, else NotFound (archived ones only when asked)."""
    return _find(project, evaluation_id, include_deleted=include_deleted)


def history(project: Project, evaluation: Evaluation) -> list:
    return activity.entries_for(project, SCOPE, str(evaluation.id))


# --- writing ------------------------------------------------------------------------------


def _snapshot(evaluation: Evaluation) -> dict:
    return {field: getattr(evaluation, field) for field in (*EDITABLE_FIELDS, "deleted")}


def create_evaluation(project: Project, actor: User | None, data: Mapping) -> Evaluation:
    """Validate and create; the caller becomes created_by."""
    cleaned = validate_input(data, partial=False)
    cleaned.setdefault("conditions", [])
    with write_transaction() as session:
        now = utcnow()
        evaluation = Evaluation(
            project_id=project.id,
            created_by_id=actor.id if actor else None,
            created_at=now,
            updated_at=now,
            **cleaned,
        )
        session.add(evaluation)
        session.flush()
        activity.record(
            session,
            project,
            actor,
            SCOPE,
            evaluation.id,
            "created",
            evaluation.name,
            activity.diff({}, _snapshot(evaluation)),
        )
    return get_evaluation(project, evaluation.id, include_deleted=True)


def _activity_name(before: dict, after: dict) -> str:
    if after.get("deleted") and not before.get("deleted"):
        return "deleted"
    if before.get("deleted") and after.get("deleted") is False:
        return "restored"
    return "updated"


def _apply(session, project: Project, actor: User | None, evaluation: Evaluation, cleaned: dict) -> bool:
    """Apply validated changes and log them; return whether anything changed."""
    before = _snapshot(evaluation)
    changes = activity.diff(before, {k: v for k, v in cleaned.items() if k in before})
    if not changes:
        return False
    for change in changes:
        setattr(evaluation, change["field"], change["after"])
    evaluation.updated_at = utcnow()
    evaluation.version += 1
    activity.record(
        session,
        project,
        actor,
        SCOPE,
        evaluation.id,
        _activity_name(before, _snapshot(evaluation)),
        evaluation.name,
        changes,
    )
    return True


def update_evaluation(
    project: Project,
    actor: User | None,
    evaluation_id: Any,
    data: Mapping,
    *,
    partial: bool = True,
    expected_version: int | None = None,
) -> Evaluation:
    """Change fields; `deleted` archives or restores. A stale expected_version is a Conflict.

    An unknown id is NotFound even when the body is bad too: the object is looked up before
    the body is validated (as PostHog does), without holding the row lock while validating.
    """
    _find(project, evaluation_id, include_deleted=True)
    cleaned = validate_input(data, partial=partial)
    with write_transaction() as session:
        evaluation = _find(project, evaluation_id, include_deleted=True, for_update=True)
        if expected_version is not None and evaluation.version != expected_version:
            raise Conflict(
                "Someone else changed this evaluation after you opened it. "
                "Reload to see their changes, then make yours again.",
                code="stale_version",
            )
        _apply(session, project, actor, evaluation, cleaned)
    return _find(project, evaluation_id, include_deleted=True)


def set_archived(project: Project, actor: User | None, evaluation_id: Any, archived: bool) -> Evaluation:
    return update_evaluation(project, actor, evaluation_id, {"deleted": archived})


def duplicate_evaluation(project: Project, actor: User | None, evaluation_id: Any) -> Evaluation:
    """Copy a live evaluation as '<name> (Copy)', disabled so it does not run twice."""
    original = get_evaluation(project, evaluation_id)
    suffix = " (Copy)"
    return create_evaluation(
        project,
        actor,
        {
            "name": original.name[: NAME_MAX_LENGTH - len(suffix)] + suffix,
            "description": original.description,
            "prompt": original.prompt,
            "conditions": original.conditions,
            "enabled": False,
        },
    )


def bulk_update(project: Project, actor: User | None, ids: list[str], action: str) -> list[uuid.UUID]:
    """Enable, disable, archive or restore several evaluations in one transaction; return the ids of those
    that changed (an Undo reverses exactly these)."""
    if action not in BULK_ACTIONS:
        raise ValidationError("action", "invalid_choice", f"'{action}' is not a bulk action.")
    uuids = validation.uuid_list(ids, "ids")
    if not uuids:
        raise ValidationError("ids", "required", "Select at least one evaluation.")
    change = {
        "enable": {"enabled": True},
        "disable": {"enabled": False},
        "archive": {"deleted": True},
        "restore": {"deleted": False},
    }[action]
    with write_transaction() as session:
        evaluations = session.scalars(
            select(Evaluation)
            .where(Evaluation.project_id == project.id, Evaluation.id.in_(uuids))
            .order_by(Evaluation.pk)
            .with_for_update()
        )
        return [
            evaluation.id for evaluation in evaluations if _apply(session, project, actor, evaluation, change)
        ]
