"""The evaluation editor on WTForms: posted fields -> the service's input, and its problems back onto fields.

`FieldList(FormField(...))` names the conditions editor's fields `conditions-0-properties-1-key`; the
service (the only judge of what is valid) names a bad field `conditions__0__properties__1__value`, which
maps straight back. The editor's own buttons (add or remove a set or a property row) re-render the form
with the focus on what changed.
"""

import re
from collections.abc import Iterator, Mapping

from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)

from ..services import evaluations, validation
from ..services.errors import ValidationError
from ..services.property_values import NUMBER_OPERATORS
from .filters import operator_words, type_words

# Indexes are small ASCII numbers: WTForms' isdigit() would also take "٣", and int() 5000 digits.
INDEX = "(0|[1-9][0-9]{0,3})"
SET_FIELD = re.compile(rf"conditions-{INDEX}-(id|rollout_percentage)")
PROPERTY_FIELD = re.compile(rf"conditions-{INDEX}-properties-{INDEX}-(key|value|operator|type)")
MAX_INDEX = evaluations.MAX_CONDITION_SETS * 4
# The editor's buttons: verb -> how many indexes follow it (`remove_property:0:1`).
EDITOR_ACTIONS = {"add_set": 0, "remove_set": 1, "add_property": 1, "remove_property": 2}
DAMAGED = "The form was damaged on its way here ({}). Reload the page and make your changes again."
# "is" and "is not" take several values separated by commas (PostHog's "in" and "not in").
SPLIT_OPERATORS = ("exact", "is_not")
ADD_SET_ID = "add-condition-set"


def _choices(values: tuple[str, ...], words) -> list[SelectChoice]:
    """The service's choices, each labelled in words ("gte" -> "is at least")."""
    return [SelectChoice(value, words(value)) for value in values]


class PropertyForm(Form):
    type = SelectField(
        "Type",
        choices=_choices(evaluations.PROPERTY_TYPES, type_words),
        validate_choice=False,
        default="event",
    )
    key = StringField("Property")
    operator = SelectField(
        "Operator",
        choices=_choices(evaluations.OPERATORS, operator_words),
        validate_choice=False,
        default="exact",
    )
    value = StringField("Value")


class ConditionSetForm(Form):
    id = HiddenField()
    rollout_percentage = StringField("Rollout %", default="100")
    properties = FieldList(FormField(PropertyForm), max_entries=evaluations.MAX_PROPERTIES_PER_SET)


class EvaluationForm(Form):
    """The editor's fields, plus what the page needs to show: problems, a form-wide message, the focus."""

    name = StringField("Name")
    description = TextAreaField("Description")
    prompt = TextAreaField("Judge prompt")
    enabled = BooleanField("Enabled")
    version = HiddenField()
    conditions = FieldList(FormField(ConditionSetForm), max_entries=evaluations.MAX_CONDITION_SETS)

    def __init__(self, *args, focus: str | None = None, changed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.form_error: str | None = None  # a damaged form (400): nothing to highlight
        self.problems: list[tuple[str | None, str]] = []  # (field id, message), in the page's order
        self.list_errors: dict[str, str] = {}  # a list's own problem (too many sets), by its name
        self.focus = focus  # the id of what gets the focus when the form appears
        self.changed = changed  # holds edits that are not saved yet

    # --- to the service and back ---

    def to_input(self) -> dict:
        """The service's input: the text as typed, turned into numbers and lists where the user meant them."""
        return {
            "name": self.name.data or "",
            "description": self.description.data or "",
            "prompt": self.prompt.data or "",
            "enabled": bool(self.enabled.data),
            "conditions": [
                {
                    "id": item.form.id.data or "",
                    "rollout_percentage": _number_or_text(item.form.rollout_percentage.data or ""),
                    "properties": [
                        {
                            "key": prop.form.key.data or "",
                            "value": _value(prop.form.value.data or "", prop.form.operator.data),
                            "operator": prop.form.operator.data,
                            "type": prop.form.type.data,
                        }
                        for prop in item.form.properties
                    ],
                }
                for item in self.conditions
            ],
        }

    def check(self) -> dict | None:
        """Every problem the service finds, onto its field; the input when there is none."""
        data = self.to_input()
        for problem in evaluations.input_problems(data):
            self.add_problem(problem)
        return None if self.problems else data

    def add_problem(self, error: ValidationError) -> None:
        """Show the service's problem at its field (and in the summary, which takes the focus)."""
        name = error.attr.replace("__", "-") if error.attr else ""
        fields = dict(self.leaf_fields())
        if name in fields:
            fields[name].errors = [error.detail]
        else:
            self.list_errors[name] = error.detail
        targets = dict(self.list_targets())
        self.problems = [
            (field_id, f"{describe(field_id)}: {field.errors[0]}")
            for field_id, field in self.leaf_fields()
            if field.errors
        ]
        for key, detail in self.list_errors.items():
            target = targets.get(key)
            self.problems.append((target, f"{describe(key)}: {detail}" if target else detail))
        self.focus = "error-summary"

    def leaf_fields(self) -> Iterator[tuple[str, Field]]:
        """(id, field) of every visible input, in the page's order."""
        for name in ("name", "description", "prompt"):
            yield name, self[name]
        for item in self.conditions:
            yield item.form.rollout_percentage.id, item.form.rollout_percentage
            for prop in item.form.properties:
                for name in ("type", "key", "operator", "value"):
                    yield prop.form[name].id, prop.form[name]

    def list_targets(self) -> Iterator[tuple[str, str]]:
        """Problems without an input of their own, and the element a summary link goes to."""
        yield "conditions", ADD_SET_ID
        for index, _ in enumerate(self.conditions):
            yield f"conditions-{index}", f"conditions-{index}-rollout_percentage"
            yield f"conditions-{index}-id", f"conditions-{index}-rollout_percentage"
            yield f"conditions-{index}-properties", f"conditions-{index}-add-property"


LABELS = {
    "name": "Name",
    "description": "Description",
    "prompt": "Judge prompt",
    "rollout_percentage": "rollout %",
    "id": "id",
    "properties": "properties",
    "type": "type",
    "key": "property",
    "operator": "operator",
    "value": "value",
}


def describe(field_id: str) -> str:
    """`conditions-1-properties-0-value` -> "Condition set 2, property 1, value" (for the summary)."""
    parts = field_id.split("-")
    if parts[0] != "conditions":
        return LABELS.get(parts[0], parts[0])
    if len(parts) == 1:
        return "Trigger conditions"
    words = [f"Condition set {int(parts[1]) + 1}"]
    if len(parts) >= 5:
        words.append(f"property {int(parts[3]) + 1}")
        parts = parts[4:]
    else:
        parts = parts[2:]
    words.extend(LABELS.get(part, part) for part in parts)
    return ", ".join(words)


def _number_or_text(text: str):
    """A number when the text spells one; else the text, for the service to refuse (blank, "fast")."""
    number = validation.number_from_text(text)
    return text.strip() if number is None else number


def _value(text: str, operator: str | None):
    text = text.strip()
    if operator in NUMBER_OPERATORS:
        return _number_or_text(text)
    if operator in SPLIT_OPERATORS and "," in text:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


# --- building the form --------------------------------------------------------------------


def blank() -> EvaluationForm:
    return EvaluationForm(data={"conditions": []}, focus="name")


def from_data(data: Mapping, **kwargs) -> EvaluationForm:
    """A form holding `data` (text fields, as a template or a posted form gives them)."""
    return EvaluationForm(data=dict(data), **kwargs)


def from_evaluation(evaluation) -> EvaluationForm:
    return from_data(
        {
            "name": evaluation.name,
            "description": evaluation.description,
            "prompt": evaluation.prompt,
            "enabled": evaluation.enabled,
            "version": evaluation.version,
            "conditions": conditions_text(evaluation.conditions or []),
        }
    )


def from_template(template) -> EvaluationForm:
    """A new evaluation's form filled from a starting point (services.evaluation_templates)."""
    return from_data(
        {
            "name": template.name,
            "description": template.description,
            "prompt": template.prompt,
            "conditions": conditions_text(template.conditions),
        },
        focus="name",
    )


def conditions_text(conditions: list[dict]) -> list[dict]:
    """Stored condition sets as the editor's text fields."""
    return [
        {
            "id": item.get("id", ""),
            "rollout_percentage": value_text(item.get("rollout_percentage", 100)),
            "properties": [
                {
                    "key": prop["key"],
                    "value": value_text(prop.get("value")),
                    "operator": prop.get("operator", "exact"),
                    "type": prop.get("type", "event"),
                }
                for prop in item.get("properties", [])
            ],
        }
        for item in conditions
    ]


def value_text(value) -> str:
    """A stored value as the editor shows it: numbers without a needless ".0", lists comma-separated."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(value_text(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def from_post(formdata: Mapping) -> EvaluationForm:
    """The posted form, with an editor button's change applied; a field the editor never sends is damage."""
    problems = [f"unknown field {validation.shown(name)}" for name in formdata if _foreign(name)]
    data = {name: formdata.get(name, "") for name in ("name", "description", "prompt")}
    try:
        if formdata.get("version"):
            data["version"] = validation.integer(formdata["version"], "version", minimum=0)
    except ValidationError as error:
        problems.append(f"version: {error.detail}")
    try:
        # An unticked checkbox sends nothing; a ticked one sends "on".
        data["enabled"] = validation.boolean(formdata.get("enabled", "false"), "enabled")
    except ValidationError as error:
        problems.append(f"enabled: {error.detail}")
    posted = EvaluationForm(formdata=_only_editor_fields(formdata))
    # Re-read as data: the sets and rows are numbered 0, 1, 2... whatever indexes were posted.
    data["conditions"] = posted.conditions.data
    focus = None
    editor = formdata.get("editor")
    if editor and not problems:
        try:
            focus = apply_editor_action(data["conditions"], editor)
        except ValidationError as error:
            problems.append(error.detail)
    form = from_data(data, focus=focus, changed=True)
    if problems:
        form.form_error = DAMAGED.format(problems[0])
        form.focus = "error-summary"
    return form


def _foreign(name: str) -> bool:
    if not name.startswith("conditions"):
        return False
    for pattern in (SET_FIELD, PROPERTY_FIELD):
        match = pattern.fullmatch(name)
        if match and all(int(index) < MAX_INDEX for index in match.groups()[:-1]):
            return False
    return True


def _only_editor_fields(formdata: Mapping):
    """The conditions fields WTForms may read (a damaged name is reported, never turned into a row)."""
    return MultiDict(
        [(name, formdata[name]) for name in formdata if name.startswith("conditions") and not _foreign(name)]
    )


def apply_editor_action(condition_sets: list[dict], action: str) -> str | None:
    """Add or remove a condition set or a property row; return the id of what should get the focus."""
    verb, _, where = action.partition(":")
    try:
        indexes = [
            validation.integer(part, "editor", minimum=0, maximum=MAX_INDEX)
            for part in where.split(":")
            if where
        ]
    except ValidationError as error:
        raise ValidationError("editor", "invalid", f"editor: {error.detail}") from None
    if EDITOR_ACTIONS.get(verb) != len(indexes):
        raise ValidationError("editor", "invalid", f"unknown editor action {validation.shown(action)}")
    if verb == "add_set":
        if len(condition_sets) < evaluations.MAX_CONDITION_SETS:
            # A new set has no property row: an empty row looked like a value and blocked saving.
            condition_sets.append({"id": "", "rollout_percentage": "100", "properties": []})
        return f"conditions-{len(condition_sets) - 1}-rollout_percentage" if condition_sets else ADD_SET_ID
    index = indexes[0]
    if index >= len(condition_sets):
        return ADD_SET_ID
    properties = condition_sets[index]["properties"]
    if verb == "remove_set":
        del condition_sets[index]
        return ADD_SET_ID
    if verb == "add_property":
        if len(properties) < evaluations.MAX_PROPERTIES_PER_SET:
            properties.append({"key": "", "value": "", "operator": "exact", "type": "event"})
            return f"conditions-{index}-properties-{len(properties) - 1}-type"
        return f"conditions-{index}-add-property"
    if indexes[1] < len(properties):
        del properties[indexes[1]]
    return f"conditions-{index}-add-property"
