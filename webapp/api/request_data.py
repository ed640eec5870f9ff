"""Read an API request body as a flat dict: JSON, form-encoded or multipart."""

from flask import current_app, g, request

from ..services import inputs, validation
from .errors import ApiError

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def reads_own_body(view):
    """Mark a view whose body is an upload it reads itself: nothing may parse (and so consume) it before.

    Its caller's API key comes from the header or the query string, and a session's CSRF token from the
    X-CSRFToken header (see auth).
    """
    view.reads_own_body = True
    return view


def body_limit(max_bytes: int):
    """Mark a view whose JSON body may be larger than MAX_CONTENT_LENGTH (up to `max_bytes`; past it 413)."""

    def mark(view):
        view.body_limit = max_bytes
        return view

    return mark


def body_is_the_views() -> bool:
    """Whether this request's view reads its body itself (reads_own_body)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "reads_own_body", False)


def request_body() -> dict:
    """Parse once per request; bad JSON is 400 parse_error, other media types 415."""
    if "api_body" in g:
        return g.api_body
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "body_limit", None):
        request.max_content_length = view.body_limit
    try:
        g.api_body = _parse()
    except validation.InvalidJSON as error:
        raise ApiError(400, "parse_error", f"JSON parse error - {error.detail}", error.attr) from None
    return g.api_body


def _parse() -> dict:
    mimetype = request.mimetype
    if mimetype == "application/json" or mimetype.endswith("+json"):
        if not request.get_data(cache=True):
            return {}
        # Not get_json(silent=True): it answers None for bad JSON and for a valid `null` alike.
        data = validation.loads_json(request.get_data(cache=True))
        if not isinstance(data, dict):
            raise ApiError(
                400,
                "invalid_input",
                f"Invalid data. Expected a dictionary, but got {type(data).__name__}.",
                type_="validation_error",
            )
        return data
    if mimetype in FORM_TYPES:
        return inputs.FormData(request.form.to_dict(flat=True))
    if not mimetype and not request.get_data(cache=True):
        return {}
    raise ApiError(415, "unsupported_media_type", f'Unsupported media type "{mimetype}" in request.')
