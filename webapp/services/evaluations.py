"""Evaluations: validation, listing, create/update/archive/duplicate, with activity entries."""

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import selectinload

from ..database import write_transaction
from ..extensions import db
from ..models import Evaluation, Project, User
from ..models.types import utcnow
from . import activity, validation
from .errors import Conflict, NotFound, ValidationError
from .listing import BOOLEAN, TEXT, UUID_LIST, ListQuery, ListSpec, Page, paginate

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
CONDITION_SET_FIELDS = frozenset({"id", "rollout_percentage", "properties"})
# Compiled by PostHog's server from `properties` on save: accepted on input, never stored.
DERIVED_CONDITION_SET_FIELDS = frozenset({"bytecode", "bytecode_error"})

LIST_SPEC = ListSpec(
    order_fields=("created_at", "updated_at", "name"),
    default_order="-created_at",
    filters={
        "enabled": BOOLEAN.described("Only enabled (true) or only disabled (false) evaluations."),
        "id__in": UUID_LIST.described("Only these evaluations (a comma list of ids)."),
        "search": TEXT.described("Name or description contains this text (case-insensitive)."),
    },
)
# Trigram full-text search needs at least three characters.
MIN_INDEXED_SEARCH_LENGTH = 3


# --- validation ---------------------------------------------------------------------------


def _text(data: Mapping, name: str, *, required: bool, allow_blank: bool) -> str | None:
    if name not in data:
        if required:
            raise ValidationError(name, "required", "This field is required.")
        return None
    if data[name] is None:
        raise ValidationError(name, "null", "This field may not be null.")
    return validation.text(data[name], name, allow_blank=allow_blank)


def _boolean(data: Mapping, name: str) -> bool | None:
    return validation.boolean(data[name], name) if name in data else None


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or validation.is_finite_number(value)


def validate_conditions(value: Any) -> list[dict]:
    """Check the condition-set shape; return it normalized. Errors name the exact path."""
    if isinstance(value, str):
        # A form-encoded body carries conditions as JSON text.
        try:
            value = validation.loads_json(value) if value.strip() else []
        except ValidationError as error:
            attr = f"conditions__{error.attr}" if error.attr else "conditions"
            prefix = "Conditions must be valid JSON: " if isinstance(error, validation.InvalidJSON) else ""
            raise ValidationError(attr, "invalid", prefix + error.detail) from None
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError("conditions", "invalid", "Conditions must be a list of condition sets.")
    if len(value) > MAX_CONDITION_SETS:
        raise ValidationError("conditions", "max_length", f"Use at most {MAX_CONDITION_SETS} condition sets.")
    return [_validate_condition_set(item, f"conditions__{i}") for i, item in enumerate(value)]


def _validate_condition_set(item: Any, path: str) -> dict:
    """One condition set: id, rollout_percentage, properties.

    PostHog's server adds `bytecode` and `bytecode_error` to each set, compiled from its
    properties; an evaluation read from PostHog and sent back unchanged carries them. They
    are accepted and dropped, never stored: they are derived, so a copy kept here would go
    stale as soon as the properties change.
    """
    if not isinstance(item, dict):
        raise ValidationError(path, "invalid", "Each condition set must be an object.")
    unknown = sorted(set(item) - CONDITION_SET_FIELDS - DERIVED_CONDITION_SET_FIELDS)
    if unknown:
        raise ValidationError(f"{path}__{unknown[0]}", "unknown_field", f"Unknown field '{unknown[0]}'.")
    set_id = item.get("id")
    if set_id is None or set_id == "":
        set_id = str(uuid.uuid4())
    elif not isinstance(set_id, str):
        raise ValidationError(f"{path}__id", "invalid", "The condition set id must be a string.")
    else:
        validation.clean_text(set_id, f"{path}__id")
    rollout = item.get("rollout_percentage", 100)
    if rollout is None:
        rollout = 100
    if not validation.is_finite_number(rollout) or not 0 <= rollout <= 100:
        raise ValidationError(
            f"{path}__rollout_percentage",
            "invalid",
            "Rollout percentage must be a number between 0 and 100.",
        )
    properties = item.get("properties", [])
    if properties is None:
        properties = []
    if not isinstance(properties, list):
        raise ValidationError(f"{path}__properties", "invalid", "Properties must be a list.")
    if len(properties) > MAX_PROPERTIES_PER_SET:
        raise ValidationError(
            f"{path}__properties",
            "max_length",
            f"Use at most {MAX_PROPERTIES_PER_SET} properties in one condition set.",
        )
    return {
        "id": set_id,
        "rollout_percentage": rollout,
        "properties": [
            _validate_property(prop, f"{path}__properties__{j}") for j, prop in enumerate(properties)
        ],
    }


def _validate_property(prop: Any, path: str) -> dict:
    if not isinstance(prop, dict):
        raise ValidationError(path, "invalid", "Each property must be an object.")
    unknown = sorted(set(prop) - {"key", "value", "operator", "type"})
    if unknown:
        raise ValidationError(f"{path}__{unknown[0]}", "unknown_field", f"Unknown field '{unknown[0]}'.")
    key = prop.get("key")
    if not isinstance(key, str) or not key.strip():
        raise ValidationError(f"{path}__key", "required", "Every property needs a key.")
    validation.clean_text(key, f"{path}__key")
    operator = prop.get("operator") or "exact"
    if operator not in OPERATORS:
        raise ValidationError(
            f"{path}__operator", "invalid_choice", f"{validation.shown(operator)} is not a valid operator."
        )
    prop_type = prop.get("type") or "event"
    if prop_type not in PROPERTY_TYPES:
        raise ValidationError(
            f"{path}__type", "invalid_choice", f"{validation.shown(prop_type)} is not a valid property type."
        )
    value = prop.get("value")
    if operator in VALUELESS_OPERATORS:
        value = None
    elif value is None or value == "" or value == []:
        raise ValidationError(f"{path}__value", "required", "Every property needs a value.")
    elif not (_is_scalar(value) or (isinstance(value, list) and all(map(_is_scalar, value)))):
        raise ValidationError(
            f"{path}__value", "invalid", "A value must be text, a number, a boolean or a list of them."
        )
    else:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                validation.clean_text(item, f"{path}__value")  # the field, also for one item of a list
    return {"key": key.strip(), "value": value, "operator": operator, "type": prop_type}


def validate_input(data: Mapping, *, partial: bool) -> dict:
    """Validate writable fields; unknown and read-only fields are ignored."""
    cleaned: dict[str, Any] = {}
    name = _text(data, "name", required=not partial, allow_blank=False)
    if name is not None:
        if len(name) > NAME_MAX_LENGTH:
            raise ValidationError(
                "name", "max_length", f"Ensure this field has no more than {NAME_MAX_LENGTH} characters."
            )
        cleaned["name"] = name
    description = _text(data, "description", required=False, allow_blank=True)
    if description is not None:
        cleaned["description"] = description
    prompt = _text(data, "prompt", required=not partial, allow_blank=False)
    if prompt is not None:
        cleaned["prompt"] = prompt
    for flag in ("enabled", "deleted"):
        value = _boolean(data, flag)
        if value is not None:
            cleaned[flag] = value
    if "conditions" in data:
        cleaned["conditions"] = validate_conditions(data["conditions"])
    return cleaned


# --- reading ------------------------------------------------------------------------------


def parse_list_query(args: Mapping[str, str], default_limit: int, max_limit: int) -> ListQuery:
    return LIST_SPEC.parse(args, default_limit, max_limit)


def _search_clause(term: str):
    if db.session.get_bind().dialect.name == "sqlite" and len(term) >= MIN_INDEXED_SEARCH_LENGTH:
        phrase = '"' + term.replace('"', '""') + '"'
        return text(
            "evaluations.pk IN (SELECT rowid FROM evaluations_fts WHERE evaluations_fts MATCH :phrase)"
        ).bindparams(phrase=phrase)
    # PostgreSQL answers ILIKE from the trigram indexes; short SQLite terms scan.
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(
        Evaluation.name.ilike(pattern, escape="\\"),
        Evaluation.description.ilike(pattern, escape="\\"),
    )


def list_evaluations(project: Project, query: ListQuery, *, archived: bool = False) -> Page:
    """One page of the project's evaluations (archived ones only when asked)."""
    statement = (
        select(Evaluation)
        .options(selectinload(Evaluation.created_by))
        .where(Evaluation.project_id == project.id, Evaluation.deleted.is_(archived))
    )
    filters = query.filters
    if "enabled" in filters:
        statement = statement.where(Evaluation.enabled.is_(filters["enabled"]))
    if "id__in" in filters:
        statement = statement.where(Evaluation.id.in_(filters["id__in"]))
    if filters.get("search"):
        statement = statement.where(_search_clause(filters["search"]))
    columns = {
        "created_at": Evaluation.created_at,
        "updated_at": Evaluation.updated_at,
        "name": Evaluation.name,
    }
    return paginate(db.session, statement, columns, query, tie_break=Evaluation.pk)


def _find(
    project: Project, evaluation_id: Any, *, include_deleted: bool, for_update: bool = False
) -> Evaluation:
    key = validation.parse_uuid(evaluation_id)
    if key is None:
        raise NotFound()
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
        raise NotFound()
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


def bulk_update(project: Project, actor: User | None, ids: list[str], action: str) -> int:
    """Enable, disable, archive or restore several evaluations in one transaction; return how many changed."""
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
        return sum(_apply(session, project, actor, evaluation, change) for evaluation in evaluations)
