"""Settings: personal API keys in the browser."""

import re

from webapp.extensions import db
from webapp.models import PersonalAPIKey


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
