"""Error pages: a missing evaluation or symbol set says so and links to its list; others are friendly."""

import re

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from webapp.services import accounts, evaluations

HX = {"HX-Request": "true"}
MISSING_ID = "00000000-0000-0000-0000-000000000000"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", html)


@pytest.mark.parametrize("evaluation_id", [MISSING_ID, "not-a-uuid"])
def test_a_missing_evaluation_has_its_own_page_with_a_link_to_the_list(
    client, logged_in, project_id, evaluation_id
):
    response = client.get(f"/project/{project_id}/evaluations/{evaluation_id}")
    assert response.status_code == 404
    html = text_of(response.get_data(as_text=True))
    assert "<h1>Evaluation not found</h1>" in html
    assert "This evaluation does not exist or was deleted." in html
    assert f'<a href="/project/{project_id}/evaluations/">Go to the evaluations</a>' in html
    assert NotFound.description not in html


def test_an_archived_evaluation_cannot_be_edited_and_says_why(client, logged_in, project_id, app, user_id):
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, project_id)
        evaluation = evaluations.create_evaluation(project, user, {"name": "Old", "prompt": "p"})
        evaluations.set_archived(project, user, evaluation.id, True)
        evaluation_id = evaluation.id
    response = client.get(f"/project/{project_id}/evaluations/{evaluation_id}/edit")
    assert response.status_code == 404
    assert "This evaluation does not exist or was deleted." in response.get_data(as_text=True)


def test_a_missing_symbol_set_has_its_own_page_with_a_link_to_the_list(client, logged_in, project_id):
    response = client.get(f"/project/{project_id}/symbol-sets/{MISSING_ID}")
    assert response.status_code == 404
    html = text_of(response.get_data(as_text=True))
    assert "<h1>Symbol set not found</h1>" in html
    assert "This symbol set does not exist or was deleted." in html
    assert f'<a href="/project/{project_id}/symbol-sets/">Go to the symbol sets</a>' in html


def test_an_htmx_request_for_a_missing_item_gets_a_message_fragment(client, logged_in, project_id):
    url = f"/project/{project_id}/evaluations/{MISSING_ID}/enabled"
    response = client.post(url, data={"csrf_token": logged_in, "enabled": "true"}, headers=HX)
    assert response.status_code == 404
    html = text_of(response.get_data(as_text=True))
    assert "<html" not in html and "data-error-message" in html
    assert "This evaluation does not exist or was deleted." in html
    assert f'href="/project/{project_id}/evaluations/"' in html


def test_other_404s_are_a_friendly_generic_page(client, logged_in, project_id, make_user, app):
    for url in ("/no/such/page", f"/project/{project_id}/nothing-here"):
        response = client.get(url)
        html = text_of(response.get_data(as_text=True))
        assert response.status_code == 404
        assert "<h1>Page not found</h1>" in html and "There is nothing at this address." in html
        assert NotFound.description not in html and 'href="/">Go to the start page' in html
    # Another organization's evaluation: the generic page, which does not say an evaluation is there.
    other = make_user("eve@example.com", organization="Other org")
    with app.app_context():
        user = accounts.get_user(other)
        theirs = accounts.resolve_project(user, "@current")
        evaluation_id = evaluations.create_evaluation(theirs, user, {"name": "Theirs", "prompt": "p"}).id
        theirs_id = theirs.id
    html = client.get(f"/project/{theirs_id}/evaluations/{evaluation_id}").get_data(as_text=True)
    assert "Page not found" in html and "Evaluation not found" not in html


def test_a_message_a_view_gives_is_kept_and_other_errors_are_worded_too(client, logged_in, app):
    response = client.get("/projects/switch")
    assert response.status_code == 405
    html = response.get_data(as_text=True)
    assert "Not available this way" in html and MethodNotAllowed.description not in html
    response = client.post("/projects/switch", data={"csrf_token": logged_in, "project_id": "x"})
    assert response.status_code == 400 and "Choose a project from the list." in response.get_data(
        as_text=True
    )


def test_the_api_keeps_its_json_404(client, auth, project_id):
    response = client.get(f"/api/projects/{project_id}/evaluations/{MISSING_ID}/", headers=auth)
    assert response.status_code == 404
    assert response.get_json() == {
        "type": "invalid_request",
        "code": "not_found",
        "detail": "Not found.",
        "attr": None,
    }
