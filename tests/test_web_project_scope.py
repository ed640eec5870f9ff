"""Project pages resolve `g.project` once per request; service errors become pages in one handler."""

import pytest
from flask import g, url_for

from webapp.services import accounts

HX = {"HX-Request": "true"}


@pytest.fixture
def other_project(app, make_user):
    other = make_user("eve@example.com", organization="Other org")
    with app.app_context():
        return accounts.resolve_project(accounts.get_user(other), "@current").id


PAGES = [
    ("get", "/project/{p}/evaluations/"),
    ("get", "/project/{p}/evaluations/archived"),
    ("get", "/project/{p}/evaluations/new"),
    ("post", "/project/{p}/evaluations/new"),
    ("get", "/project/{p}/evaluations/00000000-0000-0000-0000-000000000000"),
    ("post", "/project/{p}/evaluations/bulk"),
    ("get", "/project/{p}/symbol-sets/"),
    ("get", "/project/{p}/symbol-sets/summary"),
    ("post", "/project/{p}/symbol-sets/bulk-delete"),
]


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_every_project_page_is_404_for_a_project_of_another_organization(
    client, logged_in, other_project, method, path
):
    kwargs = {"data": {"csrf_token": logged_in}} if method == "post" else {}
    response = getattr(client, method)(path.format(p=other_project), **kwargs)
    assert response.status_code == 404
    assert "Other org" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [path for method, path in PAGES if method == "get"])
def test_project_pages_send_a_visitor_to_log_in_before_looking_the_project_up(
    client, user_id, other_project, path
):
    response = client.get(path.format(p=other_project))
    # Not 404 (that would tell a visitor which projects exist): the login page first.
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_a_missing_evaluation_on_a_post_is_a_404_page_not_a_500(client, logged_in, project_id):
    url = f"/project/{project_id}/evaluations/00000000-0000-0000-0000-000000000000/duplicate"
    response = client.post(url, data={"csrf_token": logged_in})
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_a_project_page_links_within_its_project_without_naming_it(app, project_id, user_id):
    with app.test_request_context(f"/project/{project_id}/evaluations/"):
        g.project = accounts.resolve_project(accounts.get_user(user_id), project_id)
        assert url_for("evaluations.new") == f"/project/{project_id}/evaluations/new"
        # An explicit project still wins, and pages outside projects are unaffected.
        assert url_for("symbol_sets.index", project_id=99) == "/project/99/symbol-sets/"
        assert url_for("settings.profile") == "/settings/profile"


def test_partials_carry_the_flash_region_once_out_of_band(client, logged_in, project_id):
    full = client.get(f"/project/{project_id}/evaluations/").get_data(as_text=True)
    assert full.count('id="flash"') == 1 and 'hx-swap-oob="true"' not in full
    partial = client.get(f"/project/{project_id}/evaluations/?search=x", headers=HX).get_data(as_text=True)
    assert partial.count('id="flash"') == 1 and 'hx-swap-oob="true"' in partial
    # The editor's partial too: a message flashed earlier shows up with its swap.
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "Shown with the next swap.")]
    response = client.post(
        f"/project/{project_id}/evaluations/new",
        data={"csrf_token": logged_in, "name": "x", "editor": "add_set"},
        headers=HX,
    )
    form = response.get_data(as_text=True)
    assert response.status_code == 200 and 'name="conditions-0-rollout_percentage"' in form
    assert form.count('id="flash"') == 1 and "Shown with the next swap." in form
