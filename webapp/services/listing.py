"""One list-query parser for the API and the UI: filters, search, order, limit/offset."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from . import validation
from .errors import ValidationError

# Both databases store OFFSET as a signed 64-bit integer.
MAX_OFFSET = validation.INT64_MAX


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
class ListQuery:
    filters: dict[str, Any]
    order_by: str
    limit: int
    offset: int


@dataclass(frozen=True)
class ListSpec:
    """Which filters and orderings a list accepts."""

    order_fields: tuple[str, ...]
    default_order: str
    filters: dict[str, Callable[[str, str], Any]] = field(default_factory=dict)

    @property
    def order_choices(self) -> tuple[str, ...]:
        return tuple(choice for name in self.order_fields for choice in (name, f"-{name}"))

    def parse(self, args: Mapping[str, str], default_limit: int, max_limit: int) -> ListQuery:
        """Parse query-string arguments; empty values count as absent. Raise ValidationError."""

        def present(name: str) -> str | None:
            value = args.get(name)
            return value if value is not None and value.strip() != "" else None

        filters = {}
        for name, parser in self.filters.items():
            raw = present(name)
            if raw is not None:
                filters[name] = parser(raw, name)
        order_by = present("order_by") or self.default_order
        parse_choice(self.order_choices)(order_by, "order_by")
        limit = present("limit")
        offset = present("offset")
        return ListQuery(
            filters=filters,
            order_by=order_by,
            limit=min(validation.integer(limit, "limit", minimum=1), max_limit) if limit else default_limit,
            offset=validation.integer(offset, "offset", minimum=0, maximum=MAX_OFFSET) if offset else 0,
        )


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


def paginate(session: Session, statement: Select, columns: dict, query: ListQuery, tie_break) -> Page:
    """Count the filtered rows, then fetch one ordered page (two statements)."""
    count = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    name = query.order_by.lstrip("-")
    column = columns[name]
    descending = query.order_by.startswith("-")
    ordering = (column.desc(), tie_break.desc()) if descending else (column.asc(), tie_break.asc())
    # Never-set values (e.g. a symbol set never used) sort last either way, on every database.
    ordering = (ordering[0].nulls_last(), ordering[1])
    items = list(session.scalars(statement.order_by(*ordering).limit(query.limit).offset(query.offset)))
    return Page(items=items, count=count, limit=query.limit, offset=query.offset)
