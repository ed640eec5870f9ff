"""API authentication, scopes, project resolution and the error shape."""

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from webapp.extensions import db
from webapp.models import Evaluation, Membership, PersonalAPIKey, Project, User
from webapp.models.types import utcnow
from webapp.services import accounts, evaluations

NOT_AUTHENTICATED = {
    "type": "authentication_error",
    "code": "not_authenticated",
    "detail": "Authentication credentials were not provided.",
    "attr": None,
}
PROJECT_NOT_FOUND = {
    "type": "invalid_request",
    "code": "not_found",
    "detail": "Project not found.",
    "attr": None,
}
NEW_EVALUATION = {"name": "Helpfulness", "prompt": "Is the answer helpful?"}


def evaluations_url(project_ref, prefix="environments"):
    return f"/api/{prefix}/{project_ref}/evaluations/"


def missing_scope(scope):
    return {
        "type": "authentication_error",
        "code": "permission_denied",
        "detail": f"API key missing required scope '{scope}'",
        "attr": None,
    }


def add_project(app, user_id, name):
    """Add a second project to the user's organization; return its id."""
    with app.app_context():
        user = accounts.get_user(user_id)
        organization_id = accounts.resolve_project(user, "@current").organization_id
        project = Project(organization_id=organization_id, name=name)
        db.session.add(project)
        db.session.commit()
        project_id = project.id
        db.session.remove()
    return project_id


def add_evaluation(app, user_id, project_id, name):
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, project_id)
        evaluation_id = str(evaluations.create_evaluation(project, user, {"name": name, "prompt": "p"}).id)
        db.session.remove()
    return evaluation_id


def evaluation_count(app):
    with app.app_context():
        count = db.session.scalar(select(func.count(Evaluation.pk)))
        db.session.remove()
    return count


def key_last_used_at(app):
    with app.app_context():
        value = db.session.scalar(select(PersonalAPIKey.last_used_at))
        db.session.remove()
    return value


# --- credentials ----------------------------------------------------------------------------


def test_unauthenticated_request_is_401_in_posthog_shape(client):
    response = client.get("/api/projects/")
    assert response.status_code == 401
    assert response.json == NOT_AUTHENTICATED


def test_bearer_key_lists_the_callers_projects(client, auth, project_id):
    response = client.get("/api/projects", headers=auth)
    assert response.status_code == 200
    assert response.json["count"] == 1
    assert response.json["results"][0]["id"] == project_id


def test_bearer_header_authenticates_an_evaluations_request(client, auth, project_id):
    response = client.get(evaluations_url(project_id), headers=auth)
    assert response.status_code == 200
    assert response.json["count"] == 0


def test_bearer_scheme_is_case_insensitive(client, api_key, project_id):
    response = client.get(evaluations_url(project_id), headers={"Authorization": f"bearer {api_key}"})
    assert response.status_code == 200


def test_key_in_query_parameter_authenticates(client, api_key, project_id):
    response = client.get(evaluations_url(project_id), query_string={"personal_api_key": api_key})
    assert response.status_code == 200


def test_a_repeated_query_key_takes_the_last_value(client, api_key, project_id):
    last_is_valid = client.get(
        f"{evaluations_url(project_id)}?personal_api_key=phx_not_a_key&personal_api_key={api_key}"
    )
    assert last_is_valid.status_code == 200
    last_is_invalid = client.get(
        f"{evaluations_url(project_id)}?personal_api_key={api_key}&personal_api_key=phx_not_a_key"
    )
    assert last_is_invalid.status_code == 401


def test_key_in_json_body_authenticates_and_is_not_stored(app, client, api_key, project_id, user_id):
    response = client.post(evaluations_url(project_id), json={**NEW_EVALUATION, "personal_api_key": api_key})
    assert response.status_code == 201, response.json
    assert response.json["created_by"]["id"] == user_id
    assert api_key not in response.get_data(as_text=True)


def test_key_in_form_body_authenticates(client, api_key, project_id, user_id):
    response = client.post(evaluations_url(project_id), data={**NEW_EVALUATION, "personal_api_key": api_key})
    assert response.status_code == 201, response.json
    assert response.json["created_by"]["id"] == user_id


def test_header_is_used_before_the_query_parameter(client, api_key, project_id):
    valid_header = client.get(
        evaluations_url(project_id),
        headers={"Authorization": f"Bearer {api_key}"},
        query_string={"personal_api_key": "phx_not_a_key"},
    )
    assert valid_header.status_code == 200
    invalid_header = client.get(
        evaluations_url(project_id),
        headers={"Authorization": "Bearer phx_not_a_key"},
        query_string={"personal_api_key": api_key},
    )
    assert invalid_header.status_code == 401
    assert invalid_header.json["code"] == "authentication_failed"


def test_body_key_is_used_before_the_query_parameter(client, api_key, project_id):
    response = client.post(
        evaluations_url(project_id),
        json={**NEW_EVALUATION, "personal_api_key": "phx_not_a_key"},
        query_string={"personal_api_key": api_key},
    )
    assert response.status_code == 401
    assert response.json["code"] == "authentication_failed"


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"headers": {"Authorization": "Bearer phx_not_a_real_key"}},
        {"query_string": {"personal_api_key": "phx_not_a_real_key"}},
    ],
    ids=["header", "query"],
)
def test_invalid_key_is_401_authentication_failed(client, api_key, project_id, request_kwargs):
    response = client.get(evaluations_url(project_id), **request_kwargs)
    assert response.status_code == 401
    assert response.json["type"] == "authentication_error"
    assert response.json["code"] == "authentication_failed"
    assert response.json["attr"] is None
    assert response.json["detail"]


def test_invalid_key_in_body_creates_nothing(app, client, api_key, project_id):
    response = client.post(
        evaluations_url(project_id), json={**NEW_EVALUATION, "personal_api_key": api_key + "x"}
    )
    assert response.status_code == 401
    assert response.json["code"] == "authentication_failed"
    assert evaluation_count(app) == 0


def test_key_of_a_deactivated_user_is_refused(app, client, auth, user_id, project_id):
    with app.app_context():
        db.session.get(User, user_id).is_active = False
        db.session.commit()
        db.session.remove()
    response = client.get(evaluations_url(project_id), headers=auth)
    assert response.status_code == 401
    assert response.json["code"] == "authentication_failed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/projects/"),
        ("get", "/api/users/@me/"),
        ("get", "/api/environments/@current/evaluations/"),
        ("post", "/api/environments/@current/evaluations/"),
        ("get", "/api/projects/@current/evaluations"),
    ],
)
def test_no_credentials_is_401_not_authenticated(app, client, user_id, method, path):
    response = getattr(client, method)(path, json=NEW_EVALUATION if method == "post" else None)
    assert response.status_code == 401
    assert response.json == NOT_AUTHENTICATED
    assert evaluation_count(app) == 0


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer ", "Bearer"])
def test_non_bearer_or_empty_authorization_is_not_authenticated(client, user_id, project_id, header):
    response = client.get(evaluations_url(project_id), headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json == NOT_AUTHENTICATED


# --- scopes -----------------------------------------------------------------------------------


def test_read_scope_allows_get_but_not_post(app, client, make_key, user_id, project_id):
    headers = {"Authorization": f"Bearer {make_key(user_id, scopes='evaluation:read')}"}
    assert client.get(evaluations_url(project_id), headers=headers).status_code == 200
    response = client.post(evaluations_url(project_id), json=NEW_EVALUATION, headers=headers)
    assert response.status_code == 403
    assert response.json == missing_scope("evaluation:write")
    assert evaluation_count(app) == 0


def test_read_scope_cannot_patch_or_delete(app, client, make_key, user_id, project_id):
    evaluation_id = add_evaluation(app, user_id, project_id, "Kept")
    headers = {"Authorization": f"Bearer {make_key(user_id, scopes='evaluation:read')}"}
    url = evaluations_url(project_id) + evaluation_id + "/"
    assert client.get(url, headers=headers).status_code == 200
    for method in ("patch", "put", "delete"):
        response = getattr(client, method)(url, json={"name": "Changed", "prompt": "x"}, headers=headers)
        assert response.status_code == 403, method
        assert response.json == missing_scope("evaluation:write")
    assert client.get(url, headers=headers).json["name"] == "Kept"


def test_write_scope_implies_read(client, make_key, user_id, project_id):
    headers = {"Authorization": f"Bearer {make_key(user_id, scopes='evaluation:write')}"}
    created = client.post(evaluations_url(project_id), json=NEW_EVALUATION, headers=headers)
    assert created.status_code == 201
    listed = client.get(evaluations_url(project_id), headers=headers)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json["results"]] == [created.json["id"]]


def test_star_scope_allows_everything(client, make_key, user_id, project_id):
    headers = {"Authorization": f"Bearer {make_key(user_id, scopes='*')}"}
    created = client.post(evaluations_url(project_id), json=NEW_EVALUATION, headers=headers)
    assert created.status_code == 201
    url = evaluations_url(project_id) + created.json["id"]
    assert client.patch(url, json={"enabled": True}, headers=headers).json["enabled"] is True
    assert client.get(url, headers=headers).status_code == 200


def test_other_object_scope_does_not_grant_evaluations(client, make_key, user_id, project_id):
    headers = {"Authorization": f"Bearer {make_key(user_id, scopes='error_tracking:write,project:read')}"}
    response = client.get(evaluations_url(project_id), headers=headers)
    assert response.status_code == 403
    assert response.json == missing_scope("evaluation:read")
    response = client.post(evaluations_url(project_id), json=NEW_EVALUATION, headers=headers)
    assert response.json == missing_scope("evaluation:write")


def test_any_key_may_list_projects_and_read_itself(client, make_key, user_id, project_id):
    headers = {"Authorization": f"Bearer {make_key(user_id, scopes='evaluation:read')}"}
    assert client.get("/api/projects/", headers=headers).status_code == 200
    assert client.get("/api/users/@me/", headers=headers).json["id"] == user_id


# --- projects: scoped_teams, @current, not found --------------------------------------------


def test_key_limited_to_one_project_is_refused_on_another(app, client, make_key, user_id, project_id):
    other_project = add_project(app, user_id, "Staging")
    headers = {"Authorization": f"Bearer {make_key(user_id, scoped_teams=[project_id])}"}
    assert client.get(evaluations_url(project_id), headers=headers).status_code == 200
    for prefix in ("environments", "projects"):
        response = client.get(evaluations_url(other_project, prefix), headers=headers)
        assert response.status_code == 403
        assert response.json["type"] == "authentication_error"
        assert response.json["code"] == "permission_denied"
    response = client.post(evaluations_url(other_project), json=NEW_EVALUATION, headers=headers)
    assert response.status_code == 403
    assert evaluation_count(app) == 0


def test_project_list_respects_the_keys_project_limit(app, client, make_key, user_id, project_id):
    other_project = add_project(app, user_id, "Staging")
    unscoped = {"Authorization": f"Bearer {make_key(user_id)}"}
    scoped = {"Authorization": f"Bearer {make_key(user_id, scoped_teams=[other_project])}"}
    assert [p["id"] for p in client.get("/api/projects/", headers=unscoped).json["results"]] == [
        project_id,
        other_project,
    ]
    body = client.get("/api/projects/", headers=scoped).json
    assert body["count"] == 1
    assert [p["id"] for p in body["results"]] == [other_project]


def test_current_resolves_to_the_users_current_project(app, client, auth, user_id, project_id):
    other_project = add_project(app, user_id, "Staging")
    in_default = add_evaluation(app, user_id, project_id, "In default")
    in_other = add_evaluation(app, user_id, other_project, "In staging")
    for prefix in ("environments", "projects"):
        response = client.get(evaluations_url("@current", prefix), headers=auth)
        assert [item["id"] for item in response.json["results"]] == [in_default]
    with app.app_context():
        accounts.switch_project(accounts.get_user(user_id), other_project)
        db.session.remove()
    response = client.get(evaluations_url("@current"), headers=auth)
    assert [item["id"] for item in response.json["results"]] == [in_other]


def test_current_and_me_use_the_project_a_key_is_limited_to(app, client, make_key, user_id, project_id):
    staging = add_project(app, user_id, "Staging")
    production = add_project(app, user_id, "Production")
    in_default = add_evaluation(app, user_id, project_id, "In default")
    in_production = add_evaluation(app, user_id, production, "In production")
    # The user's current project is the default one; the key may only use production.
    headers = {"Authorization": f"Bearer {make_key(user_id, scoped_teams=[production])}"}
    for prefix in ("environments", "projects"):
        response = client.get(evaluations_url("@current", prefix), headers=headers)
        assert response.status_code == 200
        assert [item["id"] for item in response.json["results"]] == [in_production]
    created = client.post(evaluations_url("@current"), json=NEW_EVALUATION, headers=headers)
    assert created.status_code == 201
    assert client.get(evaluations_url(production), headers=headers).json["count"] == 2
    assert client.get("/api/users/@me/", headers=headers).json["team"]["id"] == production
    # A key limited to several projects keeps the user's current one when it may use it...
    both = {"Authorization": f"Bearer {make_key(user_id, scoped_teams=[project_id, staging])}"}
    assert client.get("/api/users/@me/", headers=both).json["team"]["id"] == project_id
    response = client.get(evaluations_url("@current"), headers=both)
    assert [item["id"] for item in response.json["results"]] == [in_default]
    # ...else takes the first one it may use; an unlimited key follows the user.
    later = {"Authorization": f"Bearer {make_key(user_id, scoped_teams=[production, staging])}"}
    assert client.get("/api/users/@me/", headers=later).json["team"]["id"] == staging
    assert (
        client.get("/api/users/@me/", headers={"Authorization": f"Bearer {make_key(user_id)}"}).json["team"][
            "id"
        ]
        == project_id
    )


def test_me_with_a_key_whose_projects_are_all_gone_has_no_team(app, client, make_key, user_id, project_id):
    staging = add_project(app, user_id, "Staging")
    headers = {"Authorization": f"Bearer {make_key(user_id, scoped_teams=[staging])}"}
    with app.app_context():
        db.session.execute(db.delete(Project).where(Project.id == staging))
        db.session.commit()
    response = client.get("/api/users/@me/", headers=headers)
    assert response.status_code == 200
    assert response.json["team"] is None
    assert client.get(evaluations_url("@current"), headers=headers).status_code == 404


def _fullwidth(number):
    return str(number).translate({ord(str(d)): chr(0xFF10 + d) for d in range(10)})


@pytest.mark.parametrize(
    "project_ref",
    [
        "999999",
        "abc",
        "-1",
        "0",
        "1.0",
        "1e3",
        "%20",
        "@me",
        "99999999999999999999",
        "²",
        "fullwidth",
    ],
)
@pytest.mark.parametrize("prefix", ["environments", "projects"])
def test_unknown_or_malformed_project_is_404(client, auth, project_id, project_ref, prefix):
    if project_ref == "fullwidth":
        # "１" is a digit to str.isdigit() and int(); it must not resolve to project 1.
        project_ref = _fullwidth(project_id)
    response = client.get(evaluations_url(project_ref, prefix), headers=auth)
    assert response.status_code == 404
    assert response.json == PROJECT_NOT_FOUND


def test_other_organizations_project_is_404_not_403(app, client, auth, make_user, project_id):
    stranger = make_user("eve@example.com", organization="Rival Corp")
    with app.app_context():
        rival_project = accounts.resolve_project(accounts.get_user(stranger), "@current").id
        db.session.remove()
    add_evaluation(app, stranger, rival_project, "Secret")
    for prefix in ("environments", "projects"):
        response = client.get(evaluations_url(rival_project, prefix), headers=auth)
        assert response.status_code == 404
        assert response.json == PROJECT_NOT_FOUND
    response = client.post(evaluations_url(rival_project), json=NEW_EVALUATION, headers=auth)
    assert response.status_code == 404
    assert response.json == PROJECT_NOT_FOUND
    assert evaluation_count(app) == 1
    listed = client.get("/api/projects/", headers=auth).json
    assert rival_project not in [project["id"] for project in listed["results"]]


def test_removed_membership_and_deleted_key_hold_from_the_next_request(
    app, client, auth, user_id, project_id
):
    """Nothing about a key is remembered between requests: each one reads the key, user and membership."""
    assert client.get(evaluations_url(project_id), headers=auth).status_code == 200
    with app.app_context():
        db.session.execute(delete(Membership).where(Membership.user_id == user_id))
        db.session.commit()
        db.session.remove()
    response = client.get(evaluations_url(project_id), headers=auth)
    assert response.status_code == 404
    assert response.json == PROJECT_NOT_FOUND
    with app.app_context():
        db.session.execute(delete(PersonalAPIKey))
        db.session.commit()
        db.session.remove()
    response = client.get(evaluations_url(project_id), headers=auth)
    assert response.status_code == 401
    assert response.json["code"] == "authentication_failed"


def test_unknown_project_is_404_even_without_the_scope(client, make_key, user_id):
    headers = {"Authorization": f"Bearer {make_key(user_id, scopes='project:read')}"}
    response = client.get(evaluations_url(424242), headers=headers)
    assert response.status_code == 404
    assert response.json == PROJECT_NOT_FOUND


# --- browser session ------------------------------------------------------------------------


def test_session_may_read_the_api(client, logged_in, project_id, user_id):
    assert client.get(evaluations_url(project_id)).status_code == 200
    assert client.get("/api/users/@me/").json["id"] == user_id


def test_session_post_without_csrf_header_is_403(app, client, logged_in, project_id):
    response = client.post(evaluations_url(project_id), json=NEW_EVALUATION)
    assert response.status_code == 403
    assert response.json["type"] == "authentication_error"
    assert response.json["code"] == "permission_denied"
    assert response.json["attr"] is None
    assert "CSRF" in response.json["detail"]
    assert evaluation_count(app) == 0


def test_session_post_with_a_wrong_csrf_header_is_403(app, client, logged_in, project_id):
    response = client.post(
        evaluations_url(project_id), json=NEW_EVALUATION, headers={"X-CSRFToken": "forged"}
    )
    assert response.status_code == 403
    assert response.json["code"] == "permission_denied"
    assert evaluation_count(app) == 0


def test_session_post_and_patch_with_csrf_header_work(client, logged_in, project_id, user_id):
    headers = {"X-CSRFToken": logged_in}
    created = client.post(evaluations_url(project_id), json=NEW_EVALUATION, headers=headers)
    assert created.status_code == 201, created.json
    assert created.json["created_by"]["id"] == user_id
    url = evaluations_url(project_id) + created.json["id"] + "/"
    refused = client.patch(url, json={"enabled": True})
    assert refused.status_code == 403
    assert refused.json["code"] == "permission_denied"
    patched = client.patch(url, json={"enabled": True}, headers=headers)
    assert patched.status_code == 200
    assert patched.json["enabled"] is True


# --- last_used_at ---------------------------------------------------------------------------


def test_last_used_at_is_set_on_first_use_and_not_rewritten_within_the_hour(app, client, auth, project_id):
    assert key_last_used_at(app) is None
    before = utcnow()
    assert client.get(evaluations_url(project_id), headers=auth).status_code == 200
    first = key_last_used_at(app)
    assert first is not None
    assert before <= first <= utcnow()
    assert client.get(evaluations_url(project_id), headers=auth).status_code == 200
    assert client.get("/api/projects/", headers=auth).status_code == 200
    assert key_last_used_at(app) == first


def test_last_used_at_is_rewritten_after_an_hour(app, client, auth, project_id):
    stale = utcnow() - timedelta(hours=1, seconds=5)
    with app.app_context():
        db.session.scalars(select(PersonalAPIKey)).one().last_used_at = stale
        db.session.commit()
        db.session.remove()
    assert client.get(evaluations_url(project_id), headers=auth).status_code == 200
    assert key_last_used_at(app) > stale + timedelta(hours=1)


def test_failed_authentication_does_not_touch_any_key(app, client, api_key, project_id):
    client.get(evaluations_url(project_id), headers={"Authorization": "Bearer phx_wrong"})
    assert key_last_used_at(app) is None


# --- /api/projects/ and /api/users/@me/ -----------------------------------------------------


def test_projects_list_shape(app, client, auth, user_id, project_id):
    other_project = add_project(app, user_id, "Staging")
    for path in ("/api/projects/", "/api/projects"):
        response = client.get(path, headers=auth)
        assert response.status_code == 200
        body = response.json
        assert body["count"] == 2
        assert [(p["id"], p["name"]) for p in body["results"]] == [
            (project_id, "Default project"),
            (other_project, "Staging"),
        ]
    with app.app_context():
        organization_uuid = str(db.session.get(Project, project_id).organization.uuid)
        db.session.remove()
    assert {p["organization"] for p in body["results"]} == {organization_uuid}


def test_me_returns_the_caller(app, client, make_user, make_key, project_id):
    other = make_user("grace@example.com", first_name="Grace", last_name="Hopper")
    headers = {"Authorization": f"Bearer {make_key(other)}"}
    for path in ("/api/users/@me/", "/api/users/@me"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200
        body = response.json
        assert body["id"] == other
        assert body["email"] == "grace@example.com"
        assert (body["first_name"], body["last_name"]) == ("Grace", "Hopper")
        assert body["team"]["id"] == project_id
        assert [org["name"] for org in body["organizations"]] == ["Analytical Engines"]
        assert "password_hash" not in body
