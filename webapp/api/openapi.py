"""The OpenAPI 3.1 document of the /api routes, built once per app from the routes and their operations.

Each route's view declares its operation (webapp/api/contract.py); the path, path parameters, scope
and the errors its kind of route can give come from the route itself. A route without a declared
operation stops the build, so no route goes undocumented.
"""

import re
from typing import Any

from flask import Blueprint, Flask, current_app
from pydantic import TypeAdapter

from ..services import inputs
from ..services.listing import ListSpec
from . import contract
from .errors import ERROR_TYPES

bp = Blueprint("api_schema", __name__)

TITLE = "PostHog-compatible API: LLM evaluations and error tracking"
VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# Project routes answer under both prefixes; the document names PostHog's current one.
DOCUMENTED_PREFIX = "environments_"
ALIAS_PREFIX = "projects_"
SECURITY_SCHEME = "PersonalAPIKeyAuth"
# Under /api/ but for people, not clients: the HTML reference page (webapp/web/api_docs.py) that renders
# this document is no operation of it.
PAGES = frozenset({"api_docs.show"})
STATUS_TEXT = {
    400: "The request is invalid: `attr` names the field or query parameter.",
    401: "No credentials, or the personal API key is invalid.",
    403: "The key lacks the scope or the project, or a session request lacks its CSRF token.",
    404: "No such object in this project (or no such project for this caller).",
    405: "This method is not allowed on this object.",
    408: "The request body stalled or arrived too slowly.",
    409: "A conflict: other requests changed the same rows at that moment (see Retry-After), or the data "
    "conflicts with what is stored.",
    413: "The request body is too large.",
    415: "The body's media type is not supported.",
    429: "Rate limited: see Retry-After.",
    503: "The database is unavailable for a moment: see Retry-After.",
}
PATH_PARAMETER_SCHEMAS = {
    "project_id": {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            {"type": "string", "enum": ["@current"]},
        ],
        "description": "A project id, or `@current` for the caller's current project.",
    },
    "hash_id": {"type": "string", "pattern": inputs.CLEAN_TEXT},
}
UUID_SCHEMA = {"type": "string", "format": "uuid"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "PostHog's error shape.",
    "properties": {
        "type": {"type": "string", "enum": sorted({*ERROR_TYPES.values(), "validation_error"})},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "attr": {
            "type": ["string", "null"],
            "description": "The field at fault, nested names joined by `__` (conditions__0__key).",
        },
    },
    "required": ["type", "code", "detail", "attr"],
    "additionalProperties": False,
}
SECURITY_DESCRIPTION = (
    "A personal API key (Settings → API keys), sent as `Authorization: Bearer <key>`; PostHog's "
    "alternatives work too: a `personal_api_key` field in the request body or query string. Each "
    "operation lists the scope it needs. Signed-in browser requests may use the session cookie "
    "instead, with the `X-CSRFToken` header on writes."
)


def document(app: Flask) -> dict:
    """The app's OpenAPI document, built on first use (the routes do not change while it runs)."""
    built = app.extensions.get("openapi_document")
    if built is None:
        built = app.extensions["openapi_document"] = _Builder(app).build()
    return built


@bp.get("/schema/")
@contract.operation(
    "This document: the OpenAPI 3.1 schema of the API", responses={200: contract.OpenAPIDocument}
)
def schema():
    """Public: the document describes the API and holds no data, as PostHog serves its own."""
    text = current_app.extensions.get("openapi_json")
    if text is None:
        text = current_app.extensions["openapi_json"] = current_app.json.dumps(document(current_app))
    return current_app.response_class(text, mimetype="application/json")


schema.public = True


class _Builder:
    def __init__(self, app: Flask):
        self.app = app
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def build(self) -> dict:
        paths: dict[str, dict] = {}
        for rule in sorted(self.app.url_map.iter_rules(), key=lambda rule: rule.rule):
            if not documented(rule):
                continue
            view = self.app.view_functions[rule.endpoint]
            for method in sorted(rule.methods - SKIPPED_METHODS):
                spec = contract.operation_of(view, method)
                if spec is None:
                    raise LookupError(f"{method} {rule.rule} ({rule.endpoint}) declares no API operation")
                path = openapi_path(rule.rule)
                paths.setdefault(path, {})[method.lower()] = self.operation(rule, view, method, spec)
        return {
            "openapi": "3.1.0",
            "info": {
                "title": TITLE,
                "version": VERSION,
                "description": (
                    "Project routes are documented under `/api/environments/{project_id}/`; every one also "
                    "answers under `/api/projects/{project_id}/`, as PostHog's do. Routes answer with and "
                    "without their trailing slash."
                ),
            },
            "servers": [{"url": "/"}],
            "paths": paths,
            "components": {
                "schemas": dict(sorted(self.schemas.items())),
                "securitySchemes": {
                    SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "description": SECURITY_DESCRIPTION}
                },
            },
            "x-project-route-aliases": ["/api/projects/{project_id}/"],
        }

    def operation(self, rule, view, method: str, spec: contract.Operation) -> dict:
        scope_object = getattr(view, "scope_object", None)
        public = getattr(view, "public", False)
        operation: dict[str, Any] = {
            "operationId": operation_id(rule, view, method),
            "summary": spec.summary,
            "tags": [tag(rule)],
        }
        if spec.description:
            operation["description"] = spec.description
        if spec.deprecated:
            operation["deprecated"] = True
        parameters = [path_parameter(name) for name in path_names(rule.rule)]
        parameters += self.query_parameters(spec.query)
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None or spec.body_content is not None:
            content = spec.body_content or {"application/json": {"schema": self.ref(spec.body, "validation")}}
            operation["requestBody"] = {"required": spec.body_required, "content": content}
        if public:
            operation["security"] = []
        else:
            scopes = [f"{scope_object}:{'read' if method == 'GET' else 'write'}"] if scope_object else []
            operation["security"] = [{SECURITY_SCHEME: scopes}]
        responses = {str(status): self.success(model) for status, model in spec.responses.items()}
        for status in sorted(self.error_statuses(view, method, spec)):
            responses[str(status)] = error_response(status)
        operation["responses"] = responses
        return operation

    def error_statuses(self, view, method: str, spec: contract.Operation) -> set[int]:
        """The declared errors, and those the kind of route gives (see contract)."""
        public = getattr(view, "public", False)
        statuses = set(spec.errors) | ({429} if public else set(contract.AUTH_ERRORS))
        if getattr(view, "scope_object", None):
            statuses |= set(contract.PROJECT_ERRORS)
        if method != "GET":
            statuses |= set(contract.BODY_ERRORS)
            if getattr(view, "reads_own_body", False):
                statuses.discard(415)  # an upload takes any media type (a raw body is the file)
            if spec.writes:
                statuses |= set(contract.WRITE_ERRORS)
        if spec.query:
            statuses.add(400)
        return statuses

    def query_parameters(self, query) -> list[dict]:
        if isinstance(query, ListSpec):
            return query.parameters(self.app.config["API_DEFAULT_LIMIT"], self.app.config["API_MAX_LIMIT"])
        return list(query)

    def success(self, model) -> dict:
        if model is None:
            return {"description": "Done; no content."}
        return {
            "description": "OK",
            "content": {"application/json": {"schema": self.ref(model, "serialization")}},
        }

    def ref(self, model, mode: str) -> dict:
        """The model's schema in components (with the models it uses); a $ref to it."""
        adapter = TypeAdapter(model)
        schema = without_null_defaults(adapter.json_schema(ref_template=REF, mode=mode))
        self.schemas.update(schema.pop("$defs", {}))
        name = component_name(model)
        if name is None:
            return schema
        self.schemas[name] = schema
        return {"$ref": REF.format(model=name)}


def without_null_defaults(schema: Any) -> Any:
    """Drop `"default": null`: an optional field's absence, which may not be a value the field accepts."""
    if isinstance(schema, dict):
        return {k: without_null_defaults(v) for k, v in schema.items() if not (k == "default" and v is None)}
    if isinstance(schema, list):
        return [without_null_defaults(item) for item in schema]
    return schema


def component_name(model) -> str | None:
    """`EvaluationOut`; a generic's arguments are joined on (`PaginatedEvaluationOut`)."""
    args = getattr(model, "__args__", ())
    origin = getattr(model, "__origin__", model)
    name = getattr(origin, "__name__", None)
    return name and name + "".join(arg.__name__ for arg in args)


def documented(rule) -> bool:
    """An /api rule of the document: the trailing-slash form, and project routes once."""
    if not rule.rule.startswith("/api/") or not rule.rule.endswith("/") or rule.endpoint in PAGES:
        return False
    return not rule.endpoint.startswith(ALIAS_PREFIX)


_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    return _ARGUMENT.sub(r"{\1}", rule)


def path_names(rule: str) -> list[str]:
    return _ARGUMENT.findall(rule)


def path_parameter(name: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": PATH_PARAMETER_SCHEMAS.get(name, UUID_SCHEMA),
    }


def operation_id(rule, view, method: str) -> str:
    name = view.__name__
    return f"{name}_{method.lower()}" if len(rule.methods - SKIPPED_METHODS) > 1 else name


def tag(rule) -> str:
    parts = rule.rule.split("/")
    if rule.rule.startswith("/api/environments/"):
        return parts[4]
    return parts[2]


def error_response(status: int) -> dict:
    response = {
        "description": STATUS_TEXT[status],
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }
    if status in (409, 429, 503):
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
        }
    return response
