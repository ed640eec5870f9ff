"""HTML views for evaluations: full pages, htmx partials, forms, CSRF."""

import re
import uuid
from html import unescape

import pytest

from webapp.extensions import db
from webapp.models import Evaluation
from webapp.services import accounts, evaluation_templates, evaluations

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


def focused(html: str) -> str | None:
    """The id of the one element the page focuses when it appears (autofocus)."""
    tags = re.findall(r"<[a-z]+\b[^>]*\bautofocus\b[^>]*>", html)
    assert len(tags) <= 1, tags
    return re.search(r'\bid="([^"]+)"', tags[0]).group(1) if tags else None


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
    # A new set has no property row (an empty one looked like values and blocked saving), and the
    # focus goes to its first field.
    assert "conditions-0-properties-0" not in html and 'value="Typed name"' in html
    assert focused(html) == "conditions-0-rollout_percentage"
    assert 'id="conditions-0-add-property"' in html and "data-changed" in html
    data = {**base, "conditions-0-rollout_percentage": "30", "editor": "add_property:0"}
    html = client.post(url, data=data, headers=HX).get_data(as_text=True)
    assert focused(html) == "conditions-0-properties-0-type"
    data.update({"conditions-0-properties-0-key": "k0"})
    html = client.post(url, data=data, headers=HX).get_data(as_text=True)
    assert 'name="conditions-0-properties-1-key"' in html and 'value="k0"' in html
    assert focused(html) == "conditions-0-properties-1-type"
    data.update({"conditions-0-properties-1-key": "k1", "editor": "remove_property:0:0"})
    html = client.post(url, data=data, headers=HX).get_data(as_text=True)
    assert 'value="k1"' in html and 'value="k0"' not in html
    assert focused(html) == "conditions-0-add-property"
    data["editor"] = "remove_set:0"
    html = client.post(url, data=data, headers=HX).get_data(as_text=True)
    assert "conditions-0-" not in html
    assert focused(html) == "add-condition-set"


def test_form_post_without_csrf_is_refused(client, logged_in, project_id):
    response = client.post(f"/project/{project_id}/evaluations/new", data={"name": "X", "prompt": "Y"})
    assert response.status_code == 403
    with client.application.app_context():
        assert db.session.scalar(db.select(db.func.count(Evaluation.pk))) == 0


def test_edit_stale_version_is_a_conflict_showing_theirs_next_to_yours(
    client, logged_in, project_id, make_evaluation, app
):
    evaluation_id = make_evaluation("Original", description="Same")
    url = f"/project/{project_id}/evaluations/{evaluation_id}/edit"
    html = client.get(url).get_data(as_text=True)
    assert 'name="version" value="1"' in html
    theirs = {"csrf_token": logged_in, "name": "Theirs", "prompt": "Their prompt", "description": "Same"}
    client.post(url, data={**theirs, "version": "1"})
    mine = {**theirs, "name": "Mine", "prompt": "My prompt", "version": "1"}
    response = client.post(url, data=mine, headers=HX)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'value="Mine"' in html and "My prompt" in html
    assert focused(html) == "conflict"
    conflict = html[html.index('id="conflict"') : html.index("</section>")]
    # Each changed field with their saved value next to the one typed here; unchanged ones are left out.
    assert re.findall(r'<h3 class="h6">([^<]+)</h3>', conflict) == ["Name", "Judge prompt"]
    assert re.findall(r'<div class="conflict-value">([^<]+)</div>', conflict) == [
        "Theirs",
        "Mine",
        "Their prompt",
        "My prompt",
    ]
    # The buttons: save over their version (the version now saved), or load theirs; no false "problems".
    assert '<button type="submit" name="overwrite_version" value="2">Keep my changes</button>' in conflict
    assert f'href="{url}"' in conflict and "data-discard-changes" in conflict
    assert "problem" not in html and "error-summary" not in html
    assert stored(app, evaluation_id).name == "Theirs"
    # Saving again the plain way conflicts again: the choice is the person's to make.
    assert client.post(url, data=mine).status_code == 409
    # "Keep my changes": saved over theirs.
    response = client.post(url, data={**mine, "overwrite_version": "2"})
    assert response.status_code == 303
    assert (stored(app, evaluation_id).name, stored(app, evaluation_id).version) == ("Mine", 3)
    # A third change meanwhile is a new conflict, not silently overwritten.
    client.post(url, data={**theirs, "name": "Third", "version": "3"})
    response = client.post(url, data={**mine, "name": "Fourth", "overwrite_version": "3"})
    assert response.status_code == 409 and 'name="overwrite_version" value="4"' in response.get_data(
        as_text=True
    )
    assert stored(app, evaluation_id).name == "Third"


def test_take_their_version_is_the_edit_page_with_the_saved_values(
    client, logged_in, project_id, make_evaluation
):
    evaluation_id = make_evaluation("Original")
    url = f"/project/{project_id}/evaluations/{evaluation_id}/edit"
    client.post(url, data={"csrf_token": logged_in, "name": "Theirs", "prompt": "p", "version": "1"})
    html = client.get(url).get_data(as_text=True)
    assert 'value="Theirs"' in html and 'name="version" value="2"' in html
    assert "data-changed" not in html and 'role="status" data-unsaved-marker hidden' in html


def test_a_failed_save_lists_every_problem_linking_to_its_field(client, logged_in, project_id):
    response = client.post(
        f"/project/{project_id}/evaluations/new",
        data={
            "csrf_token": logged_in,
            "name": "",
            "prompt": "p",
            "conditions-0-rollout_percentage": "",
            "conditions-0-properties-0-key": "$ai_latency",
            "conditions-0-properties-0-operator": "gte",
            "conditions-0-properties-0-value": "fast",
            "conditions-1-rollout_percentage": "0",
            "conditions-1-properties-0-key": "$ai_model",
            "conditions-1-properties-0-operator": "regex",
            "conditions-1-properties-0-value": "([a-z",
            "conditions-2-rollout_percentage": "100",
            "conditions-2-properties-0-key": "$ai_trace_id",
            "conditions-2-properties-0-operator": "is_date_before",
            "conditions-2-properties-0-value": "yesterday-ish",
        },
        headers=HX,
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert focused(html) == "error-summary"
    assert "see the highlighted fields" not in html
    summary = html[html.index('id="error-summary"') : html.index("</ul>")]
    assert "6 problems to fix before saving:" in summary
    assert re.findall(r'<a href="#([^"]+)">([^:]+):', summary) == [
        ("name", "Name"),
        ("conditions-0-rollout_percentage", "Condition set 1, rollout %"),
        ("conditions-0-properties-0-value", "Condition set 1, property 1, value"),
        ("conditions-1-rollout_percentage", "Condition set 2, rollout %"),
        ("conditions-1-properties-0-value", "Condition set 2, property 1, value"),
        ("conditions-2-properties-0-value", "Condition set 3, property 1, value"),
    ]
    for field, words in [
        ("conditions-0-rollout_percentage", "Enter a rollout percentage"),
        ("conditions-0-properties-0-value", "compares numbers"),
        ("conditions-1-rollout_percentage", "between 0.1% and 100%"),
        ("conditions-1-properties-0-value", "not a valid regular expression"),
        ("conditions-2-properties-0-value", "is not a date"),
    ]:
        assert re.search(rf'<small class="field-error" id="{field}-error">[^<]*{re.escape(words)}', html), (
            field
        )
        assert re.search(rf'<[a-z]+ aria-describedby="[^"]*{field}-error" aria-invalid="true"', html), field


def test_the_new_page_focuses_name_says_it_starts_disabled_and_offers_templates(
    client, logged_in, project_id
):
    url = f"/project/{project_id}/evaluations/new"
    html = client.get(url).get_data(as_text=True)
    assert focused(html) == "name"
    assert "New evaluations start disabled" in html
    assert "data-changed" not in html and "conditions-0" not in html
    for template in evaluation_templates.TEMPLATES:
        assert f'href="{url}?template={template.slug}"' in html
    html = client.get(url + "?template=pii-leakage").get_data(as_text=True)
    assert focused(html) == "name" and 'value="PII leakage"' in html
    assert (
        'name="conditions-0-properties-0-key" placeholder="$ai_model" type="text" value="$ai_output_choices"'
        in html
    )
    assert '<option selected value="regex">' in html
    assert client.get(url + "?template=nope").status_code == 404


def test_created_from_a_template_it_is_saved_disabled_and_says_so(client, logged_in, project_id, app):
    html = client.get(f"/project/{project_id}/evaluations/new?template=toxicity").get_data(as_text=True)
    fields = {
        name: unescape(value)
        for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html)
    }
    prompt = re.search(r'<textarea[^>]*name="prompt"[^>]*>\r?\n?([^<]*)</textarea>', html).group(1)
    fields["prompt"] = unescape(prompt)
    assert re.search(r'<input [^>]*name="enabled" role="switch" type="checkbox" value="on">', html)
    del fields["enabled"]  # unticked: a browser sends nothing
    fields["csrf_token"] = logged_in
    response = client.post(f"/project/{project_id}/evaluations/new", data=fields)
    assert response.status_code == 303, response.get_data(as_text=True)
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "It starts disabled; enable it when it is ready." in detail
    with app.app_context():
        item = db.session.scalar(db.select(Evaluation))
        assert (item.name, item.enabled, item.conditions[0]["rollout_percentage"]) == ("Toxicity", False, 100)
        assert item.prompt == evaluation_templates.BY_SLUG["toxicity"].prompt


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


def test_detail_says_numbers_bare_and_text_in_quotes(client, logged_in, project_id, make_evaluation):
    prop = {"type": "event"}
    evaluation_id = make_evaluation(
        conditions=[
            {
                "rollout_percentage": 50,
                "properties": [
                    {**prop, "key": "$ai_total_cost_usd", "operator": "gt", "value": 0.1},
                    {**prop, "key": "$ai_latency", "operator": "gte", "value": "5"},
                    {**prop, "key": "$ai_model", "operator": "exact", "value": ["gpt-4o", "42"]},
                ],
            }
        ]
    )
    html = client.get(f"/project/{project_id}/evaluations/{evaluation_id}").get_data(as_text=True)
    words = [
        " ".join(re.sub(r"<[^>]+>", " ", span).split())
        for span in re.findall(r'<span class="condition">(.*?)</span>', html)
    ]
    assert words == [
        "event property $ai_total_cost_usd is greater than 0.1",
        "event property $ai_latency is at least 5",
        "event property $ai_model is “gpt-4o” or “42”",
    ]


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
