"""Jinja filters that turn stored values into words."""

from datetime import datetime

from markupsafe import Markup

from ..models.types import utcnow
from ..services import validation
from ..services.failure_reasons import describe
from ..services.property_values import NUMBER_OPERATORS

OPERATOR_WORDS = {
    "exact": "is",
    "is_not": "is not",
    "icontains": "contains",
    "not_icontains": "does not contain",
    "regex": "matches the pattern",
    "not_regex": "does not match the pattern",
    "gt": "is greater than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "is_set": "is set",
    "is_not_set": "is not set",
    "is_date_exact": "is on",
    "is_date_before": "is before",
    "is_date_after": "is after",
}
TYPE_WORDS = {
    "event": "Event property",
    "person": "Person property",
    "session": "Session property",
    "group": "Group property",
    "cohort": "Cohort",
    "element": "Element",
    "hogql": "SQL expression",
}


def ago(value: datetime | None) -> str:
    """'3 minutes ago' style, for timestamps in lists and the activity log."""
    if value is None:
        return "never"
    seconds = int((utcnow() - value).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size) if unit != "day" else seconds // size
            if unit == "day" and count > 30:
                return value.strftime("%-d %b %Y")
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "1 minute ago"


def operator_words(operator: str) -> str:
    return OPERATOR_WORDS.get(operator, operator)


def type_words(prop_type: str) -> str:
    return TYPE_WORDS.get(prop_type, prop_type)


def value_words(value, operator: str | None = None) -> str:
    """A condition's value as the detail page says it: text in quotes, numbers and booleans bare
    ("is greater than 0.1", not "is greater than “0.1”"; so is a number given as text to an operator that
    compares numbers), a list as its items joined by "or"."""
    if isinstance(value, list):
        return " or ".join(value_words(item, operator) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if operator in NUMBER_OPERATORS and isinstance(value, str):
        return value.strip()
    return f"“{value}”"


def percent(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value}%"


def preview(value, length: int = 90) -> str:
    """`value` on one line, cut at the last word boundary within `length` characters, with "…" when cut.

    A single word longer than `length` (a name without spaces) is cut inside it: better than nothing.
    The caller shows the full text in a title.
    """
    text = " ".join(str(value or "").split())
    if len(text) <= length:
        return text
    cut = text[: length - 1]
    if text[length - 1] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:-–—") + "…"


def _set_words(condition_set: dict) -> str:
    rollout = condition_set.get("rollout_percentage")
    share = percent(100 if rollout is None else rollout)
    count = len(condition_set.get("properties") or [])
    if not count:
        return f"{share} of all generations"
    return f"{share} when {count} condition{'s' if count != 1 else ''}"


def triggers(conditions) -> tuple[str, str]:
    """(short, full) words for an evaluation's condition sets, as PostHog's list shows them:
    "No triggers", "25% when 2 conditions", or for several sets "3 condition sets" with each spelled out."""
    sets = [item for item in conditions or [] if isinstance(item, dict)]
    if not sets:
        return "No triggers", "No condition sets: it runs on every generation."
    each = [_set_words(item) for item in sets]
    if len(sets) == 1:
        return each[0], each[0]
    return f"{len(sets)} condition sets", ", or ".join(each)


FIELD_LABELS = {
    "name": "name",
    "description": "description",
    "enabled": "enabled",
    "prompt": "prompt",
    "conditions": "conditions",
    "deleted": "archived",
}


# What an activity-log entry says, by (scope, activity). An evaluation's archive is stored as
# "deleted" (the API's soft-delete field and PostHog's word; old and new rows alike) and shown as the
# UI names it; a symbol set is really deleted.
ACTIVITY_PHRASES = {
    ("Evaluation", "created"): "created this evaluation",
    ("Evaluation", "updated"): "updated this evaluation",
    ("Evaluation", "deleted"): "archived this evaluation",
    ("Evaluation", "restored"): "restored this evaluation",
    ("SymbolSet", "uploaded"): "uploaded the file",
    ("SymbolSet", "replaced"): "replaced the file",
    ("SymbolSet", "failed"): "recorded a failure",
    ("SymbolSet", "deleted"): "deleted this symbol set",
    ("SymbolSet", "replacement_started"): "started uploading a replacement",
    ("SymbolSet", "upload_failed"): "tried a new file that failed the check (the file in use was kept)",
}


def activity_phrase(entry) -> str:
    """'archived this evaluation', 'replaced the file', ...; an unknown activity in plain words."""
    return ACTIVITY_PHRASES.get((entry.scope, entry.activity), entry.activity.replace("_", " "))


def file_size(size: int) -> str:
    """'815 bytes', '1.2 KiB', '3.4 MiB'."""
    if size < 1024:
        return f"{size} byte{'' if size == 1 else 's'}"
    value, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}"


def printable(value):
    """What every `{{ }}` prints: text that UTF-8 can encode, whatever was stored.

    Input is checked now, but a lone surrogate stored earlier (SQLite keeps JSON's "\\ud800") would
    otherwise fail every page that shows it.
    """
    if isinstance(value, str) and not value.isascii():
        cleaned = validation.printable(value)
        if cleaned is not value:
            return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value


def register(app) -> None:
    app.jinja_env.finalize = printable
    app.add_template_filter(ago)
    app.add_template_filter(operator_words)
    app.add_template_filter(type_words)
    app.add_template_filter(value_words)
    app.add_template_filter(percent)
    app.add_template_filter(preview)
    app.add_template_filter(triggers)
    app.add_template_filter(file_size)
    app.add_template_filter(activity_phrase)
    app.add_template_filter(describe, "failure_sentence")
    app.add_template_global(FIELD_LABELS, "field_labels")
