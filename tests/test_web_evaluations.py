"""HTML views for evaluations: full pages, htmx partials, forms, CSRF."""

import re
import uuid

import pytest

from webapp.extensions import db
from webapp.models import Evaluation
from webapp.services import accounts, evaluations

HX = {"HX-Request": "true"}


@pytest.fixture
def make_evaluation(app, user_id, project_id):
    def make(name="Hallucination check", **fields):
        data = {"name": name, "prompt": "Is every claim supported?", **fields}
        with app.app_context():
            user = accounts.get_user(user_id)
            project = accounts.resolve_project(user, project_id)
            evaluation_id = evaluations.create_evaluation(project, user, data).id
            db.session.remove()
        return str(evaluation_id)

    return make


def stored(app, evaluation_id):
    with app.app_context():
        item = db.session.scalar(db.select(Evaluation).where(Evaluation.id == uuid.UUID(evaluation_id)))
        db.session.expunge_all()
        return item


def list_url(project_id, **args):
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return f"/project/{project_id}/evaluations/" + (f"?{query}" if query else "")


def test_pages_need_login_and_htmx_gets_hx_redirect(client, project_id):
    response = client.get(list_url(project_id))
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]
    response = client.get(list_url(project_id), headers=HX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_login_with_wrong_password_keeps_email_and_says_why(client, user_id):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": "ada@example.com", "password": "nope", "csrf_token": token}
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "do not match" in body
    assert 'value="ada@example.com"' in body


def test_login_refuses_post_without_csrf(client, user_id):
    response = client.post("/login", data={"email": "ada@example.com", "password": "x"})
    assert response.status_code == 403
    assert "form expired" in response.get_data(as_text=True)


def test_login_next_cannot_leave_the_site(client, user_id):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post(
        "/login?next=//evil.example/x",
        data={"email": "ada@example.com", "password": "correct horse battery", "csrf_token": token},
    )
    assert response.status_code == 303
    assert "evil" not in response.headers["Location"]


def test_list_full_page_and_partial_share_a_url(client, logged_in, project_id, make_evaluation):
    make_evaluation("Toxicity")
    make_evaluation("Relevance")
    full = client.get(list_url(project_id, search="tox"))
    assert full.status_code == 200
    assert "HX-Request" in full.headers["Vary"]
    html = full.get_data(as_text=True)
    assert "<html" in html and "Toxicity" in html and "Relevance" not in html
    assert 'value="tox"' in html
    partial = client.get(list_url(project_id, search="tox"), headers=HX)
    body = partial.get_data(as_text=True)
    assert "HX-Request" in partial.headers["Vary"]
    assert "<html" not in body and 'id="results"' in body and "Toxicity" in body
    restore = client.get(list_url(project_id), headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_list_sort_links_carry_state_and_aria_sort(client, logged_in, project_id, make_evaluation):
    make_evaluation("B")
    make_evaluation("A")
    html = client.get(list_url(project_id, order_by="name", enabled="false")).get_data(as_text=True)
    assert 'aria-sort="ascending"' in html
    assert html.index(">A<") < html.index(">B<")
    assert re.search(r'href="[^"]*order_by=-name[^"]*"', html)
    assert "enabled=false" in re.search(r'href="([^"]*order_by=-name[^"]*)"', html).group(1)


def test_list_bad_query_shows_message_not_500(client, logged_in, project_id):
    response = client.get(list_url(project_id, order_by="bogus"))
    assert response.status_code == 400
    assert "order_by" in response.get_data(as_text=True)


def test_list_pagination_20_per_page(client, logged_in, project_id, make_evaluation):
    for i in range(23):
        make_evaluation(f"Eval {i:02d}")
    html = client.get(list_url(project_id)).get_data(as_text=True)
    assert "Showing 1–20 of 23" in html
    assert 'rel="next"' in html
    html = client.get(list_url(project_id, offset=20)).get_data(as_text=True)
    assert "Showing 21–23 of 23" in html


def test_other_project_is_404(client, logged_in, make_user, app):
    other = make_user("eve@example.com", organization="Other org")
    with app.app_context():
        other_project = accounts.resolve_project(accounts.get_user(other), "@current").id
    assert client.get(list_url(other_project)).status_code == 404


def test_create_with_error_keeps_typed_values_then_succeeds(client, logged_in, project_id, app):
    url = f"/project/{project_id}/evaluations/new"
    form = {
        "csrf_token": logged_in,
        "name": "My <judge>",
        "description": "keeps this",
        "prompt": "",
        "conditions-0-id": "",
        "conditions-0-rollout_percentage": "150",
        "conditions-0-properties-0-key": "$ai_model",
        "conditions-0-properties-0-operator": "exact",
        "conditions-0-properties-0-type": "event",
        "conditions-0-properties-0-value": "gpt-4o",
        "save": "1",
    }
    response = client.post(url, data=form, headers=HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert 'value="My &lt;judge&gt;"' in html
    assert "keeps this" in html
    assert 'id="prompt-error"' in html
    assert 'id="conditions-0-rollout_percentage-error"' in html
    assert 'value="150"' in html
    form.update({"prompt": "Is it right?", "conditions-0-rollout_percentage": "50"})
    response = client.post(url, data=form)
    assert response.status_code == 303
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "My &lt;judge&gt;" in detail
    assert "50% of generations" in detail
    assert "<code>$ai_model</code> is “gpt-4o”" in detail


def test_create_success_over_htmx_redirects(client, logged_in, project_id):
    response = client.post(
        f"/project/{project_id}/evaluations/new",
        data={"csrf_token": logged_in, "name": "X", "prompt": "Y"},
        headers=HX,
    )
    assert response.status_code == 204
    assert f"/project/{project_id}/evaluations/" in response.headers["HX-Redirect"]


def test_conditions_editor_adds_and_removes_rows_keeping_values(client, logged_in, project_id):
    url = f"/project/{project_id}/evaluations/new"
    base = {"csrf_token": logged_in, "name": "Typed name", "prompt": "Typed prompt"}
    html = client.post(url, data={**base, "editor": "add_set"}, headers=HX).get_data(as_text=True)
    assert 'name="conditions-0-properties-0-key"' in html and 'value="Typed name"' in html
    data = {
        **base,
        "conditions-0-rollout_percentage": "30",
        "conditions-0-properties-0-key": "k0",
        "editor": "add_property:0",
    }
    html = client.post(url, data=data, headers=HX).get_data(as_text=True)
    assert 'name="conditions-0-properties-1-key"' in html and 'value="k0"' in html
    data.update({"conditions-0-properties-1-key": "k1", "editor": "remove_property:0:0"})
    html = client.post(url, data=data, headers=HX).get_data(as_text=True)
    assert 'value="k1"' in html and 'value="k0"' not in html
    data["editor"] = "remove_set:0"
    html = client.post(url, data=data, headers=HX).get_data(as_text=True)
    assert "conditions-0-" not in html


def test_form_post_without_csrf_is_refused(client, logged_in, project_id):
    response = client.post(f"/project/{project_id}/evaluations/new", data={"name": "X", "prompt": "Y"})
    assert response.status_code == 403
    with client.application.app_context():
        assert db.session.scalar(db.select(db.func.count(Evaluation.pk))) == 0


def test_edit_stale_version_is_a_conflict_keeping_input(client, logged_in, project_id, make_evaluation, app):
    evaluation_id = make_evaluation("Original")
    url = f"/project/{project_id}/evaluations/{evaluation_id}/edit"
    html = client.get(url).get_data(as_text=True)
    assert 'name="version" value="1"' in html
    client.post(url, data={"csrf_token": logged_in, "name": "Theirs", "prompt": "p", "version": "1"})
    response = client.post(url, data={"csrf_token": logged_in, "name": "Mine", "prompt": "p", "version": "1"})
    assert response.status_code == 409
    assert 'value="Mine"' in response.get_data(as_text=True)
    assert stored(app, evaluation_id).name == "Theirs"


def test_toggle_enabled_over_htmx_returns_the_switch(client, logged_in, project_id, make_evaluation, app):
    evaluation_id = make_evaluation()
    response = client.post(
        f"/project/{project_id}/evaluations/{evaluation_id}/enabled",
        data={"csrf_token": logged_in, "enabled": "true"},
        headers=HX,
    )
    assert response.status_code == 200
    assert "checked" in response.get_data(as_text=True)
    assert stored(app, evaluation_id).enabled is True


def test_duplicate_makes_a_disabled_copy(client, logged_in, project_id, make_evaluation):
    evaluation_id = make_evaluation("Judge", enabled=True)
    response = client.post(
        f"/project/{project_id}/evaluations/{evaluation_id}/duplicate", data={"csrf_token": logged_in}
    )
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Judge (Copy)" in html


def test_archive_from_list_rerenders_list_with_undo(client, logged_in, project_id, make_evaluation, app):
    evaluation_id = make_evaluation("Gone soon")
    make_evaluation("Stays")
    response = client.post(
        f"/project/{project_id}/evaluations/{evaluation_id}/archive",
        data={"csrf_token": logged_in, "from": "list"},
        headers={**HX, "HX-Current-URL": f"http://localhost{list_url(project_id, search='tay')}"},
    )
    html = response.get_data(as_text=True)
    assert 'id="results"' in html and "Stays" in html
    assert 'hx-swap-oob="true"' in html and "Archived “Gone soon”" in html
    undo = re.search(r'action="([^"]+/restore)"', html).group(1)
    assert stored(app, evaluation_id).deleted is True
    archived = client.get(f"/project/{project_id}/evaluations/archived").get_data(as_text=True)
    assert "Gone soon" in archived
    response = client.post(undo, data={"csrf_token": logged_in, "next": list_url(project_id)})
    assert response.status_code == 303
    assert stored(app, evaluation_id).deleted is False


def test_bulk_without_confirmation_shows_confirm_page(client, logged_in, project_id, make_evaluation, app):
    ids = [make_evaluation(f"E{i}") for i in range(3)]
    url = f"/project/{project_id}/evaluations/bulk"
    response = client.post(url, data={"csrf_token": logged_in, "action": "archive", "ids": ids[:2]})
    html = response.get_data(as_text=True)
    assert "Archive 2 evaluations?" in html
    assert not stored(app, ids[0]).deleted
    response = client.post(
        url, data={"csrf_token": logged_in, "action": "archive", "ids": ids[:2], "confirmed": "1"}
    )
    assert response.status_code == 303
    assert stored(app, ids[0]).deleted and stored(app, ids[1]).deleted and not stored(app, ids[2]).deleted
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Archived 2 evaluations." in page


def test_bulk_enable_over_htmx(client, logged_in, project_id, make_evaluation, app):
    ids = [make_evaluation(f"E{i}") for i in range(2)]
    response = client.post(
        f"/project/{project_id}/evaluations/bulk",
        data={"csrf_token": logged_in, "action": "enable", "ids": ids, "confirmed": "1"},
        headers=HX,
    )
    assert response.status_code == 204 and "HX-Redirect" in response.headers
    assert all(stored(app, i).enabled for i in ids)


def test_detail_shows_activity_log(client, logged_in, project_id, make_evaluation):
    evaluation_id = make_evaluation("Before")
    url = f"/project/{project_id}/evaluations/{evaluation_id}/edit"
    client.post(url, data={"csrf_token": logged_in, "name": "After", "prompt": "p", "version": "1"})
    html = client.get(f"/project/{project_id}/evaluations/{evaluation_id}").get_data(as_text=True)
    assert "updated this evaluation" in html and "created this evaluation" in html
    assert "<del>Before</del>" in html and "<ins>After</ins>" in html


def test_project_switcher_changes_current_project(client, logged_in, app, user_id):
    with app.app_context():
        user = accounts.get_user(user_id)
        from webapp.models import Project

        second = Project(organization_id=accounts.user_projects(user)[0].organization_id, name="Staging")
        db.session.add(second)
        db.session.commit()
        second_id = second.id
    response = client.post("/projects/switch", data={"csrf_token": logged_in, "project_id": second_id})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/project/{second_id}/evaluations/")
    assert client.get("/").headers["Location"].endswith(f"/project/{second_id}/evaluations/")
