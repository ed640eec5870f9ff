"""Settings forms on WTForms: every problem at once, typed values kept (never passwords)."""

import re

import pytest
from werkzeug.security import check_password_hash

from webapp.services import accounts
from webapp.services.errors import ValidationError, ValidationErrors

from .conftest import PASSWORD


def summary_links(html: str) -> list[tuple[str, str]]:
    summary = html[html.index('id="error-summary"') :]
    summary = summary[: summary.index("</ul>")]
    return re.findall(r'<a href="#(\w+)">([^<]+)</a>', summary)


def test_password_change_reports_every_problem_at_once(client, logged_in):
    response = client.post(
        "/settings/password",
        data={
            "csrf_token": logged_in,
            "current_password": "wrong",
            "new_password": "short",
            "confirm_password": "different",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert summary_links(html) == [
        ("current_password", "That is not your current password."),
        ("new_password", "The password must be at least 8 characters long."),
        ("confirm_password", "The two new passwords are not the same."),
    ]
    for field in ("current_password", "new_password", "confirm_password"):
        control = re.search(rf'<input [^>]*id="{field}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in control and f"{field}-error" in control
        assert 'value=""' in control  # a password is never sent back
    assert "wrong" not in html and "different" not in html


def test_blank_fields_are_named_once_each(client, logged_in):
    response = client.post("/settings/password", data={"csrf_token": logged_in})
    assert summary_links(response.get_data(as_text=True)) == [
        ("current_password", "Enter your current password."),
        ("new_password", "Choose a new password."),
        ("confirm_password", "Type the new password again."),
    ]


def test_a_wrong_current_password_and_a_mismatch_are_both_reported(client, logged_in, app, user_id):
    response = client.post(
        "/settings/password",
        data={
            "csrf_token": logged_in,
            "current_password": "wrong",
            "new_password": "long enough 1",
            "confirm_password": "long enough 2",
        },
    )
    assert [field for field, _ in summary_links(response.get_data(as_text=True))] == [
        "current_password",
        "confirm_password",
    ]
    with app.app_context():
        assert check_password_hash(accounts.get_user(user_id).password_hash, PASSWORD)  # unchanged


def test_the_service_raises_every_problem_together(app, user_id):
    with app.app_context():
        user = accounts.get_user(user_id)
        with pytest.raises(ValidationErrors) as raised:
            accounts.change_password(user, "wrong", "short")
        assert [error.attr for error in raised.value.errors] == ["current_password", "new_password"]
        assert raised.value.attr == "current_password"  # the first, for callers that show one
        with pytest.raises(ValidationError) as single:
            accounts.change_password(user, PASSWORD, "short")
        assert not isinstance(single.value, ValidationErrors) and single.value.attr == "new_password"


def test_the_name_form_keeps_what_was_typed_and_reports_both_names(client, logged_in):
    response = client.post(
        "/settings/profile",
        data={"csrf_token": logged_in, "first_name": "A" * 151, "last_name": "B" * 160},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert [field for field, _ in summary_links(html)] == ["first_name", "last_name"]
    assert f'value="{"A" * 151}"' in html and f'value="{"B" * 160}"' in html


def test_the_key_form_keeps_its_ticks_after_an_error(client, logged_in, project_id):
    response = client.post(
        "/settings/api-keys",
        data={
            "csrf_token": logged_in,
            "label": "",
            "scopes": ["evaluation:read", "project:read"],
            "projects": [str(project_id)],
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert summary_links(html) == [("label", "Give the key a label.")]
    checked = re.findall(r'value="([^"]+)"[^>]*\n?\s*checked', html)
    assert checked == ["evaluation:read", "project:read", str(project_id)]


def test_a_project_the_user_is_not_in_is_reported_under_projects(client, logged_in):
    response = client.post(
        "/settings/api-keys",
        data={"csrf_token": logged_in, "label": "ci", "scopes": ["evaluation:read"], "projects": ["999"]},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert summary_links(html) == [("projects", "You are not a member of project 999.")]
    assert 'id="projects-error"' in html


def test_the_team_forms_list_their_problems_and_mark_their_fields(client, logged_in):
    invite = client.post(
        "/settings/members/invite", data={"csrf_token": logged_in, "emails": "nope", "level": "8"}
    )
    assert invite.status_code == 422
    html = invite.get_data(as_text=True)
    assert [target for target, _ in summary_links(html)] == ["emails"]
    assert re.search(r'<textarea[^>]*aria-invalid="true"[^>]*>\s*nope</textarea>', html)  # kept
    assert re.search(r'<option selected value="8">admin</option>', html)

    blank = client.post("/settings/projects", data={"csrf_token": logged_in, "name": "  "})
    assert blank.status_code == 422
    # The summary, away from the field, names it when the message does not.
    assert summary_links(blank.get_data(as_text=True)) == [("name", "Name: This field may not be blank.")]

    client.post("/settings/projects", data={"csrf_token": logged_in, "name": "Spare"})
    page = client.get("/settings/projects").get_data(as_text=True)
    spare = re.search(r'/settings/projects/(\d+)/delete" aria-label="Delete project Spare"', page).group(1)
    wrong = client.post(
        f"/settings/projects/{spare}/delete", data={"csrf_token": logged_in, "confirm_name": "spare"}
    )
    assert wrong.status_code == 422
    html = wrong.get_data(as_text=True)
    assert re.search(r'<input[^>]*aria-describedby="confirm_name-error"[^>]*aria-invalid="true"', html)
    assert "Type the project&#39;s name, Spare, to delete it." in html
