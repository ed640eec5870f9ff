"""One list page for every list: its state from the query string, one page of rows, and the URLs its
links need (sort, page, clear filters), so templates never rebuild a query string themselves."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from flask import current_app, request, url_for

from ..services.errors import ValidationError
from ..services.listing import ListQuery, ListSpec, Page
from .htmx import is_partial_request, render


@dataclass(frozen=True)
class ListState:
    """What a list page shows and how its links change it (flask-admin's ViewArgs, as an object).

    `args` are the tidy query parameters the page was asked for (each once, none blank); `query` is
    what they parse to, or the default list when they did not parse (`error` says why).
    """

    endpoint: str
    args: dict[str, str]
    query: ListQuery
    page: Page
    # The parameters "Clear filters" removes, and values of them that filter nothing (status=all).
    filter_names: tuple[str, ...] = ()
    neutral: Mapping[str, str] | None = None
    error: ValidationError | None = None

    def url(self, **changes) -> str:
        """This list with `changes` applied: None removes a parameter. Any change but `offset` starts
        again from the first page, as a new sort or filter shows different rows."""
        args = dict(self.args)
        if changes and "offset" not in changes:
            args.pop("offset", None)
        for name, value in changes.items():
            if value is None or value == "":
                args.pop(name, None)
            else:
                args[name] = str(value)
        if args.get("offset") == "0":
            args.pop("offset")
        return url_for(self.endpoint, **args)

    def page_url(self, offset: int) -> str:
        return self.url(offset=offset)

    def sorted(self, field: str) -> str | None:
        """ "ascending" or "descending" when the list is sorted by `field` first (the default order
        counts, so the default column shows its direction too), else None."""
        first = self.query.order_by[0]
        if first == field:
            return "ascending"
        if first == f"-{field}":
            return "descending"
        return None

    def sort_url(self, field: str) -> str:
        """Sorted by `field` alone: ascending first, descending when it already is ascending."""
        return self.url(order_by=f"-{field}" if self.sorted(field) == "ascending" else field)

    @property
    def filtered(self) -> bool:
        neutral = self.neutral or {}
        return any(name in self.args and self.args[name] != neutral.get(name) for name in self.filter_names)

    def clear_url(self) -> str:
        """The same list without its filters (order and page size kept)."""
        return self.url(**dict.fromkeys(self.filter_names))


def list_state(
    spec: ListSpec,
    fetch: Callable[[ListQuery], Page],
    args: Mapping[str, str],
    *,
    endpoint: str,
    filter_names: tuple[str, ...] = (),
    neutral: Mapping[str, str] | None = None,
) -> ListState:
    """Parse `args`, fetch their page, and show the last page instead of one past the end (the last
    rows were just archived or deleted). Parameters that do not parse give the default list."""
    state = spec.state(args)
    size, most = current_app.config["UI_PAGE_SIZE"], current_app.config["UI_MAX_PAGE_SIZE"]
    error = None
    try:
        query = spec.parse(state, size, most)
    except ValidationError as exc:
        error, query = exc, spec.parse({}, size, most)
    page = fetch(query)
    if not page.items and page.count and query.offset:
        last = (page.count - 1) // query.limit * query.limit
        query = replace(query, offset=last)
        state = {name: value for name, value in state.items() if name != "offset"}
        if last:
            state["offset"] = str(last)
        page = fetch(query)
    return ListState(endpoint, state, query, page, filter_names, neutral, error)


def render_list(page_template: str, partial_template: str, listing: ListState, **context):
    """The list page, or its results region for htmx; 400 when the query did not parse.

    A partial answering a GET pushes the tidy URL (no blank parameters) that a shared link or reload
    would use; one answering a POST (a row archived from the list) replaces the URL instead, so the
    address shows the page on screen (the last page, when the one shown emptied) without a new entry.
    """
    response = render(
        page_template,
        partial_template,
        status=400 if listing.error else 200,
        listing=listing,
        page=listing.page,
        query=listing.query,
        state=listing.args,
        **context,
    )
    if is_partial_request():
        header = "HX-Push-Url" if request.method == "GET" else "HX-Replace-Url"
        response.headers[header] = listing.url()
    return response
