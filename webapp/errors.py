"""App-wide error pages: JSON in the PostHog shape under /api, HTML elsewhere; never a traceback."""

from contextlib import suppress

from flask import current_app, g, make_response, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    RequestEntityTooLarge,
)
from werkzeug.exceptions import Conflict as HTTPConflict
from werkzeug.exceptions import NotFound as HTTPNotFound

from .api.errors import ApiError, error_response, from_service_error
from .api.routing import other_methods
from .availability import describe, is_unavailable
from .database import is_contention
from .extensions import db
from .services.errors import Conflict, Contended, NotFound, PermissionDenied, ServiceError, TooLarge
from .web.htmx import is_partial_request

API_CODES = {
    400: "parse_error",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}

# Domain errors a page left unhandled, as HTTP errors; anything else (ValidationError) is a 400.
WEB_ERRORS = (
    (NotFound, HTTPNotFound),
    (PermissionDenied, Forbidden),
    (Conflict, HTTPConflict),
    (TooLarge, RequestEntityTooLarge),
)

# When to retry after an outage: about what a database restart or failover takes.
RETRY_AFTER_SECONDS = 5

# Headings and messages for the pages of common errors, instead of Werkzeug's default texts.
FRIENDLY = {
    400: ("Request not understood", "The page could not read what was sent. Go back, reload and try again."),
    403: ("Not allowed", "You do not have access to this. Reload the page or sign in again."),
    404: (
        "Page not found",
        "There is nothing at this address. Check the link, or start again from the home page.",
    ),
    405: (
        "Not available this way",
        "This address cannot be used like that. Go back and use the page's buttons.",
    ),
    409: (
        "Changed meanwhile",
        "Someone else changed the same items at that moment. Nothing was changed; try again.",
    ),
    413: ("Too large", "What was sent is larger than allowed. Nothing was changed."),
    500: (
        "Something went wrong",
        "An error occurred on the server and was logged. Nothing was changed; try again.",
    ),
}

# A missing item named by the service (NotFound.resource): its own message and a link to its list.
MISSING = {
    "evaluation": (
        "Evaluation not found",
        "This evaluation does not exist or was deleted.",
        "evaluations.index",
        "Go to the evaluations",
    ),
    "symbol_set": (
        "Symbol set not found",
        "This symbol set does not exist or was deleted.",
        "symbol_sets.index",
        "Go to the symbol sets",
    ),
}


def _wants_json() -> bool:
    # API clients and the presigned storage URLs' callers (build tools) read JSON, not HTML.
    return request.path.startswith(("/api/", "/storage/"))


def _discard_transaction() -> None:
    # The connection may be gone already: the error being answered matters, not the rollback's.
    with suppress(SQLAlchemyError):
        db.session.rollback()


def unavailable_response(error: BaseException):
    """Answer 503 with Retry-After: the error shape for the API, a page that needs no database for HTML."""
    _discard_transaction()
    current_app.logger.error("Unavailable on %s %s: %s", request.method, request.path, describe(error))
    if _wants_json():
        response = error_response(
            ApiError(
                503, "service_unavailable", "The service is unavailable for a moment; try again shortly."
            )
        )
    else:
        # Not render_template: its context processors look up the signed-in user and their projects.
        page = current_app.jinja_env.get_template("errors/unavailable.html").render(
            retry_after=RETRY_AFTER_SECONDS
        )
        response = current_app.response_class(page, 503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_text(error: HTTPException, message: str | None, missing: str | None) -> dict:
    """Heading, message and the one link of an error page."""
    if missing in MISSING and "project" in g:
        title, text, endpoint, link_text = MISSING[missing]
        return {"title": title, "message": text, "link": url_for(endpoint), "link_text": link_text}
    title, default = FRIENDLY.get(error.code, (error.name, error.description))
    # Werkzeug's own description is replaced; one a view gave (abort(404, "...")) is kept.
    own = error.description if error.description != type(error).description else None
    return {
        "title": title,
        "message": message or own or default,
        "link": url_for("projects.home"),
        "link_text": "Go to the start page",
    }


def _error_page(error: HTTPException, status: int, message: str | None = None, missing: str | None = None):
    """The error page in the site's layout (for htmx, a fragment the page shows in its message
    region), or the plain 503 page when the layout needs the database."""
    template = "errors/_error.html" if is_partial_request() else "errors/error.html"
    try:
        return render_template(template, error=error, **_page_text(error, message, missing)), status
    except Exception as failure:
        if not is_unavailable(failure):
            raise
        return unavailable_response(failure)


def handle_http_error(error: HTTPException, missing: str | None = None):
    if _wants_json():
        detail = {404: "Not found.", 405: f'Method "{request.method}" not allowed.'}.get(
            error.code, error.description
        )
        allow = other_methods() if isinstance(error, MethodNotAllowed) else None
        return error_response(ApiError(error.code, API_CODES.get(error.code, "error"), detail, allow=allow))
    return _error_page(error, error.code, missing=missing)


def handle_csrf_error(error: CSRFError):
    if _wants_json():
        return error_response(ApiError(403, "permission_denied", f"CSRF Failed: {error.description}"))
    message = "Your form expired or came from another site. Go back, reload the page and try again."
    return _error_page(error, 403, message)


def handle_service_error(error: ServiceError):
    """A domain error a view left unhandled (bad input, a row missing or deleted meanwhile, a lost race).

    The one place service errors become HTTP answers: views let NotFound, PermissionDenied, Conflict
    and TooLarge propagate instead of catching them to abort(); never a 500.
    """
    _discard_transaction()
    if _wants_json():
        return error_response(from_service_error(error))
    http_error = next((http for kind, http in WEB_ERRORS if isinstance(error, kind)), BadRequest)
    # A bare NotFound() says nothing the page's own wording does not say better.
    description = None if error.detail == NotFound().detail else error.detail
    missing = error.resource if isinstance(error, NotFound) else None
    response = make_response(handle_http_error(http_error(description), missing=missing))
    if isinstance(error, Contended):
        # Other requests kept changing the same rows: the same request may simply be sent again.
        response.headers.setdefault("Retry-After", str(error.retry_after_seconds))
    return response


def handle_unexpected_error(error: Exception):
    if isinstance(error, HTTPException):
        _discard_transaction()
        return handle_http_error(error)
    if is_contention(error):
        # A write path without its own retry lost a race: a conflict to retry, not a server error.
        current_app.logger.warning(
            "Contended write on %s %s: %s", request.method, request.path, describe(error)
        )
        return handle_service_error(Contended())
    if is_unavailable(error):
        return unavailable_response(error)
    _discard_transaction()
    # The traceback goes to the log; the client only sees a generic message.
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    if _wants_json():
        return error_response(ApiError(500, "error", "A server error occurred."))
    return _error_page(InternalServerError(), 500)


def init_app(app) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(Exception, handle_unexpected_error)
