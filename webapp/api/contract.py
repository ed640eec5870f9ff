"""What each API operation accepts and answers, declared on its view; webapp/api/openapi.py publishes it.

The request models are the ones the services validate with, the response types are the serializers'
shapes, and the query parameters come from the list parsers, so the document describes the code.
"""

from dataclasses import dataclass, field
from typing import Any

from typing_extensions import TypedDict

from ..services.listing import ListSpec

# Error statuses, and when an operation can give them; openapi.py adds them from what the view is.
AUTH_ERRORS = (401, 429, 503)  # every authenticated route: no or a bad key, rate limit, database down
PROJECT_ERRORS = (403, 404)  # a project route: missing scope or project not in the key, no such project
BODY_ERRORS = (400, 408, 413, 415)  # reading a body: bad JSON, stalled, too large, unsupported type
WRITE_ERRORS = (409,)  # a write that other requests kept contending with (Retry-After)


class OpenAPIDocument(TypedDict):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


@dataclass(frozen=True)
class Operation:
    """One method of one route.

    body: the pydantic model of the JSON body (None: no body); query: extra query parameters as
    OpenAPI parameter objects, or the list's ListSpec; responses: success status -> response type
    (a TypedDict or model; None for no content); errors: statuses beyond those the kind of route gives.
    """

    summary: str
    description: str | None = None
    body: Any = None
    body_required: bool = True
    body_content: dict | None = None  # a raw `content` map, for bodies that are not one JSON model
    query: tuple[dict, ...] | ListSpec = ()
    responses: dict[int, Any] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    deprecated: bool = False
    writes: bool = True  # False: a POST/PUT/DELETE that never writes (no contention 409)


def operation(summary: str, *, methods: tuple[str, ...] = ("*",), **details) -> Any:
    """Declare a view's operation (for `methods`, when one view serves several differently)."""
    spec = Operation(summary, **details)

    def decorator(view):
        declared = view.__dict__.setdefault("api_operations", {})
        for method in methods:
            declared[method] = spec
        return view

    return decorator


def operation_of(view, method: str) -> Operation | None:
    declared = getattr(view, "api_operations", {})
    return declared.get(method) or declared.get("*")


def query_parameter(name: str, schema: dict, description: str, **extra) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
        **extra,
    }
