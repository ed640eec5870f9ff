"""API authentication: personal API keys (header, body, query) or the browser session with CSRF."""

import functools
from datetime import timedelta

from flask import current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import ImmutableMultiDict

from ..extensions import csrf
from ..models import User
from ..services import accounts, api_keys, validation
from ..services.errors import NotFound, ServiceError, ValidationError
from ..services.listing import last_value
from .errors import ApiError, from_service_error
from .request_data import body_is_the_views, request_body

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
KEY_FIELD = "personal_api_key"
PRESENTED_KEY = "webapp.presented_api_key"  # the environ entry raw_key() keeps its answer in


def raw_key() -> str | None:
    """The key from `Authorization: Bearer`, else the body, else the query string; read once per request
    (the rate limiter asks first, then authenticate)."""
    # Kept in the request's environ (g may outlive a request: a test's app context); the request itself,
    # not its proxy, since each proxy access costs a context lookup.
    current = request._get_current_object()
    environ = current.environ
    if PRESENTED_KEY not in environ:
        environ[PRESENTED_KEY] = _read_key(current)
    return environ[PRESENTED_KEY]


def bearer_key(authorization: str) -> str | None:
    """The key of an `Authorization: Bearer <key>` header's value, if it is one."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _read_key(current) -> str | None:
    from_header = bearer_key(current.headers.get("Authorization", ""))
    if from_header is not None:
        return from_header
    if current.method not in SAFE_METHODS and not body_is_the_views():
        body_key = request_body().get(KEY_FIELD)
        if isinstance(body_key, str) and body_key:
            return body_key
    return last_value(current.args, KEY_FIELD) or None


def authenticate() -> None:
    """Set g.api_key (a KeyCaller, or None for a session) and the caller, or raise a 401/403 ApiError.

    A key's lookup also reads the project a project route names by id (whether the key's user may use
    it): one statement for the key, its user and the project.
    """
    presented = raw_key()
    if presented is not None:
        interval = timedelta(seconds=current_app.config["API_KEY_TOUCH_INTERVAL_SECONDS"])
        project_id = project_id_of((request.view_args or {}).get("project_id"))
        key = api_keys.authenticate_key(presented, interval, project_id)
        if key is None:
            raise ApiError(401, "authentication_failed", "Personal API key is invalid.")
        found = g._get_current_object()
        found.api_key, found.api_user_id = key, key.user_id
        return
    if current_user.is_authenticated:
        if request.method not in SAFE_METHODS:
            _protect_from_csrf()
        g.api_key, g.api_user = None, current_user._get_current_object()
        return
    raise ApiError(401, "not_authenticated", "Authentication credentials were not provided.")


def project_id_of(project_ref: str | None) -> int | None:
    """A project route's id, when it is one (not `@current`, nor text no project has)."""
    if project_ref is None or project_ref == "@current":
        return None
    try:
        return validation.integer(project_ref, None, minimum=1, maximum=validation.INT32_MAX)
    except ValidationError:
        return None


def api_limits() -> tuple[int, int]:
    """A list's default and largest page size."""
    config = current_app.config
    return config["API_DEFAULT_LIMIT"], config["API_MAX_LIMIT"]


def api_user() -> User:
    """The calling user: the session's, or the key's owner, loaded on first use (a list needs none)."""
    user = g.get("api_user")
    if user is None:
        user = g.api_user = accounts.get_user(g.api_user_id)
    return user


def _protect_from_csrf() -> None:
    """Flask-WTF's check (the token from the form, else the X-CSRFToken header), answered in our shape."""
    # Looking for a token in the form would read an upload before its view: Flask-WTF is shown an empty
    # form (the token must come in the header), then the body is left for the view to parse.
    hide_form = body_is_the_views()
    if hide_form:
        request.form = ImmutableMultiDict()  # Werkzeug's cached_property: set, later deleted
    try:
        csrf.protect()
    except CSRFError as error:
        raise ApiError(403, "permission_denied", f"CSRF Failed: {error.description}") from None
    finally:
        if hide_form:
            del request.form


def key_projects() -> list[int] | None:
    """The projects the calling key is limited to; None for all (or for a session)."""
    key = g.get("api_key")
    return key.scoped_teams if key is not None else None


def require_scope(scope: str) -> None:
    """Refuse a key that lacks `scope`; session callers have every scope."""
    key = g.get("api_key")
    if key is not None and not api_keys.has_scope(key.scopes, scope):
        raise _missing_scope(scope)


def key_refusal(key: api_keys.KeyCaller, project_id: int, scope: str) -> ApiError | None:
    """Why `key` may not make a call needing `scope` on this project (None if it may): a key limited to
    other projects, or one without the scope. Project routes ask it, through Flask or fast_reads.py."""
    if key.scoped_teams and project_id not in key.scoped_teams:
        return ApiError(403, "permission_denied", "API key does not have access to the requested project.")
    if not api_keys.has_scope(key.scopes, scope):
        return _missing_scope(scope)
    return None


def _missing_scope(scope: str) -> ApiError:
    return ApiError(403, "permission_denied", f"API key missing required scope '{scope}'")


def _resolve_project(project_ref: str, limit: list[int] | None):
    """The project the route names, if the caller may use it: as the key's lookup read it, else loaded."""
    key = g.get("api_key")
    if key is not None and project_id_of(project_ref) is not None:
        if key.project is None:
            raise from_service_error(NotFound(accounts.PROJECT_NOT_FOUND))
        return key.project
    try:
        return accounts.resolve_project(api_user(), project_ref, within=limit)
    except ServiceError as error:
        raise from_service_error(error) from None


def project_endpoint(scope_object: str):
    """Resolve `project_id` (id or @current) to g.project and check key scopes for the method.

    g.project has the project's columns (`id`, `organization_id`, ...): a key's read it with the key.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(project_id, **kwargs):
            project = g.project = _resolve_project(project_id, key_projects())
            key = g.get("api_key")
            if key is not None:  # a session caller has every scope and project of its organizations
                refusal = key_refusal(key, project.id, scopes[request.method in SAFE_METHODS])
                if refusal is not None:
                    raise refusal
            return view(**kwargs)

        scopes = {True: f"{scope_object}:read", False: f"{scope_object}:write"}

        wrapper.scope_object = scope_object  # the schema lists the scope each operation needs
        return wrapper

    return decorator
