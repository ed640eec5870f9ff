"""Settings: personal API keys in the browser."""

import re
from datetime import timedelta

import pytest

from webapp.extensions import db
from webapp.models import PersonalAPIKey
from webapp.services import accounts, api_keys

from .conftest import PASSWORD, csrf_token_from

NEW_KEY = re.compile(r'id="new-key" value="(phx_[^"]+)"')
SHOWN_ONCE = "was shown once and cannot be shown again"


def create_key(client, token, label, **form):
    """Post the create form and follow its redirect; return the raw key the page shows."""
    response = client.post("/settings/api-keys", data={"csrf_token": token, "label": label, **form})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == "/settings/api-keys"
    page = client.get("/settings/api-keys")
    assert page.headers["Cache-Control"] == "no-store"
    return NEW_KEY.search(page.get_data(as_text=True)).group(1)


def api_status(app, raw_key):
    return app.test_client().get("/api/projects/", headers={"Authorization": f"Bearer {raw_key}"}).status_code


def session_cookie(client):
    return client.get_cookie(client.application.config["SESSION_COOKIE_NAME"])


def key_rows(app):
    with app.app_context():
        return db.session.execute(db.select(PersonalAPIKey.label, PersonalAPIKey.reveal_sealed)).all()


def test_create_redirects_then_shows_the_key_once_and_a_reload_says_so(client, logged_in, project_id, app):
    response = client.post(
        "/settings/api-keys",
        data={"csrf_token": logged_in, "label": "CI", "scopes": ["evaluation:read"]},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings/api-keys"
    cookie_after_create = session_cookie(client).value
    page = client.get("/settings/api-keys")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    raw = NEW_KEY.search(html).group(1)
    mask = f"{raw[:4]}...{raw[-4:]}"
    assert "shown only this once" in html and f"Key “CI” ({mask}) created" in html
    # The key never travelled in a URL or a cookie, and the row no longer holds its sealed copy.
    session_data = app.session_interface.get_signing_serializer(app).loads(cookie_after_create)
    assert raw not in str(session_data) and raw not in response.headers["Location"]
    assert key_rows(app) == [("CI", None)]

    reload = client.get("/settings/api-keys").get_data(as_text=True)
    assert raw not in reload
    assert f"The key “CI” ({mask}) {SHOWN_ONCE}" in reload
    later = client.get("/settings/api-keys").get_data(as_text=True)
    assert SHOWN_ONCE not in later and mask in later
    assert len(key_rows(app)) == 1  # reloading never created another key

    api = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    assert api.get(f"/api/projects/{project_id}/evaluations/", headers=headers).status_code == 200
    denied = api.post(
        f"/api/projects/{project_id}/evaluations/", headers=headers, json={"name": "x", "prompt": "y"}
    )
    assert denied.status_code == 403
    assert "Never" not in client.get("/settings/api-keys").get_data(as_text=True)


def test_the_cookie_from_before_the_reveal_cannot_show_the_key_again(client, logged_in, app):
    client.post("/settings/api-keys", data={"csrf_token": logged_in, "label": "CI", "all_access": "1"})
    stolen = session_cookie(client).value
    raw = NEW_KEY.search(client.get("/settings/api-keys").get_data(as_text=True)).group(1)
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], stolen)
    html = replay.get("/settings/api-keys").get_data(as_text=True)
    assert raw not in html and SHOWN_ONCE in html


def test_a_key_not_shown_within_ten_minutes_is_never_shown(client, logged_in, app):
    client.post("/settings/api-keys", data={"csrf_token": logged_in, "label": "CI", "all_access": "1"})
    with app.app_context():
        key = db.session.scalar(db.select(PersonalAPIKey))
        key.created_at -= timedelta(seconds=api_keys.REVEAL_SECONDS + 1)
        db.session.commit()
    html = client.get("/settings/api-keys").get_data(as_text=True)
    assert not NEW_KEY.search(html) and SHOWN_ONCE in html
    assert key_rows(app) == [("CI", None)]


def test_a_second_key_with_the_same_label_is_refused(client, logged_in, app, make_user, make_key):
    create_key(client, logged_in, "CI", all_access="1")
    for label in ("CI", "  CI "):
        response = client.post(
            "/settings/api-keys", data={"csrf_token": logged_in, "label": label, "all_access": "1"}
        )
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert "You already have a key labelled “CI”." in html and 'id="label-error"' in html
    assert len(key_rows(app)) == 1
    other = make_user("eve@example.com", organization="Other")
    assert make_key(other, label="CI").startswith("phx_")  # labels are unique per user only


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
    create_key(client, logged_in, "One project", all_access="1", projects=[str(project_id)])
    with app.app_context():
        key = db.session.scalar(db.select(PersonalAPIKey))
        assert key.scopes == ["*"] and key.scoped_teams == [project_id]


def row_of(html, raw_key):
    """The key table's row that shows this key's mask."""
    rows = [
        row for row in re.findall(r"<tr>(.*?)</tr>", html, re.S) if f"{raw_key[:4]}...{raw_key[-4:]}" in row
    ]
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("older", [True, False])
def test_the_key_confirmed_for_deletion_is_the_key_that_stops_working(client, logged_in, app, older):
    first = create_key(client, logged_in, "deploy", all_access="1")
    second = create_key(client, logged_in, "deploy 2", all_access="1")
    doomed, kept = (first, second) if older else (second, first)
    doomed_name = f"“deploy{'' if older else ' 2'}” ({doomed[:4]}...{doomed[-4:]})"
    row = row_of(client.get("/settings/api-keys").get_data(as_text=True), doomed)
    assert f'aria-label="Delete key deploy{"" if older else " 2"} ({doomed[:4]}...{doomed[-4:]})"' in row
    assert f"Delete the key {doomed_name}?" in row  # the hx-confirm text
    delete_url = re.search(r'action="(/settings/api-keys/[^"]+/delete)"', row).group(1)

    confirm = client.post(delete_url, data={"csrf_token": logged_in}).get_data(as_text=True)
    assert f"Delete the key {doomed_name}?" in confirm
    confirmed_url = re.search(r'action="(/settings/api-keys/[^"]+/delete)"', confirm).group(1)
    response = client.post(confirmed_url, data={"csrf_token": logged_in, "confirmed": "1"})
    assert response.status_code == 303
    assert f"Deleted the key {doomed_name}. Scripts using it now get 401 errors." in client.get(
        "/settings/api-keys"
    ).get_data(as_text=True)
    assert api_status(app, doomed) == 401
    assert api_status(app, kept) == 200


def test_htmx_delete_from_the_row_revokes_that_key_only(client, logged_in, app):
    first = create_key(client, logged_in, "deploy", all_access="1")
    second = create_key(client, logged_in, "deploy 2", all_access="1")
    row = row_of(client.get("/settings/api-keys").get_data(as_text=True), first)
    delete_url = re.search(r'hx-post="(/settings/api-keys/[^"]+/delete)"', row).group(1)
    response = client.post(
        delete_url, data={"confirmed": "1"}, headers={"HX-Request": "true", "X-CSRFToken": logged_in}
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/settings/api-keys"
    assert api_status(app, first) == 401
    assert api_status(app, second) == 200
    again = client.post(
        delete_url, data={"confirmed": "1"}, headers={"HX-Request": "true", "X-CSRFToken": logged_in}
    )
    assert again.status_code == 204
    assert "That key no longer exists." in client.get("/settings/api-keys").get_data(as_text=True)
    assert api_status(app, second) == 200


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
