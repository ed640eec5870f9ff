"""GET /api/schema/: the OpenAPI 3.1 document of every /api route, built from the code that serves them."""

import re

import pytest
import schemathesis

from webapp.api import openapi

SKIPPED = {"HEAD", "OPTIONS"}


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def rule_operations(app) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every /api rule but pages, project routes under /api/environments/ only."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint in openapi.PAGES:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        if rule.endpoint.startswith(openapi.ALIAS_PREFIX):  # not /api/projects/{project_id}/ itself
            path = "/api/environments/" + path.removeprefix("/api/projects/")
        if not path.endswith("/"):
            path += "/"  # the slash-less twin of each route answers the same
        found |= {(method, path) for method in rule.methods - SKIPPED}
    return found


def test_the_schema_is_public_and_valid_openapi_3_1(client, schema):
    assert schema["openapi"] == "3.1.0"
    assert schema["info"]["title"] and schema["info"]["version"]
    assert schema["servers"] == [{"url": "/"}]
    # schemathesis refuses a document that is not valid OpenAPI.
    loaded = schemathesis.openapi.from_dict(schema)
    assert len(list(loaded.get_all_operations())) == sum(len(item) for item in schema["paths"].values())
    # Served without credentials, and the same document every time (built once per app).
    assert client.get("/api/schema").status_code == 200
    assert client.get("/api/schema/").json == schema


def test_every_route_is_documented_and_every_operation_is_a_route(app, schema):
    documented = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert documented == rule_operations(app)


def test_project_routes_are_documented_under_environments_with_the_projects_alias(schema):
    paths = schema["paths"]
    assert "/api/environments/{project_id}/evaluations/" in paths
    # The project itself (retrieve, rename, delete) is /api/projects/{project_id}/, as in PostHog.
    assert not [
        path for path in paths if path.startswith("/api/projects/{project_id}/") and path.count("/") > 4
    ]
    assert "/api/projects/" in paths and "/api/users/@me/" in paths
    assert "/api/projects/{project_id}/" in schema["info"]["description"]
    [project_id] = [
        p
        for p in paths["/api/environments/{project_id}/evaluations/"]["get"]["parameters"]
        if p["name"] == "project_id"
    ]
    assert project_id["in"] == "path" and project_id["required"] is True
    assert {"type": "string", "enum": ["@current"]} in project_id["schema"]["anyOf"]


def test_order_by_is_a_comma_list(schema):
    for path in (
        "/api/environments/{project_id}/evaluations/",
        "/api/environments/{project_id}/error_tracking/symbol_sets/",
        "/api/environments/{project_id}/error_tracking/releases/",
    ):
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        order_by = parameters["order_by"]
        assert (order_by["in"], order_by["style"], order_by["explode"]) == ("query", "form", False)
        assert order_by["schema"]["type"] == "array"
        assert "-created_at" in order_by["schema"]["items"]["enum"]
        assert parameters["limit"]["schema"]["type"] == "integer"
        assert parameters["offset"]["schema"]["type"] == "integer"
        # A blank value counts as absent (`?order_by=&limit=`).
        assert all(p["allowEmptyValue"] is True for p in parameters.values() if p["in"] == "query")
    evaluations = {
        p["name"]: p
        for p in schema["paths"]["/api/environments/{project_id}/evaluations/"]["get"]["parameters"]
    }
    assert (evaluations["id__in"]["style"], evaluations["id__in"]["explode"]) == ("form", False)
    assert evaluations["enabled"]["schema"]["type"] == "boolean"


def test_one_error_component_and_every_error_status_uses_it(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["type", "code", "detail", "attr"]
    assert error["additionalProperties"] is False
    assert {
        "validation_error",
        "invalid_request",
        "authentication_error",
        "throttled_error",
        "server_error",
    } <= set(error["properties"]["type"]["enum"])
    for item in schema["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }


def responses(schema, path: str, method: str) -> set[int]:
    return {int(status) for status in schema["paths"][path][method]["responses"]}


def test_each_operation_lists_the_statuses_it_can_give(schema):
    evaluations = "/api/environments/{project_id}/evaluations/"
    one = evaluations + "{evaluation_id}/"
    assert responses(schema, evaluations, "get") == {200, 400, 401, 403, 404, 429, 503}
    assert responses(schema, evaluations, "post") == {201, 400, 401, 403, 404, 408, 409, 413, 415, 429, 503}
    assert responses(schema, one, "patch") == {200, 400, 401, 403, 404, 408, 409, 413, 415, 429, 503}
    # DELETE exists only to refuse.
    assert 405 in responses(schema, one, "delete") and not responses(schema, one, "delete") & {200, 204}
    assert responses(schema, "/api/users/@me/", "get") == {200, 401, 429, 503}
    sets = "/api/environments/{project_id}/error_tracking/symbol_sets/"
    assert 204 in responses(schema, sets + "{symbol_set_id}/", "delete")
    assert 201 in responses(schema, sets + "bulk_start_upload/", "post")


def test_security_lists_the_scope_each_operation_needs(schema):
    scheme = schema["components"]["securitySchemes"]["PersonalAPIKeyAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "personal_api_key" in scheme["description"]
    paths = schema["paths"]
    evaluations = "/api/environments/{project_id}/evaluations/"
    assert paths[evaluations]["get"]["security"] == [{"PersonalAPIKeyAuth": ["evaluation:read"]}]
    assert paths[evaluations]["post"]["security"] == [{"PersonalAPIKeyAuth": ["evaluation:write"]}]
    upload = "/api/environments/{project_id}/error_tracking/symbol_sets/bulk_start_upload/"
    assert paths[upload]["post"]["security"] == [{"PersonalAPIKeyAuth": ["error_tracking:write"]}]
    assert paths["/api/users/@me/"]["get"]["security"] == [{"PersonalAPIKeyAuth": []}]
    assert paths["/api/schema/"]["get"]["security"] == []


def test_request_bodies_are_the_models_the_services_validate_with(schema):
    components = schema["components"]["schemas"]
    create = schema["paths"]["/api/environments/{project_id}/evaluations/"]["post"]["requestBody"]
    assert create["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/EvaluationInput"}
    evaluation = components["EvaluationInput"]
    assert set(evaluation["required"]) == {"name", "prompt"}
    assert "required" not in components["EvaluationPatch"]
    # Unknown keys inside a condition set are refused (bytecode/bytecode_error are PostHog's, accepted).
    condition_set = components["ConditionSet"]
    assert condition_set["additionalProperties"] is False
    assert {"bytecode", "bytecode_error"} <= set(condition_set["properties"])
    prop = components["PropertyFilter"]
    assert "is_set" in prop["properties"]["operator"]["enum"]
    assert prop["else"]["required"] == ["value"]


def test_the_document_is_built_once_per_app(app):
    assert openapi.document(app) is openapi.document(app)


def test_an_undeclared_route_stops_the_build(app):
    from flask import Flask

    other = Flask("other")
    other.add_url_rule("/api/undeclared/", "undeclared", lambda: "")
    with pytest.raises(LookupError, match="undeclared"):
        openapi.document(other)


def test_upload_operations_document_their_multipart_bodies(schema):
    sets = "/api/environments/{project_id}/error_tracking/symbol_sets/"
    direct = schema["paths"][sets]["post"]
    assert direct["deprecated"] is True
    assert {p["name"]: p["required"] for p in direct["parameters"] if p["in"] == "query"} == {
        "chunk_id": True,
        "release_id": False,
    }
    content = direct["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["required"] == ["file"]
    assert "application/octet-stream" in content
    assert 201 in responses(schema, sets, "post")
    for method in ("put", "patch"):
        replace = schema["paths"][sets + "{symbol_set_id}/"][method]["requestBody"]["content"]
        assert replace["multipart/form-data"]["schema"]["required"] == ["minified", "source_map"]
