"""PostHog's error shape: {"type", "code", "detail", "attr"}."""

from collections.abc import Iterable

from flask import jsonify

from ..services.errors import (
    Conflict,
    Contended,
    NotFound,
    PermissionDenied,
    ServiceError,
    TooLarge,
    ValidationError,
)

ERROR_TYPES = {
    400: "invalid_request",
    401: "authentication_error",
    403: "authentication_error",
    404: "invalid_request",
    405: "invalid_request",
    408: "invalid_request",
    409: "invalid_request",
    410: "invalid_request",
    413: "invalid_request",
    415: "invalid_request",
    429: "throttled_error",
    500: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    """An error response raised from anywhere in an API request."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        attr: str | None = None,
        type_: str | None = None,
        retry_after: int | None = None,
        allow: Iterable[str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.attr = attr
        self.type = type_ or ERROR_TYPES.get(status, "invalid_request")
        self.retry_after = retry_after
        # A 405 names the methods the path does answer, as DRF and Werkzeug do.
        self.allow = sorted(allow) if allow is not None else None


def error_response(error: ApiError):
    response = jsonify(type=error.type, code=error.code, detail=error.detail, attr=error.attr)
    response.status_code = error.status
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    if error.allow is not None:
        response.headers["Allow"] = ", ".join(error.allow)
    return response


def from_service_error(error: ServiceError) -> ApiError:
    if isinstance(error, ValidationError):
        return ApiError(400, error.code, error.detail, error.attr, type_="validation_error")
    if isinstance(error, NotFound):
        return ApiError(404, "not_found", error.detail)
    if isinstance(error, TooLarge):
        return ApiError(413, error.code, error.detail, error.attr)
    if isinstance(error, PermissionDenied):
        return ApiError(403, "permission_denied", error.detail)
    if isinstance(error, Conflict):
        # A contended write may simply be sent again: say when.
        retry_after = error.retry_after_seconds if isinstance(error, Contended) else None
        return ApiError(409, error.code, error.detail, error.attr, retry_after=retry_after)
    return ApiError(400, error.code, error.detail, error.attr)
