"""The evaluation editor: flat form fields <-> the service's input, and errors back onto fields.

The conditions editor posts fields named like `conditions-0-properties-1-key`; the service
validates once and names bad fields `conditions__0__properties__1__key`, which map straight back.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..services import evaluations, validation
from ..services.errors import ValidationError

# Indexes are small ASCII numbers: `\d` would also match "٣", and int() chokes on 5000 digits.
INDEX = "(0|[1-9][0-9]{0,3})"
SET_FIELD = re.compile(rf"conditions-{INDEX}-(id|rollout_percentage)")
PROPERTY_FIELD = re.compile(rf"conditions-{INDEX}-properties-{INDEX}-(key|value|operator|type)")
# The editor's buttons: verb -> how many indexes follow it (`remove_property:0:1`).
EDITOR_ACTIONS = {"add_set": 0, "remove_set": 1, "add_property": 1, "remove_property": 2}
DAMAGED = "The form was damaged on its way here ({}). Reload the page and make your changes again."
COMPARISON_OPERATORS = ("gt", "gte", "lt", "lte")
LIST_OPERATORS = ("exact", "is_not")
MAX_INDEX = evaluations.MAX_CONDITION_SETS * 4


@dataclass
class EvaluationForm:
    """What the user typed, kept verbatim so a failed save shows it again."""

    name: str = ""
    description: str = ""
    prompt: str = ""
    enabled: bool = False
    version: int | None = None
    # [{"id", "rollout_percentage", "properties": [{"key", "value", "operator", "type"}]}], all text
    condition_sets: list[dict] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_evaluation(cls, evaluation) -> "EvaluationForm":
        return cls(
            name=evaluation.name,
            description=evaluation.description,
            prompt=evaluation.prompt,
            enabled=evaluation.enabled,
            version=evaluation.version,
            condition_sets=[
                {
                    "id": item["id"],
                    "rollout_percentage": _number_text(item.get("rollout_percentage", 100)),
                    "properties": [
                        {
                            "key": prop["key"],
                            "value": _value_text(prop.get("value")),
                            "operator": prop.get("operator", "exact"),
                            "type": prop.get("type", "event"),
                        }
                        for prop in item.get("properties", [])
                    ],
                }
                for item in evaluation.conditions or []
            ],
        )

    @classmethod
    def from_post(cls, form: Mapping) -> "EvaluationForm":
        """Read the posted fields; a field the editor never sends leaves a form-wide error."""
        problems = []
        sets: dict[int, dict] = {}
        for name, value in form.items():
            if match := SET_FIELD.fullmatch(name):
                index = int(match.group(1))
                if index < MAX_INDEX:
                    sets.setdefault(index, {"properties": {}})[match.group(2)] = value
                    continue
            elif match := PROPERTY_FIELD.fullmatch(name):
                index, prop_index = int(match.group(1)), int(match.group(2))
                if index < MAX_INDEX and prop_index < MAX_INDEX:
                    props = sets.setdefault(index, {"properties": {}})["properties"]
                    props.setdefault(prop_index, {})[match.group(3)] = value
                    continue
            if name.startswith("conditions"):
                problems.append(f"unknown field {validation.shown(name)}")
        condition_sets = [
            {
                "id": sets[i].get("id", ""),
                "rollout_percentage": sets[i].get("rollout_percentage", "100"),
                "properties": [
                    {
                        "key": prop.get("key", ""),
                        "value": prop.get("value", ""),
                        "operator": prop.get("operator", "exact"),
                        "type": prop.get("type", "event"),
                    }
                    for _, prop in sorted(sets[i]["properties"].items())
                ],
            }
            for i in sorted(sets)
        ]
        version = enabled = None
        try:
            if form.get("version"):
                version = validation.integer(form["version"], "version", minimum=0)
        except ValidationError as error:
            problems.append(f"version: {error.detail}")
        try:
            # An unticked checkbox sends nothing; a ticked one sends "on".
            enabled = validation.boolean(form.get("enabled", "false"), "enabled")
        except ValidationError as error:
            problems.append(f"enabled: {error.detail}")
        result = cls(
            name=form.get("name", ""),
            description=form.get("description", ""),
            prompt=form.get("prompt", ""),
            enabled=bool(enabled),
            version=version,
            condition_sets=condition_sets,
        )
        if problems:
            result.errors["__all__"] = DAMAGED.format(problems[0])
        return result

    def apply_editor_action(self, action: str) -> None:
        """Add or remove a condition set or property row (a non-saving submit)."""
        verb, _, where = action.partition(":")
        try:
            indexes = [validation.integer(part, "editor", minimum=0) for part in where.split(":") if where]
        except ValidationError as error:
            self.errors["__all__"] = DAMAGED.format(f"editor: {error.detail}")
            return
        if EDITOR_ACTIONS.get(verb) != len(indexes):
            self.errors["__all__"] = DAMAGED.format(f"unknown editor action {validation.shown(action)}")
            return
        if verb == "add_set" and len(self.condition_sets) < evaluations.MAX_CONDITION_SETS:
            self.condition_sets.append({"id": "", "rollout_percentage": "100", "properties": [_blank_row()]})
        elif verb == "remove_set" and indexes[0] < len(self.condition_sets):
            del self.condition_sets[indexes[0]]
        elif verb == "add_property" and indexes[0] < len(self.condition_sets):
            properties = self.condition_sets[indexes[0]]["properties"]
            if len(properties) < evaluations.MAX_PROPERTIES_PER_SET:
                properties.append(_blank_row())
        elif verb == "remove_property" and indexes[0] < len(self.condition_sets):
            properties = self.condition_sets[indexes[0]]["properties"]
            if indexes[1] < len(properties):
                del properties[indexes[1]]

    def to_input(self) -> dict:
        """The service's input: text turned into numbers and lists where the user meant them."""
        return {
            "name": self.name,
            "description": self.description,
            "prompt": self.prompt,
            "enabled": self.enabled,
            "conditions": [
                {
                    "id": item["id"],
                    "rollout_percentage": _parse_number(item["rollout_percentage"], default=100),
                    "properties": [
                        {
                            "key": prop["key"],
                            "value": _parse_value(prop["value"], prop["operator"]),
                            "operator": prop["operator"],
                            "type": prop["type"],
                        }
                        for prop in item["properties"]
                    ],
                }
                for item in self.condition_sets
            ],
        }

    def validate(self) -> dict | None:
        """Validate each field through the service's rules; return the input, or None with errors set."""
        data = self.to_input()
        for name in ("name", "prompt", "description", "conditions"):
            try:
                evaluations.validate_input({name: data[name]}, partial=True)
            except ValidationError as error:
                self.add_error(error)
        return None if self.errors else data

    def add_error(self, error: ValidationError) -> None:
        self.errors[field_name(error.attr)] = error.detail


def field_name(attr: str | None) -> str:
    """`conditions__0__properties__1__key` -> `conditions-0-properties-1-key`; None -> form-wide."""
    return attr.replace("__", "-") if attr else "__all__"


def _blank_row() -> dict:
    return {"key": "", "value": "", "operator": "exact", "type": "event"}


def _number_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _value_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_number(text: str, default):
    """A number when the text is one; the text itself otherwise, for the service to reject."""
    text = text.strip()
    if not text:
        return default
    number = validation.number_from_text(text)
    return text if number is None else number


def _parse_value(text: str, operator: str):
    text = text.strip()
    if operator in COMPARISON_OPERATORS:
        return _parse_number(text, default="")
    if operator in LIST_OPERATORS and "," in text:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text
