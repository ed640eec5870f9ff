"""App-wide error pages: JSON in the PostHog shape under /api, HTML elsewhere; never a traceback."""

from flask import current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .api.errors import ApiError, error_response
from .extensions import db

API_CODES = {
    400: "parse_error",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def _wants_json() -> bool:
    # API clients and the presigned storage URLs' callers (build tools) read JSON, not HTML.
    return request.path.startswith(("/api/", "/storage/"))


def handle_http_error(error: HTTPException):
    if _wants_json():
        detail = {404: "Not found.", 405: f'Method "{request.method}" not allowed.'}.get(
            error.code, error.description
        )
        return error_response(ApiError(error.code, API_CODES.get(error.code, "error"), detail))
    return render_template("errors/error.html", error=error), error.code


def handle_csrf_error(error: CSRFError):
    if _wants_json():
        return error_response(ApiError(403, "permission_denied", f"CSRF Failed: {error.description}"))
    return (
        render_template(
            "errors/error.html",
            error=error,
            message="Your form expired or came from another site. Go back, reload the page and try again.",
        ),
        403,
    )


def handle_unexpected_error(error: Exception):
    db.session.rollback()
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    # The traceback goes to the log; the client only sees a generic message.
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    if _wants_json():
        return error_response(ApiError(500, "error", "A server error occurred."))
    return render_template("errors/error.html", error=InternalServerError()), 500


def init_app(app) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)
