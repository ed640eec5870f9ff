"""Settings: personal API keys in the browser."""

import re

from webapp.extensions import db
from webapp.models import PersonalAPIKey
from webapp.services import accounts

from .conftest import PASSWORD, csrf_token_from


def test_create_key_shows_raw_key_once_and_it_works(client, logged_in, project_id):
    response = client.post(
        "/settings/api-keys",
        data={"csrf_token": logged_in, "label": "CI", "scopes": ["evaluation:read"]},
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    raw = re.search(r'id="new-key" value="(phx_[^"]+)"', html).group(1)
    assert "shown only this once" in html
    page = client.get("/settings/api-keys").get_data(as_text=True)
    assert raw not in page
    assert f"{raw[:4]}...{raw[-4:]}" in page
    api = client.application.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    assert api.get(f"/api/projects/{project_id}/evaluations/", headers=headers).status_code == 200
    denied = api.post(
        f"/api/projects/{project_id}/evaluations/", headers=headers, json={"name": "x", "prompt": "y"}
    )
    assert denied.status_code == 403
    assert "Never" not in client.get("/settings/api-keys").get_data(as_text=True)


def test_create_key_errors_keep_input(client, logged_in):
    response = client.post("/settings/api-keys", data={"csrf_token": logged_in, "label": "Label kept"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose at least one scope." in html and 'value="Label kept"' in html
    response = client.post(
        "/settings/api-keys", data={"csrf_token": logged_in, "label": "", "all_access": "1"}
    )
    assert "Give the key a label." in response.get_data(as_text=True)


def test_key_limited_to_a_project(client, logged_in, project_id, app):
    response = client.post(
        "/settings/api-keys",
        data={
            "csrf_token": logged_in,
            "label": "One project",
            "all_access": "1",
            "projects": [str(project_id)],
        },
    )
    assert response.status_code == 201
    with app.app_context():
        key = db.session.scalar(db.select(PersonalAPIKey))
        assert key.scopes == ["*"] and key.scoped_teams == [project_id]


def test_delete_key_confirms_then_revokes(client, logged_in, project_id):
    html = client.post(
        "/settings/api-keys", data={"csrf_token": logged_in, "label": "Temp", "all_access": "1"}
    ).get_data(as_text=True)
    raw = re.search(r'id="new-key" value="(phx_[^"]+)"', html).group(1)
    delete_url = re.search(r'action="(/settings/api-keys/[^"]+/delete)"', html).group(1)
    confirm = client.post(delete_url, data={"csrf_token": logged_in})
    assert "Delete the key “Temp”?" in confirm.get_data(as_text=True)
    response = client.post(delete_url, data={"csrf_token": logged_in, "confirmed": "1"})
    assert response.status_code == 303
    assert "Deleted the key “Temp”" in client.get("/settings/api-keys").get_data(as_text=True)
    api = client.application.test_client()
    assert api.get("/api/projects/", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_cannot_delete_someone_elses_key(client, logged_in, make_user, make_key, app):
    other = make_user("eve@example.com", organization="Other")
    make_key(other)
    with app.app_context():
        key_id = db.session.scalar(db.select(PersonalAPIKey.id))
    response = client.post(
        f"/settings/api-keys/{key_id}/delete", data={"csrf_token": logged_in, "confirmed": "1"}
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(PersonalAPIKey, key_id) is not None


def test_logout_requires_post_with_csrf(client, logged_in):
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf_token": logged_in}).status_code == 303
    assert client.get("/settings/api-keys").status_code == 302


def test_profile_name_can_be_changed(client, logged_in, app, user_id):
    response = client.post(
        "/settings/profile", data={"csrf_token": logged_in, "first_name": " Ada ", "last_name": "Lovelace"}
    )
    assert response.status_code == 303
    assert "Saved your name." in client.get("/settings/profile").get_data(as_text=True)
    with app.app_context():
        user = accounts.get_user(user_id)
        assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    too_long = client.post("/settings/profile", data={"csrf_token": logged_in, "first_name": "x" * 151})
    assert too_long.status_code == 422
    assert 'id="first_name-error"' in too_long.get_data(as_text=True)


def test_password_change_checks_the_old_one_and_the_new_one(client, logged_in):
    cases = [
        (
            {
                "current_password": "wrong",
                "new_password": "new password 1",
                "confirm_password": "new password 1",
            },
            "That is not your current password.",
        ),
        (
            {"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"},
            "at least 8 characters",
        ),
        (
            {"current_password": PASSWORD, "new_password": "new password 1", "confirm_password": "other one"},
            "The two new passwords are not the same.",
        ),
    ]
    for form, message in cases:
        response = client.post("/settings/password", data={"csrf_token": logged_in, **form})
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)


def test_password_change_logs_out_other_sessions_but_not_this_one(client, logged_in, app, api_key):
    other = app.test_client()
    token = csrf_token_from(other.get("/login").get_data(as_text=True))
    other.post("/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token})
    assert other.get("/settings/profile").status_code == 200

    response = client.post(
        "/settings/password",
        data={
            "csrf_token": logged_in,
            "current_password": PASSWORD,
            "new_password": "a brand new one",
            "confirm_password": "a brand new one",
        },
    )
    assert response.status_code == 303
    assert client.get("/settings/profile").status_code == 200
    assert other.get("/settings/profile").status_code == 302
    api = app.test_client().get("/api/projects/", headers={"Authorization": f"Bearer {api_key}"})
    assert api.status_code == 200
    fresh = app.test_client()
    token = csrf_token_from(fresh.get("/login").get_data(as_text=True))
    old = fresh.post("/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token})
    assert old.status_code == 400
    new = fresh.post(
        "/login", data={"email": "ada@example.com", "password": "a brand new one", "csrf_token": token}
    )
    assert new.status_code == 303
