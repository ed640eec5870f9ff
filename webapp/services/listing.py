"""One list-query parser for the API and the UI: filters, search, order, limit/offset.

It reads a query string as PostHog's server (Django REST framework) does: a repeated parameter's last value
wins (Django's QueryDict), `order_by` is a comma list, a `limit` of 0 or less means the default page and a
negative `offset` counts as 0. Unlike DRF it never ignores input silently: text that is not a whole number,
an unknown `order_by` field or a bad filter value is a 400 naming the parameter.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Select, String, cast, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from . import validation
from .errors import ValidationError

# limit and offset are read within validation.integer's int64 bounds: both databases store OFFSET as one.
INT64_SCHEMA = {"type": "integer", "format": "int64"}


def parse_choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(value: str, name: str) -> str:
        if value not in choices:
            raise ValidationError(
                name,
                "invalid_choice",
                f"{validation.shown(value)} is not a valid choice; use one of {', '.join(choices)}.",
            )
        return value

    return parse


def parse_text(value: str, name: str) -> str:
    # PostgreSQL refuses NUL in text; SQLite's full-text query fails on it.
    return validation.clean_text(value, name).strip()


@dataclass(frozen=True)
class Filter:
    """A filter parameter: how its text parses, and the OpenAPI schema of the text it accepts."""

    parse: Callable[[str, str], Any]
    schema: dict
    description: str = ""
    # False: several values travel as one comma list (OpenAPI style=form, explode=false).
    explode: bool = True

    def described(self, description: str) -> "Filter":
        return replace(self, description=description)


BOOLEAN = Filter(validation.boolean, {"type": "boolean"})
UUID_LIST = Filter(
    validation.uuid_list, {"type": "array", "items": {"type": "string", "format": "uuid"}}, explode=False
)
TEXT = Filter(parse_text, {"type": "string"})


def choice(choices: tuple[str, ...]) -> Filter:
    return Filter(parse_choice(choices), {"type": "string", "enum": list(choices)})


@dataclass(frozen=True)
class ListQuery:
    filters: dict[str, Any]
    # Fields to sort by, in turn, each "name" or "-name" (descending).
    order_by: tuple[str, ...]
    limit: int
    offset: int


def last_value(args: Mapping[str, str], name: str) -> str | None:
    """The parameter's last value, as Django's QueryDict gives (werkzeug's MultiDict.get gives the first)."""
    getlist = getattr(args, "getlist", None)
    if getlist is not None:
        values = getlist(name)
        return values[-1] if values else None
    return args.get(name)


@dataclass(frozen=True)
class ListSpec:
    """Which filters and orderings a list accepts."""

    order_fields: tuple[str, ...]
    default_order: str
    filters: dict[str, Filter] = field(default_factory=dict)

    @property
    def order_choices(self) -> tuple[str, ...]:
        return tuple(choice for name in self.order_fields for choice in (name, f"-{name}"))

    @property
    def names(self) -> tuple[str, ...]:
        """Every query parameter the list reads."""
        return (*self.filters, "order_by", "limit", "offset")

    def state(self, args: Mapping[str, str]) -> dict[str, str]:
        """The parameters the list reads, each once with its last value; blank ones count as absent."""
        state = {}
        for name in self.names:
            value = last_value(args, name)
            if value is not None and value.strip() != "":
                state[name] = value
        return state

    def parse_order(self, value: str | None) -> tuple[str, ...]:
        """A comma list of ±fields, sorted by in turn.

        Spaces around items and empty items are ignored, as DRF's OrderingFilter does; a field given again
        (`name,-name`) keeps its first place and direction, as a database does with a repeated ORDER BY
        column; any other item not in the allow-list is a 400 (attr `order_by`).
        """
        check = parse_choice(self.order_choices)
        order: dict[str, str] = {}
        for item in (value or "").split(","):
            item = item.strip()
            if item:
                order.setdefault(check(item, "order_by").lstrip("-"), item)
        return tuple(order.values()) or (self.default_order,)

    def parse(self, args: Mapping[str, str], default_limit: int, max_limit: int) -> ListQuery:
        """Parse query-string arguments (last value wins; blank means absent). Raise ValidationError.

        `limit` and `offset` are whole numbers within int64 (anything else is a 400): a limit of 0 or less
        gives the default page and one above `max_limit` is capped; a negative offset counts as 0.
        """
        state = self.state(args)
        filters = {
            name: spec.parse(state[name], name) for name, spec in self.filters.items() if name in state
        }
        limit = validation.integer(state["limit"], "limit") if "limit" in state else 0
        offset = validation.integer(state["offset"], "offset") if "offset" in state else 0
        return ListQuery(
            filters=filters,
            order_by=self.parse_order(state.get("order_by")),
            limit=min(limit, max_limit) if limit > 0 else default_limit,
            offset=max(offset, 0),
        )

    def parameters(self, default_limit: int, max_limit: int) -> list[dict]:
        """OpenAPI 3.1 query parameter objects describing exactly what `parse` accepts."""

        def parameter(name: str, schema: dict, description: str, explode: bool = True) -> dict:
            # allowEmptyValue: a blank value counts as absent (`?order_by=&limit=`), as `state` reads it.
            described = {
                "name": name,
                "in": "query",
                "required": False,
                "allowEmptyValue": True,
                "schema": schema,
            }
            if description:
                described["description"] = description
            if not explode:
                described |= {"style": "form", "explode": False}
            return described

        default_order = self.parse_order(None)
        return [
            *(parameter(name, f.schema, f.description, f.explode) for name, f in self.filters.items()),
            parameter(
                "order_by",
                {"type": "array", "items": {"type": "string", "enum": list(self.order_choices)}},
                "Fields to sort by, in turn, as a comma list; a leading '-' sorts that field descending. "
                f"Default: {','.join(default_order)}. Ties are broken by id.",
                explode=False,
            ),
            parameter(
                "limit",
                INT64_SCHEMA,
                f"Results per page: default {default_limit} (also for 0 or less), at most {max_limit}.",
            ),
            parameter("offset", INT64_SCHEMA, "How many results to skip (a negative offset counts as 0)."),
        ]


class _UuidText(TypeDecorator):
    """A uuid's canonical text from what the database holds: SQLite keeps 32 hex digits (SQLAlchemy's
    Uuid), PostgreSQL gives the text form already."""

    impl = String
    cache_ok = True

    def process_result_value(self, value, dialect):
        if value is None or len(value) != 32:
            return value
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def uuid_text(column, name: str):
    """A uuid column read as text (`str(uuid)`), for list rows: no uuid.UUID built per row."""
    return type_coerce(cast(column, String), _UuidText()).label(name)


@dataclass(frozen=True)
class Page:
    items: list
    count: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + self.limit
        return end if end < self.count else None

    @property
    def previous_offset(self) -> int | None:
        if self.offset <= 0:
            return None
        return max(self.offset - self.limit, 0)


def _ordering(order_columns: dict, order_by: tuple[str, ...], key, reverse: bool) -> list:
    """ORDER BY terms for `order_by` then `key` in the first field's direction; `reverse` gives the
    exact reverse of that order (never-set values first)."""
    terms = []
    for item in order_by:
        column = order_columns[item.lstrip("-")]
        direction = column.desc() if item.startswith("-") != reverse else column.asc()
        if column.nullable:
            terms.append(direction.nulls_first() if reverse else direction.nulls_last())
        else:
            # A column that cannot be NULL says nothing about NULLs: on PostgreSQL, NULLS LAST on a
            # descending order would keep a plain index from giving the order.
            terms.append(direction)
    terms.append(key.desc() if order_by[0].startswith("-") != reverse else key.asc())
    return terms


def paginate(
    session: Session, columns: Select, criteria: list, order_columns: dict, query: ListQuery, key
) -> Page:
    """Count the rows `criteria` pick from `key`'s table, then fetch one ordered page of `columns` (two
    statements, whatever the page size). The items are Core rows, not ORM objects: nothing is built per
    row but the row itself.

    The count reads that table alone (the page's joins cannot change it), so an index on the filtered
    columns answers it. The page's offset runs in a subquery that selects only the key: its ordered
    index is scanned without visiting the table, and only the page's own rows are read in full. A page
    past the middle is read from the far end, in reverse order, and turned around: an offset near the
    end skips few index entries instead of nearly all.

    Rows are sorted by each ordering field in turn, then by `key` (the primary key) in the first field's
    direction (so reversing a one-field order reverses the whole list). Never-set values (e.g. a symbol
    set never used) sort last in every field, either way, on every database.
    """
    count = session.scalar(select(func.count()).select_from(key.table).where(*criteria))
    limit, offset = query.limit, query.offset
    reverse = count // 2 < offset < count
    if reverse:
        limit, offset = min(limit, count - offset), max(count - offset - limit, 0)
    ordering = _ordering(order_columns, query.order_by, key, reverse)
    keys = select(key).where(*criteria).order_by(*ordering).limit(limit).offset(offset).subquery()
    items = session.execute(columns.join(keys, keys.c[0] == key).order_by(*ordering)).all()
    if reverse:
        items.reverse()
    return Page(items=items, count=count, limit=query.limit, offset=query.offset)
