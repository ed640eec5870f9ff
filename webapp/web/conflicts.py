"""What differs between the saved evaluation (theirs) and the edits whose save conflicted (yours)."""

from dataclasses import dataclass

from .filters import operator_words, type_words, value_words

LABELS = {
    "name": "Name",
    "description": "Description",
    "prompt": "Judge prompt",
    "enabled": "Enabled",
    "conditions": "Trigger conditions",
}


@dataclass(frozen=True)
class Difference:
    label: str
    theirs: str
    yours: str


def differences(current, yours: dict) -> list[Difference]:
    """Each field whose saved value (theirs) is not what the person tried to save (yours), as text."""
    theirs = {field: getattr(current, field) for field in LABELS}
    return [
        Difference(label, _text(field, theirs[field]), _text(field, yours.get(field)))
        for field, label in LABELS.items()
        if _comparable(field, theirs[field]) != _comparable(field, yours.get(field))
    ]


def _comparable(field: str, value):
    if field == "conditions":
        # A set's id is made up when it is first saved: it is not a change anyone typed.
        return [{key: item[key] for key in item if key != "id"} for item in value or []]
    if field == "description":
        return value or ""
    return value


def _text(field: str, value) -> str:
    if field == "enabled":
        return "On" if value else "Off"
    if field == "conditions":
        return conditions_text(value or [])
    return value or "(empty)"


def conditions_text(conditions: list[dict]) -> str:
    """Condition sets in words, one per line ("Set 1: 25% of generations where …")."""
    if not conditions:
        return "Every generation (no conditions)."
    lines = []
    for number, item in enumerate(conditions, start=1):
        tests = [
            f"{type_words(prop['type']).lower()} {prop['key']} {operator_words(prop['operator'])}"
            + (f" {value_words(prop['value'], prop['operator'])}" if prop.get("value") is not None else "")
            for prop in item.get("properties", [])
        ]
        where = f" where {' and '.join(tests)}" if tests else ""
        lines.append(f"Set {number}: {item['rollout_percentage']:g}% of generations{where}")
    return "\n".join(lines)
