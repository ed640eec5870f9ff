"""/api/{environments,projects}/:project_id/evaluations/ against SPEC.md."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import ActivityLog, Evaluation, Project, User
from webapp.services import accounts, evaluations

from .conftest import assert_api_list_queries, count_statements

USER_FIELDS = {
    "id",
    "uuid",
    "distinct_id",
    "first_name",
    "last_name",
    "email",
    "is_email_verified",
    "hedgehog_config",
    "role_at_organization",
}
EVALUATION_FIELDS = {
    "id",
    "name",
    "description",
    "enabled",
    "prompt",
    "conditions",
    "created_at",
    "updated_at",
    "created_by",
    "deleted",
}
NOT_FOUND = {"type": "invalid_request", "code": "not_found", "detail": "Not found.", "attr": None}
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def base(project_id):
    return f"/api/environments/{project_id}/evaluations/"


def create(client, auth, base, **fields):
    body = {"name": "Helpfulness", "prompt": "Is the answer helpful?", **fields}
    response = client.post(base, json=body, headers=auth)
    assert response.status_code == 201, response.json
    return response.json


def names(response):
    assert response.status_code == 200, response.json
    return [item["name"] for item in response.json["results"]]


def parse_time(value):
    assert value.endswith("Z")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def set_times(app, evaluation_id, *, created_at=None, updated_at=None):
    values = {}
    if created_at is not None:
        values["created_at"] = created_at
    if updated_at is not None:
        values["updated_at"] = updated_at
    with app.app_context():
        db.session.execute(
            update(Evaluation).where(Evaluation.id == uuid.UUID(evaluation_id)).values(**values)
        )
        db.session.commit()
        db.session.remove()


def activity_entries(app, evaluation_id):
    """(activity, user_id, detail) for one evaluation, oldest first."""
    with app.app_context():
        rows = db.session.scalars(
            select(ActivityLog)
            .where(ActivityLog.scope == "Evaluation", ActivityLog.item_id == evaluation_id)
            .order_by(ActivityLog.id)
        ).all()
        entries = [(row.activity, row.user_id, row.detail) for row in rows]
        db.session.remove()
    return entries


def evaluation_count(app):
    with app.app_context():
        count = db.session.scalar(select(func.count(Evaluation.pk)))
        db.session.remove()
    return count


def add_project(app, project_id, name="Staging"):
    with app.app_context():
        organization_id = db.session.get(Project, project_id).organization_id
        project = Project(organization_id=organization_id, name=name)
        db.session.add(project)
        db.session.commit()
        new_id = project.id
        db.session.remove()
    return new_id


def query_of(url):
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def assert_error(response, status, type_, code, attr=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == {"type", "code", "detail", "attr"}
    assert (body["type"], body["code"], body["attr"]) == (type_, code, attr), body
    assert isinstance(body["detail"], str) and body["detail"]


def assert_validation_error(response, attr):
    assert_error(response, 400, "validation_error", response.json.get("code"), attr)


# --- routes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["environments", "projects"])
@pytest.mark.parametrize("slash", ["/", ""])
def test_every_route_answers_under_both_prefixes_with_or_without_slash(
    app, client, auth, project_id, prefix, slash
):
    collection = f"/api/{prefix}/{project_id}/evaluations{slash}"
    created = client.post(collection, json={"name": "Route", "prompt": "p"}, headers=auth)
    assert created.status_code == 201
    detail = f"/api/{prefix}/{project_id}/evaluations/{created.json['id']}{slash}"
    assert names(client.get(collection, headers=auth)) == ["Route"]
    assert client.get(detail, headers=auth).json["id"] == created.json["id"]
    assert client.patch(detail, json={"name": "Patched"}, headers=auth).json["name"] == "Patched"
    put = client.put(detail, json={"name": "Put", "prompt": "q"}, headers=auth)
    assert (put.status_code, put.json["prompt"]) == (200, "q")
    assert_error(client.delete(detail, headers=auth), 405, "invalid_request", "method_not_allowed")
    assert evaluation_count(app) == 1


def test_both_prefixes_serve_the_same_data(client, auth, project_id):
    created = client.post(
        f"/api/projects/{project_id}/evaluations", json={"name": "Shared", "prompt": "p"}, headers=auth
    )
    listed = client.get(f"/api/environments/{project_id}/evaluations/", headers=auth)
    assert [item["id"] for item in listed.json["results"]] == [created.json["id"]]


def test_unknown_api_route_is_404_json(client, auth, base):
    for path in ("/api/nothing-here", "/api/environments/1/widgets/", base + "x/y/z"):
        response = client.get(path, headers=auth)
        assert response.status_code == 404
        assert response.json == NOT_FOUND
    unauthenticated = client.get("/api/nothing-here")
    assert unauthenticated.status_code == 404
    assert unauthenticated.json == NOT_FOUND


def test_wrong_method_is_405_json(client, auth, base):
    item = create(client, auth, base)
    for method, path in (
        ("put", base),
        ("patch", base),
        ("delete", base),
        ("post", base + item["id"] + "/"),
    ):
        response = getattr(client, method)(path, json={}, headers=auth)
        assert response.status_code == 405, (method, path)
        assert response.json == {
            "type": "invalid_request",
            "code": "method_not_allowed",
            "detail": f'Method "{method.upper()}" not allowed.',
            "attr": None,
        }


# --- create -----------------------------------------------------------------------------------


def test_create_with_json_returns_201_and_the_full_object(app, client, auth, base, user_id):
    response = client.post(
        base,
        json={
            "name": "Toxicity",
            "description": "Flags rude replies",
            "enabled": True,
            "prompt": "Is the reply rude?",
            "conditions": [{"id": "set-1", "rollout_percentage": 50, "properties": []}],
        },
        headers=auth,
    )
    assert response.status_code == 201
    body = response.json
    assert set(body) == EVALUATION_FIELDS
    uuid.UUID(body["id"])
    assert body["name"] == "Toxicity"
    assert body["description"] == "Flags rude replies"
    assert body["enabled"] is True
    assert body["prompt"] == "Is the reply rude?"
    assert body["conditions"] == [{"id": "set-1", "rollout_percentage": 50, "properties": []}]
    assert body["deleted"] is False
    assert parse_time(body["created_at"]) == parse_time(body["updated_at"])
    assert abs(parse_time(body["created_at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    with app.app_context():
        user = db.session.get(User, user_id)
        expected_user = {
            "id": user.id,
            "uuid": str(user.uuid),
            "distinct_id": user.distinct_id,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": "ada@example.com",
            "is_email_verified": False,
            "hedgehog_config": None,
            "role_at_organization": None,
        }
        db.session.remove()
    assert set(body["created_by"]) == USER_FIELDS
    assert body["created_by"] == expected_user
    assert client.get(base + body["id"], headers=auth).json == body


def test_create_applies_defaults(client, auth, base):
    body = create(client, auth, base)
    assert body["description"] == ""
    assert body["enabled"] is False
    assert body["conditions"] == []
    assert body["deleted"] is False


def test_created_by_is_the_caller(client, make_user, make_key, base):
    grace = make_user("grace@example.com", first_name="Grace")
    headers = {"Authorization": f"Bearer {make_key(grace)}"}
    body = create(client, headers, base)
    assert body["created_by"]["id"] == grace
    assert body["created_by"]["email"] == "grace@example.com"
    assert body["created_by"]["first_name"] == "Grace"


def test_create_form_encoded_like_the_seed_curl(client, auth, base, user_id):
    conditions = [{"rollout_percentage": 25, "properties": [{"key": "$browser", "value": "Chrome"}]}]
    response = client.post(
        base,
        data={
            "name": "From curl",
            "prompt": "Judge it",
            "enabled": "true",
            "conditions": json.dumps(conditions),
        },
        headers=auth,
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["name"], body["prompt"], body["enabled"]) == ("From curl", "Judge it", True)
    assert body["created_by"]["id"] == user_id
    [condition_set] = body["conditions"]
    assert condition_set["rollout_percentage"] == 25
    assert condition_set["properties"] == [
        {"key": "$browser", "value": "Chrome", "operator": "exact", "type": "event"}
    ]


def test_create_form_minimal_and_multipart(client, auth, base):
    minimal = client.post(base, data={"name": "x", "prompt": "y"}, headers=auth)
    assert minimal.status_code == 201
    assert (minimal.json["enabled"], minimal.json["conditions"]) == (False, [])
    multipart = client.post(
        base,
        data={"name": "m", "prompt": "y", "enabled": "false"},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert multipart.status_code == 201
    assert multipart.json["enabled"] is False


@pytest.mark.parametrize(
    ("form", "attr"),
    [
        ({"name": "x", "prompt": "y", "enabled": "maybe"}, "enabled"),
        ({"name": "x", "prompt": "y", "conditions": "[{"}, "conditions"),
        ({"name": "x", "prompt": "y", "conditions": '{"a": 1}'}, "conditions"),
        (
            {"name": "x", "prompt": "y", "conditions": '[{"rollout_percentage": 500}]'},
            "conditions__0__rollout_percentage",
        ),
        ({"prompt": "y"}, "name"),
        ({"name": "x", "prompt": ""}, "prompt"),
    ],
)
def test_create_form_validation_errors(app, client, auth, base, form, attr):
    assert_validation_error(client.post(base, data=form, headers=auth), attr)
    assert evaluation_count(app) == 0


def test_create_ignores_read_only_fields(client, auth, base, make_user):
    other = make_user("mallory@example.com")
    forged_id = str(uuid.uuid4())
    body = create(
        client,
        auth,
        base,
        id=forged_id,
        created_at="2001-01-01T00:00:00Z",
        updated_at="2001-01-01T00:00:00Z",
        created_by={"id": other},
    )
    assert body["id"] != forged_id
    assert body["created_by"]["email"] == "ada@example.com"
    assert parse_time(body["created_at"]).year > 2001
    assert parse_time(body["updated_at"]).year > 2001


def test_names_and_prompts_are_trimmed_and_400_chars_are_allowed(client, auth, base):
    body = create(client, auth, base, name="  " + "n" * 400 + "  ", prompt="  judge  ")
    assert body["name"] == "n" * 400
    assert body["prompt"] == "judge"


# --- validation -------------------------------------------------------------------------------


def props(*properties):
    return [{"properties": list(properties)}]


VALID = {"name": "Valid", "prompt": "p"}
INVALID_BODIES = [
    ({"prompt": "p"}, "name"),
    ({**VALID, "name": ""}, "name"),
    ({**VALID, "name": "   "}, "name"),
    ({**VALID, "name": "x" * 401}, "name"),
    ({**VALID, "name": 42}, "name"),
    ({**VALID, "name": None}, "name"),
    ({**VALID, "name": ["a"]}, "name"),
    ({**VALID, "name": "a\u0000b"}, "name"),
    ({"name": "n"}, "prompt"),
    ({**VALID, "prompt": ""}, "prompt"),
    ({**VALID, "prompt": " \n "}, "prompt"),
    ({**VALID, "prompt": {"text": "p"}}, "prompt"),
    ({**VALID, "description": 5}, "description"),
    ({**VALID, "enabled": "maybe"}, "enabled"),
    ({**VALID, "enabled": 2}, "enabled"),
    ({**VALID, "enabled": None}, "enabled"),
    ({**VALID, "enabled": []}, "enabled"),
    ({**VALID, "conditions": {"rollout_percentage": 5}}, "conditions"),
    ({**VALID, "conditions": 5}, "conditions"),
    ({**VALID, "conditions": "not json"}, "conditions"),
    ({**VALID, "conditions": [{}] * 51}, "conditions"),
    ({**VALID, "conditions": [5]}, "conditions__0"),
    ({**VALID, "conditions": [{"rollout_percentage": 101}]}, "conditions__0__rollout_percentage"),
    ({**VALID, "conditions": [{"rollout_percentage": -1}]}, "conditions__0__rollout_percentage"),
    ({**VALID, "conditions": [{"rollout_percentage": "50"}]}, "conditions__0__rollout_percentage"),
    ({**VALID, "conditions": [{"rollout_percentage": True}]}, "conditions__0__rollout_percentage"),
    ({**VALID, "conditions": [{}, {"rollout_percentage": 100.5}]}, "conditions__1__rollout_percentage"),
    ({**VALID, "conditions": [{"id": 5}]}, "conditions__0__id"),
    ({**VALID, "conditions": [{"variant": "a"}]}, "conditions__0__variant"),
    ({**VALID, "conditions": [{"properties": "x"}]}, "conditions__0__properties"),
    ({**VALID, "conditions": [{"properties": ["x"]}]}, "conditions__0__properties__0"),
    (
        {**VALID, "conditions": props({"key": "a", "value": "b"}, {"value": "c"})},
        "conditions__0__properties__1__key",
    ),
    ({**VALID, "conditions": props({"key": " ", "value": "b"})}, "conditions__0__properties__0__key"),
    ({**VALID, "conditions": props({"key": 7, "value": "b"})}, "conditions__0__properties__0__key"),
    (
        {**VALID, "conditions": props({"key": "a", "value": "b", "operator": "like"})},
        "conditions__0__properties__0__operator",
    ),
    (
        {**VALID, "conditions": props({"key": "a", "value": "b", "type": "planet"})},
        "conditions__0__properties__0__type",
    ),
    ({**VALID, "conditions": props({"key": "a"})}, "conditions__0__properties__0__value"),
    ({**VALID, "conditions": props({"key": "a", "value": ""})}, "conditions__0__properties__0__value"),
    ({**VALID, "conditions": props({"key": "a", "value": []})}, "conditions__0__properties__0__value"),
    ({**VALID, "conditions": props({"key": "a", "value": {"x": 1}})}, "conditions__0__properties__0__value"),
    ({**VALID, "conditions": props({"key": "a", "value": [1, [2]]})}, "conditions__0__properties__0__value"),
    (
        {**VALID, "conditions": props({"key": "a", "value": "b", "negation": True})},
        "conditions__0__properties__0__negation",
    ),
    (
        {**VALID, "conditions": [{}, {"properties": [{"key": "a", "value": 1}, {"key": "b"}]}]},
        "conditions__1__properties__1__value",
    ),
]


def second_property(operator, value):
    """Conditions whose second set's second property has this operator and value."""
    return [
        {},
        {
            "properties": [
                {"key": "ok", "value": 1},
                {"key": "$ai_latency", "operator": operator, "value": value},
            ]
        },
    ]


@pytest.mark.parametrize(
    ("conditions", "attr", "words"),
    [
        (second_property("gte", "fast"), "conditions__1__properties__1__value", "compares numbers"),
        (second_property("lt", [1]), "conditions__1__properties__1__value", "not a list"),
        (
            second_property("regex", "([a-z"),
            "conditions__1__properties__1__value",
            "not a valid regular expression",
        ),
        (second_property("not_regex", "x" * 501), "conditions__1__properties__1__value", "at most 500"),
        (
            second_property("is_date_before", "yesterday-ish"),
            "conditions__1__properties__1__value",
            "not a date",
        ),
        (second_property("is_date_after", "2025-13-01"), "conditions__1__properties__1__value", "not a date"),
        ([{}, {"rollout_percentage": 0}], "conditions__1__rollout_percentage", "between 0.1% and 100%"),
        ([{"rollout_percentage": ""}], "conditions__0__rollout_percentage", "Enter a rollout percentage"),
    ],
)
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_values_that_do_not_suit_their_operator_are_400_with_the_exact_path(
    app, client, auth, base, conditions, attr, words, method
):
    if method == "post":
        response = client.post(base, json={**VALID, "conditions": conditions}, headers=auth)
    else:
        item = create(client, auth, base)
        send = getattr(client, method)
        response = send(base + item["id"] + "/", json={**VALID, "conditions": conditions}, headers=auth)
    assert_validation_error(response, attr)
    assert words in response.json["detail"]
    assert evaluation_count(app) == (0 if method == "post" else 1)


def test_values_that_suit_their_operator_are_stored_as_sent(client, auth, base):
    conditions = [
        {
            "rollout_percentage": 12.5,
            "properties": [
                {"key": "$ai_latency", "operator": "gte", "value": 2.5},
                {"key": "$ai_total_cost_usd", "operator": "lt", "value": "0.05"},
                {"key": "$ai_model", "operator": "regex", "value": "^gpt-4"},
                {"key": "$ai_trace_id", "operator": "is_date_after", "value": "-7d"},
                {"key": "signup", "operator": "is_date_before", "value": "2025-01-31", "type": "person"},
                {"key": "plan", "operator": "is_not", "value": ["free", "trial"], "type": "person"},
            ],
        }
    ]
    body = create(client, auth, base, conditions=conditions)
    assert [p["value"] for p in body["conditions"][0]["properties"]] == [
        2.5,
        "0.05",
        "^gpt-4",
        "-7d",
        "2025-01-31",
        ["free", "trial"],
    ]


@pytest.mark.parametrize(("body", "attr"), INVALID_BODIES)
def test_create_validation_error_names_the_field(app, client, auth, base, body, attr):
    response = client.post(base, json=body, headers=auth)
    assert_validation_error(response, attr)
    assert evaluation_count(app) == 0


@pytest.mark.parametrize(
    ("raw", "attr"),
    [
        ('{"name": "a\\ud800", "prompt": "p"}', "name"),
        (
            '{"name": "n", "prompt": "p", "conditions": [{"properties": [{"key": "k", "value": NaN}]}]}',
            "conditions__0__properties__0__value",
        ),
        (
            '{"name": "n", "prompt": "p", "conditions": [{"properties": [{"key": "k", "value": 1e999}]}]}',
            "conditions__0__properties__0__value",
        ),
        (
            '{"name": "n", "prompt": "p", "conditions": [{"rollout_percentage": Infinity}]}',
            "conditions__0__rollout_percentage",
        ),
    ],
    ids=["lone-surrogate", "nan", "overflow", "infinity"],
)
def test_values_a_database_cannot_store_are_400_not_500(app, client, auth, base, raw, attr):
    response = client.post(base, data=raw, content_type="application/json", headers=auth)
    if "ud800" in raw:
        assert_validation_error(response, attr)
    else:
        # Not JSON at all (RFC 8259 has no NaN or Infinity): refused while parsing, at the exact path.
        assert_error(response, 400, "invalid_request", "parse_error", attr)
    assert evaluation_count(app) == 0


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 401}, "name"),
        ({"prompt": "  "}, "prompt"),
        ({"enabled": "sometimes"}, "enabled"),
        ({"deleted": "gone"}, "deleted"),
        ({"conditions": [{"rollout_percentage": 120}]}, "conditions__0__rollout_percentage"),
        ({"conditions": props({"key": "a", "value": 1}, {"value": 2})}, "conditions__0__properties__1__key"),
    ],
)
def test_patch_validation_error_changes_nothing(app, client, auth, base, body, attr):
    item = create(client, auth, base, name="Original", enabled=True)
    response = client.patch(base + item["id"] + "/", json=body, headers=auth)
    assert_validation_error(response, attr)
    assert client.get(base + item["id"], headers=auth).json == item
    assert [entry[0] for entry in activity_entries(app, item["id"])] == ["created"]


def test_valid_condition_edge_values_are_accepted(client, auth, base):
    conditions = [
        {"rollout_percentage": 0.1},
        {"rollout_percentage": 100, "properties": [{"key": "plan", "value": ["pro", "team"]}]},
        {
            "rollout_percentage": 33.5,
            "properties": [{"key": "email", "operator": "is_set", "type": "person"}],
        },
    ]
    body = create(client, auth, base, conditions=conditions)
    assert [c["rollout_percentage"] for c in body["conditions"]] == [0.1, 100, 33.5]
    assert body["conditions"][1]["properties"][0]["value"] == ["pro", "team"]
    assert body["conditions"][2]["properties"][0] == {
        "key": "email",
        "value": None,
        "operator": "is_set",
        "type": "person",
    }
    assert len({c["id"] for c in body["conditions"]}) == 3


def posthog_evaluation(item):
    """`item` as PostHog's server returns it: each condition set carries its compiled bytecode."""
    compiled = ["_H", 1, 32, "pro", 32, "plan", 32, "properties", 32, "person", 1, 4, 11]
    conditions = [
        {
            **condition,
            "bytecode": compiled if condition["properties"] else ["_H", 1, 29],
            "bytecode_error": None,
        }
        for condition in item["conditions"]
    ]
    if conditions:
        conditions[-1]["bytecode"], conditions[-1]["bytecode_error"] = None, "Unsupported property type"
    return {**item, "conditions": conditions, "team_id": 1}


def test_an_evaluation_read_from_posthog_is_accepted_unchanged(app, client, auth, base):
    item = create(
        client,
        auth,
        base,
        conditions=[
            {
                "id": "set-a",
                "rollout_percentage": 50,
                "properties": [{"key": "plan", "value": "pro", "type": "person"}],
            },
            {"id": "set-b", "rollout_percentage": 100, "properties": []},
        ],
    )
    url = base + item["id"] + "/"
    document = posthog_evaluation(item)
    assert {"bytecode", "bytecode_error"} <= set(document["conditions"][0])
    for method in ("put", "patch"):
        response = getattr(client, method)(url, json=document, headers=auth)
        assert response.status_code == 200, (method, response.json)
        # Derived by PostHog's server: dropped, not stored, so nothing changed.
        assert response.json == item
    assert [entry[0] for entry in activity_entries(app, item["id"])] == ["created"]
    created = client.post(base, json={**document, "name": "Copied from PostHog"}, headers=auth)
    assert created.status_code == 201
    assert created.json["conditions"] == item["conditions"]


@pytest.mark.parametrize(
    ("condition", "attr"),
    [
        ({"frobnicate": 1}, "conditions__0__frobnicate"),
        ({"bytecode": [], "variant": "a"}, "conditions__0__variant"),
        ({"bytecode": ["_H", 1], "rollout_percentage": 101}, "conditions__0__rollout_percentage"),
        (
            {"bytecode_error": None, "properties": [{"key": "a", "value": "b", "bytecode": []}]},
            "conditions__0__properties__0__bytecode",
        ),
    ],
)
def test_bytecode_does_not_hide_real_shape_errors(client, auth, base, condition, attr):
    item = create(client, auth, base)
    response = client.put(base + item["id"] + "/", json={**item, "conditions": [condition]}, headers=auth)
    assert_validation_error(response, attr)
    assert client.get(base + item["id"], headers=auth).json == item


# --- request bodies ---------------------------------------------------------------------------


def test_invalid_json_is_400_parse_error(app, client, auth, base):
    response = client.post(base, data='{"name": "x",', content_type="application/json", headers=auth)
    assert_error(response, 400, "invalid_request", "parse_error")
    item = create(client, auth, base)
    response = client.patch(base + item["id"], data="{nope", content_type="application/json", headers=auth)
    assert_error(response, 400, "invalid_request", "parse_error")
    assert evaluation_count(app) == 1


@pytest.mark.parametrize("raw", ['[{"name": "x", "prompt": "y"}]', '"name"', "42", "null"])
def test_json_that_is_not_an_object_is_400(app, client, auth, base, raw):
    response = client.post(base, data=raw, content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert set(response.json) == {"type", "code", "detail", "attr"}
    assert response.json["attr"] is None
    assert evaluation_count(app) == 0


def test_absurdly_nested_json_is_400_not_500(app, client, auth, base):
    nested = "[" * 100_000 + "]" * 100_000
    response = client.post(base, data=nested, content_type="application/json", headers=auth)
    assert_error(response, 400, "invalid_request", "parse_error")
    form = client.post(base, data={"name": "x", "prompt": "y", "conditions": nested}, headers=auth)
    assert_validation_error(form, "conditions")
    assert evaluation_count(app) == 0


def test_text_plain_body_is_415(app, client, auth, base):
    response = client.post(base, data="name=x&prompt=y", content_type="text/plain", headers=auth)
    assert_error(response, 415, "invalid_request", "unsupported_media_type")
    assert evaluation_count(app) == 0


# --- retrieve, not found --------------------------------------------------------------------


def test_retrieve_returns_the_evaluation(client, auth, base):
    item = create(client, auth, base, description="d")
    for path in (base + item["id"], base + item["id"] + "/", base + item["id"].upper()):
        response = client.get(path, headers=auth)
        assert response.status_code == 200
        assert response.json == item


@pytest.mark.parametrize("evaluation_id", ["not-a-uuid", "123", str(uuid.uuid4()), "%00"])
def test_unknown_or_malformed_id_is_404(client, auth, base, evaluation_id):
    create(client, auth, base)
    for method in ("get", "patch", "put"):
        response = getattr(client, method)(
            base + evaluation_id + "/", json={"name": "x", "prompt": "y"}, headers=auth
        )
        assert response.status_code == 404, method
        assert response.json == NOT_FOUND
    assert_delete_refused(client.delete(base + evaluation_id + "/", headers=auth))


@pytest.mark.parametrize("evaluation_id", ["not-a-uuid", str(uuid.uuid4())])
@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "prompt": 5},
        {"conditions": [{"frobnicate": 1}]},
        {"enabled": "sometimes"},
    ],
)
def test_unknown_id_with_a_bad_body_is_404_not_400(client, auth, base, evaluation_id, body):
    """PostHog looks the object up before it validates the body."""
    for method in ("patch", "put"):
        response = getattr(client, method)(base + evaluation_id + "/", json=body, headers=auth)
        assert response.status_code == 404, method
        assert response.json == NOT_FOUND


def test_other_projects_evaluation_is_404(app, client, auth, base, project_id, make_user, make_key):
    mine = create(client, auth, base, name="Mine")
    staging = add_project(app, project_id)
    staging_item = create(client, auth, f"/api/environments/{staging}/evaluations/", name="Staging")
    stranger = make_user("eve@example.com", organization="Rival Corp")
    with app.app_context():
        rival_project = accounts.resolve_project(accounts.get_user(stranger), "@current").id
        db.session.remove()
    rival_item = create(
        client,
        {"Authorization": f"Bearer {make_key(stranger)}"},
        f"/api/environments/{rival_project}/evaluations/",
        name="Rival",
    )
    for foreign in (staging_item, rival_item):
        url = base + foreign["id"] + "/"
        for method in ("get", "patch", "put"):
            response = getattr(client, method)(url, json={"name": "Stolen", "prompt": "x"}, headers=auth)
            assert response.status_code == 404, (foreign["name"], method)
            assert response.json == NOT_FOUND
        assert_delete_refused(client.delete(url, headers=auth))
    assert names(client.get(base, headers=auth)) == ["Mine"]
    # My own evaluation is not reachable through the staging project either.
    response = client.get(f"/api/environments/{staging}/evaluations/{mine['id']}", headers=auth)
    assert response.status_code == 404
    with app.app_context():
        assert set(db.session.scalars(select(Evaluation.name))) == {"Mine", "Staging", "Rival"}
        db.session.remove()


# --- update -----------------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(app, client, auth, base):
    item = create(client, auth, base, description="Keep me", conditions=[{"id": "c1"}])
    set_times(app, item["id"], created_at=T0, updated_at=T0)
    response = client.patch(base + item["id"] + "/", json={"name": "Renamed", "enabled": True}, headers=auth)
    assert response.status_code == 200
    body = response.json
    assert (body["name"], body["enabled"]) == ("Renamed", True)
    assert body["description"] == "Keep me"
    assert body["prompt"] == item["prompt"]
    assert body["conditions"] == item["conditions"]
    assert body["id"] == item["id"]
    assert parse_time(body["created_at"]) == T0
    assert parse_time(body["updated_at"]) > T0
    assert client.get(base + item["id"], headers=auth).json == body


def test_put_requires_name_and_prompt(client, auth, base):
    item = create(client, auth, base)
    url = base + item["id"] + "/"
    assert_validation_error(client.put(url, json={"name": "Only name"}, headers=auth), "prompt")
    assert_validation_error(client.put(url, json={"prompt": "Only prompt"}, headers=auth), "name")
    assert client.get(url, headers=auth).json == item
    response = client.put(url, json={"name": "Full", "prompt": "New prompt", "enabled": True}, headers=auth)
    assert response.status_code == 200
    assert (response.json["name"], response.json["prompt"], response.json["enabled"]) == (
        "Full",
        "New prompt",
        True,
    )


def test_patch_ignores_read_only_fields(app, client, auth, base, make_user):
    item = create(client, auth, base)
    set_times(app, item["id"], created_at=T0, updated_at=T0)
    before = client.get(base + item["id"], headers=auth).json
    other = make_user("mallory@example.com")
    response = client.patch(
        base + item["id"] + "/",
        json={
            "id": str(uuid.uuid4()),
            "created_at": "2030-01-01T00:00:00Z",
            "updated_at": "2030-01-01T00:00:00Z",
            "created_by": {"id": other, "email": "mallory@example.com"},
        },
        headers=auth,
    )
    assert response.status_code == 200
    assert response.json == before
    assert parse_time(response.json["updated_at"]) == T0
    assert [entry[0] for entry in activity_entries(app, item["id"])] == ["created"]


def test_patch_deleted_hides_and_restores(client, auth, base):
    kept = create(client, auth, base, name="Kept")
    item = create(client, auth, base, name="Archived", enabled=True)
    url = base + item["id"] + "/"
    response = client.patch(url, json={"deleted": True}, headers=auth)
    assert response.status_code == 200
    assert response.json["deleted"] is True
    assert names(client.get(base, headers=auth)) == ["Kept"]
    assert client.get(base, headers=auth).json["count"] == 1
    assert names(client.get(base, query_string={"id__in": item["id"]}, headers=auth)) == []
    assert names(client.get(base, query_string={"search": "Archived"}, headers=auth)) == []
    assert names(client.get(base, query_string={"enabled": "true"}, headers=auth)) == []
    response = client.get(url, headers=auth)
    assert response.status_code == 404
    assert response.json == NOT_FOUND

    restored = client.patch(url, json={"deleted": False}, headers=auth)
    assert restored.status_code == 200
    assert restored.json["deleted"] is False
    assert restored.json["enabled"] is True
    assert names(client.get(base, query_string={"order_by": "name"}, headers=auth)) == ["Archived", "Kept"]
    assert client.get(url, headers=auth).status_code == 200
    assert kept["deleted"] is False


DELETE_REFUSED = {
    "type": "invalid_request",
    "code": "method_not_allowed",
    "detail": 'Hard delete of this model is not allowed. Use a patch API call to set "deleted" to true',
    "attr": None,
}


def assert_delete_refused(response):
    assert response.status_code == 405, response.get_data(as_text=True)
    assert response.json == DELETE_REFUSED
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, PATCH, PUT"


def test_delete_is_405_and_points_to_patch(app, client, auth, base):
    item = create(client, auth, base)
    assert_delete_refused(client.delete(base + item["id"] + "/", headers=auth))
    assert_delete_refused(client.delete(base + item["id"], headers=auth))
    assert client.get(base + item["id"], headers=auth).status_code == 200
    assert [entry[0] for entry in activity_entries(app, item["id"])] == ["created"]


def test_delete_of_an_archived_evaluation_is_405_too(client, auth, base):
    item = create(client, auth, base)
    assert client.patch(base + item["id"] + "/", json={"deleted": True}, headers=auth).status_code == 200
    assert_delete_refused(client.delete(base + item["id"] + "/", headers=auth))


def test_delete_checks_authentication_and_scope_first(client, base, user_id, make_key):
    url = base + str(uuid.uuid4()) + "/"
    assert_error(client.delete(url), 401, "authentication_error", "not_authenticated")
    read_only = {"Authorization": f"Bearer {make_key(user_id, scopes='evaluation:read')}"}
    response = client.delete(url, headers=read_only)
    assert_error(response, 403, "authentication_error", "permission_denied")
    assert "evaluation:write" in response.json["detail"]
    writer = {"Authorization": f"Bearer {make_key(user_id, scopes='evaluation:write')}"}
    assert_delete_refused(client.delete(url, headers=writer))


# --- activity log -----------------------------------------------------------------------------


def test_create_writes_an_activity_entry(app, client, auth, base, user_id):
    item = create(client, auth, base, name="Logged", enabled=True, prompt="Judge")
    [(activity, actor, detail)] = activity_entries(app, item["id"])
    assert (activity, actor, detail["name"]) == ("created", user_id, "Logged")
    changes = {change["field"]: (change["before"], change["after"]) for change in detail["changes"]}
    assert changes["name"] == (None, "Logged")
    assert changes["prompt"] == (None, "Judge")
    assert changes["enabled"] == (None, True)


def test_update_delete_restore_write_entries_with_before_and_after(app, client, auth, base, user_id):
    item = create(client, auth, base, name="Old", description="same")
    url = base + item["id"] + "/"
    client.patch(url, json={"name": "New", "enabled": True, "description": "same"}, headers=auth)
    client.put(url, json={"name": "New", "prompt": "Changed prompt"}, headers=auth)
    client.patch(url, json={"deleted": True}, headers=auth)
    client.patch(url, json={"deleted": False}, headers=auth)
    entries = activity_entries(app, item["id"])
    assert [entry[0] for entry in entries] == ["created", "updated", "updated", "deleted", "restored"]
    assert {entry[1] for entry in entries} == {user_id}
    assert entries[1][2]["changes"] == [
        {"field": "name", "before": "Old", "after": "New"},
        {"field": "enabled", "before": False, "after": True},
    ]
    assert entries[2][2]["changes"] == [
        {"field": "prompt", "before": item["prompt"], "after": "Changed prompt"}
    ]
    assert entries[3][2]["changes"] == [{"field": "deleted", "before": False, "after": True}]
    assert entries[4][2]["changes"] == [{"field": "deleted", "before": True, "after": False}]
    assert entries[1][2]["name"] == "New"


def test_patch_that_changes_nothing_writes_no_entry(app, client, auth, base):
    item = create(client, auth, base, name="Same", enabled=True, conditions=[{"id": "c1"}])
    set_times(app, item["id"], updated_at=T0)
    response = client.patch(
        base + item["id"] + "/",
        json={"name": "Same", "enabled": True, "conditions": item["conditions"], "deleted": False},
        headers=auth,
    )
    assert response.status_code == 200
    assert parse_time(response.json["updated_at"]) == T0
    assert [entry[0] for entry in activity_entries(app, item["id"])] == ["created"]


def test_archiving_twice_writes_one_entry(app, client, auth, base):
    item = create(client, auth, base)
    for _ in range(2):
        assert client.patch(base + item["id"], json={"deleted": True}, headers=auth).status_code == 200
    assert [entry[0] for entry in activity_entries(app, item["id"])] == ["created", "deleted"]


# --- listing: shape, filters, search ----------------------------------------------------------


def test_empty_list_shape(client, auth, base):
    response = client.get(base, headers=auth)
    assert response.status_code == 200
    assert response.json == {"count": 0, "next": None, "previous": None, "results": []}


def test_list_items_have_the_same_shape_as_retrieve(client, auth, base):
    item = create(client, auth, base, conditions=[{"id": "a"}])
    assert client.get(base, headers=auth).json["results"] == [item]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", ["On"]),
        ("True", ["On"]),
        ("1", ["On"]),
        ("false", ["Off"]),
        ("0", ["Off"]),
        ("", ["On", "Off"]),
    ],
)
def test_enabled_filter(client, auth, base, value, expected):
    create(client, auth, base, name="On", enabled=True)
    create(client, auth, base, name="Off", enabled=False)
    response = client.get(base, query_string={"enabled": value, "order_by": "-name"}, headers=auth)
    assert names(response) == expected
    assert response.json["count"] == len(expected)


def test_id_in_filter(client, auth, base):
    a = create(client, auth, base, name="a")
    create(client, auth, base, name="b")
    c = create(client, auth, base, name="c")
    query = {"id__in": f"{a['id']}, {c['id']}", "order_by": "name"}
    assert names(client.get(base, query_string=query, headers=auth)) == ["a", "c"]
    only_unknown = {"id__in": str(uuid.uuid4())}
    assert client.get(base, query_string=only_unknown, headers=auth).json["count"] == 0


# (name, description, prompt)
SEARCH_ROWS = [
    ("Toxicity check", "Flags rude replies", "Is it rude?"),
    ("Helpfulness", "Scores 50% of traffic", "Was it useful?"),
    ("500 errors", "Server side", "Any 5xx?"),
    ("snake_case names", 'Says "hello" politely', "Is it polite?"),
    ("Rate check", "x", "Score it."),
    ("Tone", "ab", "Friendly?"),
    ("pre-check: v2*", "", "Judge the JUDGE\\ quietly."),
    ("Café crème", "Übersicht", "Zürich ÉTÉ"),
]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("TOXIC", ["Toxicity check"]),
        ("toxicity CHECK", ["Toxicity check"]),
        ("CHECK toxicity", ["Toxicity check"]),  # words in any order
        ("rude", ["Toxicity check"]),
        ("RUDE REPLIES", ["Toxicity check"]),
        ("replies toxicity", ["Toxicity check"]),  # words in different fields
        ("rude polite", []),  # every word must match the same row
        ("check", ["Rate check", "Toxicity check", "pre-check: v2*"]),
        ("-check: V2*", ["pre-check: v2*"]),
        ("AND", []),
        (
            "t",
            [
                "Helpfulness",
                "Rate check",
                "Tone",
                "Toxicity check",
                "snake_case names",
                "pre-check: v2*",
                "Café crème",
            ],
        ),
        ("AB", ["Tone"]),
        ("to", ["Tone", "Toxicity check"]),
        ("ic", ["Toxicity check", "Helpfulness", "Café crème"]),  # inside words of each field
        ("x", ["Toxicity check", "Rate check", "500 errors"]),
        ("5XX", ["500 errors"]),  # the prompt alone
        ("useful", ["Helpfulness"]),
        ("USE 50", ["Helpfulness"]),
        ("score", ["Helpfulness", "Rate check"]),
        ("xic ity", ["Toxicity check"]),  # substrings inside words
        ("50%", ["Helpfulness"]),
        ("%", ["Helpfulness"]),
        ("0%", ["Helpfulness"]),
        ("% of", ["Helpfulness"]),
        ("_", ["snake_case names"]),
        ("e_c", ["snake_case names"]),
        ('"hello"', ["snake_case names"]),
        ('"', ["snake_case names"]),
        ('o"', ["snake_case names"]),
        ("  tone  ", ["Tone"]),
        ("tone tone", ["Tone"]),
        ("nothing like this", []),
        ("\\", ["pre-check: v2*"]),
        ("e\\", ["pre-check: v2*"]),
        ("judge\\ ", ["pre-check: v2*"]),
        ("\\%", []),
        ("CAFÉ", ["Café crème"]),  # non-ASCII letters fold in words of 3+ characters on both databases
        ("übersicht zürich été", ["Café crème"]),
        ("é", ["Café crème"]),  # the same letter, same case
    ],
)
def test_search_matches_every_word_in_name_description_or_prompt(client, auth, base, term, expected):
    for name, description, prompt in SEARCH_ROWS:
        create(client, auth, base, name=name, description=description, prompt=prompt)
    response = client.get(base, query_string={"search": term, "order_by": "name"}, headers=auth)
    assert sorted(names(response)) == sorted(expected)
    assert response.json["count"] == len(expected)


def test_search_combines_with_filters(client, auth, base):
    create(client, auth, base, name="Tone on", enabled=True)
    create(client, auth, base, name="Tone off", enabled=False)
    create(client, auth, base, name="Other", enabled=True)
    query = {"search": "tone", "enabled": "true"}
    assert names(client.get(base, query_string=query, headers=auth)) == ["Tone on"]


def test_search_sees_renamed_evaluations(client, auth, base):
    item = create(client, auth, base, name="Before rename")
    client.patch(base + item["id"], json={"name": "After rename"}, headers=auth)
    assert names(client.get(base, query_string={"search": "before"}, headers=auth)) == []
    assert names(client.get(base, query_string={"search": "after"}, headers=auth)) == ["After rename"]


# --- listing: order ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (None, ["charlie", "alpha", "bravo"]),
        ("-created_at", ["charlie", "alpha", "bravo"]),
        ("created_at", ["bravo", "alpha", "charlie"]),
        ("updated_at", ["alpha", "charlie", "bravo"]),
        ("-updated_at", ["bravo", "charlie", "alpha"]),
        ("name", ["alpha", "bravo", "charlie"]),
        ("-name", ["charlie", "bravo", "alpha"]),
    ],
)
def test_order_by(app, client, auth, base, order_by, expected):
    times = {"charlie": (3, 5), "alpha": (2, 4), "bravo": (1, 6)}
    for name, (created, updated) in times.items():
        item = create(client, auth, base, name=name)
        set_times(
            app,
            item["id"],
            created_at=T0 + timedelta(minutes=created),
            updated_at=T0 + timedelta(minutes=updated),
        )
    query = {"order_by": order_by} if order_by else {}
    assert names(client.get(base, query_string=query, headers=auth)) == expected


def test_name_order_is_numeric_aware_and_case_folded_on_every_write_path(app, client, auth, base, user_id):
    """order_by=name compares runs of digits as numbers and ignores case: for names created, renamed
    (PATCH), duplicated and seeded in bulk (a Core insert, as the demo seeder does)."""
    for name in ("eval 10", "Eval 2", "eval 1", "alpha"):
        create(client, auth, base, name=name)
    renamed = create(client, auth, base, name="zzz")
    assert client.patch(base + renamed["id"], json={"name": "EVAL 9"}, headers=auth).status_code == 200
    with app.app_context():
        project = db.session.get(Project, accounts.get_user(user_id).current_project_id)
        copy = evaluations.duplicate_evaluation(project, None, renamed["id"])
        db.session.execute(
            Evaluation.__table__.insert(),
            [{"project_id": project.id, "name": n, "prompt": "?"} for n in ("eval 100", "Beta 3")],
        )
        db.session.commit()
        assert copy.name == "EVAL 9 (Copy)"
    expected = ["alpha", "Beta 3", "eval 1", "Eval 2", "EVAL 9", "EVAL 9 (Copy)", "eval 10", "eval 100"]
    assert names(client.get(base, query_string={"order_by": "name"}, headers=auth)) == expected
    assert names(client.get(base, query_string={"order_by": "-name"}, headers=auth)) == expected[::-1]
    paged = [
        names(client.get(base, query_string={"order_by": "name", "limit": 3, "offset": offset}, headers=auth))
        for offset in (0, 3, 6)
    ]
    assert sum(paged, []) == expected


@pytest.mark.parametrize("field", ["created_at", "updated_at", "name"])
def test_ties_are_broken_stably_by_id(app, client, auth, base, field):
    ids = []
    for _ in range(5):
        item = create(client, auth, base, name="Same name")
        set_times(app, item["id"], created_at=T0, updated_at=T0)
        ids.append(item["id"])

    def listed(order_by, **params):
        response = client.get(base, query_string={"order_by": order_by, **params}, headers=auth)
        assert response.status_code == 200
        return [item["id"] for item in response.json["results"]]

    ascending = listed(field)
    descending = listed(f"-{field}")
    assert sorted(ascending) == sorted(ids)
    assert descending == ascending[::-1]
    assert listed(field) == ascending
    for order_by, full in ((field, ascending), (f"-{field}", descending)):
        paged = [listed(order_by, limit=1, offset=offset)[0] for offset in range(5)]
        assert paged == full


# --- listing: pagination ----------------------------------------------------------------------


def test_limit_offset_next_previous(app, client, auth, base, project_id):
    for index in range(5):
        item = create(client, auth, base, name=f"item {index}", description="paged")
        set_times(app, item["id"], created_at=T0 + timedelta(minutes=index))
    params = {"limit": "2", "search": "paged", "order_by": "created_at", "enabled": "false", "x": "kept"}
    first = client.get(base, query_string=params, headers=auth).json
    assert first["count"] == 5
    assert [i["name"] for i in first["results"]] == ["item 0", "item 1"]
    assert first["previous"] is None
    next_url = urlsplit(first["next"])
    assert (next_url.scheme, next_url.netloc) == ("http", "localhost")
    assert next_url.path == f"/api/environments/{project_id}/evaluations/"
    assert query_of(first["next"]) == {**params, "offset": "2"}

    second = client.get(first["next"], headers=auth).json
    assert [i["name"] for i in second["results"]] == ["item 2", "item 3"]
    # Back at offset 0 the parameter is dropped, as DRF does.
    assert query_of(second["previous"]) == params
    assert query_of(second["next"]) == {**params, "offset": "4"}

    third = client.get(second["next"], headers=auth).json
    assert [i["name"] for i in third["results"]] == ["item 4"]
    assert third["next"] is None
    assert query_of(third["previous"]) == {**params, "offset": "2"}
    assert client.get(third["previous"], headers=auth).json == second


def test_previous_drops_offset_when_it_would_reach_zero(client, auth, base):
    for index in range(3):
        create(client, auth, base, name=f"n{index}")
    body = client.get(base, query_string={"limit": "2", "offset": "1"}, headers=auth).json
    assert query_of(body["previous"]) == {"limit": "2"}
    assert body["next"] is None
    assert len(body["results"]) == 2


def test_pagination_links_use_the_request_prefix(client, auth, project_id):
    base = f"/api/projects/{project_id}/evaluations"
    for index in range(2):
        create(client, auth, base, name=f"n{index}")
    body = client.get(base, query_string={"limit": "1"}, headers=auth).json
    assert urlsplit(body["next"]).path == f"/api/projects/{project_id}/evaluations"


def test_default_limit_is_100_and_limit_is_capped_at_1000(app, client, auth, base, project_id, user_id):
    with app.app_context():
        project = db.session.get(Project, project_id)
        user = db.session.get(User, user_id)
        for index in range(101):
            evaluations.create_evaluation(project, user, {"name": f"bulk {index}", "prompt": "p"})
        db.session.remove()
    body = client.get(base, headers=auth).json
    assert (body["count"], len(body["results"])) == (101, 100)
    assert query_of(body["next"]) == {"limit": "100", "offset": "100"}
    capped = client.get(base, query_string={"limit": "5000", "offset": "1"}, headers=auth).json
    assert len(capped["results"]) == 100
    assert capped["next"] is None
    assert query_of(capped["previous"]) == {"limit": "1000"}


def test_offset_past_the_end_is_an_empty_page(client, auth, base):
    create(client, auth, base)
    for offset in ("5", str(2**63 - 1)):
        body = client.get(base, query_string={"offset": offset}, headers=auth).json
        assert (body["count"], body["results"], body["next"]) == (1, [], None)


@pytest.mark.parametrize(("param", "value"), [("limit", "0"), ("limit", "-5"), ("offset", "-1")])
def test_limit_zero_or_negative_and_negative_offset_mean_the_first_default_page(
    client, auth, base, param, value
):
    # As DRF's LimitOffsetPagination: these were 400s before PostHog compatibility.
    for index in range(3):
        create(client, auth, base, name=f"n{index}")
    body = client.get(base, query_string={param: value}, headers=auth).json
    assert (body["count"], len(body["results"]), body["previous"], body["next"]) == (3, 3, None, None)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("enabled", "maybe"),
        ("enabled", "2"),
        ("id__in", "not-a-uuid"),
        ("id__in", f"{uuid.uuid4()},nope"),
        ("order_by", "prompt"),
        ("order_by", "-id"),
        ("order_by", "name; DROP TABLE evaluations"),
        ("order_by", "Name"),
        ("limit", "abc"),
        ("limit", "-"),
        ("limit", "-5.0"),
        ("limit", "1.5"),
        ("limit", "1e2"),
        ("offset", "-1.0"),
        ("offset", "x"),
        ("offset", "1_0"),
        ("offset", "١٢"),
        ("offset", str(2**63)),
        ("offset", "99999999999999999999999"),
        ("search", "a\u0000b"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(client, auth, base, param, value):
    create(client, auth, base)
    response = client.get(base, query_string={param: value}, headers=auth)
    assert_validation_error(response, param)


# --- N+1 --------------------------------------------------------------------------------------


def test_list_costs_the_same_statements_for_1_row_as_for_100(app, client, auth, base, project_id, make_user):
    authors = [make_user(f"author{index}@example.com") for index in range(5)]
    with app.app_context():
        project = db.session.get(Project, project_id)
        users = [db.session.get(User, author) for author in authors]
        evaluations.create_evaluation(
            project, users[0], {"name": "first", "prompt": "p", "conditions": [{"id": "c"}]}
        )
        db.session.remove()
    client.get(base, headers=auth)  # the first use of the key writes last_used_at

    with count_statements(app) as one_row:
        response = client.get(base, query_string={"limit": "100"}, headers=auth)
    assert len(response.json["results"]) == 1

    with app.app_context():
        project = db.session.get(Project, project_id)
        users = [db.session.get(User, author) for author in authors]
        for index in range(99):
            evaluations.create_evaluation(project, users[index % 5], {"name": f"n{index}", "prompt": "p"})
        db.session.remove()

    with count_statements(app) as hundred_rows:
        response = client.get(base, query_string={"limit": "100"}, headers=auth)
    results = response.json["results"]
    assert len(results) == 100
    assert len({item["created_by"]["id"] for item in results}) == 5
    assert_api_list_queries(one_row, "evaluations", full_page=False)
    assert_api_list_queries(hundred_rows, "evaluations", full_page=True)
