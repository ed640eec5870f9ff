"""A value the API accepted never breaks a page that shows it: markup, template syntax, emoji, astral
characters, right-to-left marks and long unbroken strings round-trip through the API and render escaped
on every evaluation and symbol-set page, on SQLite and PostgreSQL."""

import uuid

from flask import render_template_string
from markupsafe import Markup, escape
from sqlalchemy import text

from webapp.extensions import db
from webapp.services import accounts, symbol_sets

MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'
TEMPLATE = "{{ 7*7 }}{% raw %}"
EMOJI = "🧪 👩\u200d💻 ✓"
ASTRAL = "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎"
RTL = "\u202eevil\u202c"
LONG = "W" * 5000

NAME = f"{MARKUP} {EMOJI}"[:400]
CONDITIONS = [
    {
        "id": f"<b>{ASTRAL}</b>",
        "rollout_percentage": 12.5,
        "properties": [
            {
                "key": f"<i>{EMOJI}</i>",
                "value": [ASTRAL, "<u>u</u>", 'a"b'],
                "operator": "exact",
                "type": "person",
            },
            {"key": TEMPLATE, "value": RTL, "operator": "icontains", "type": "event"},
        ],
    }
]


def assert_shows(response, *values):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    html = response.get_data(as_text=True)
    for value in values:
        assert str(escape(value)) in html, value[:40]
    for raw in ("<script>alert", "<img src=x", "<b>𝔘", "<i>🧪", "<u>u</u>"):
        assert raw not in html, raw


def test_evaluation_values_round_trip_and_render_escaped(client, auth, logged_in, project_id):
    api = f"/api/environments/{project_id}/evaluations/"
    body = {
        "name": NAME,
        "description": LONG + RTL,
        "prompt": f"{ASTRAL}\n</pre>{MARKUP}\n{TEMPLATE}",
        "conditions": CONDITIONS,
    }
    created = client.post(api, json=body, headers=auth)
    assert created.status_code == 201, created.json
    item = created.json
    for field in ("name", "description", "prompt", "conditions"):
        assert item[field] == body[field], field
    renamed = f"{TEMPLATE} {ASTRAL}"
    assert client.patch(f"{api}{item['id']}/", json={"name": renamed}, headers=auth).status_code == 200
    assert client.get(f"{api}{item['id']}/", headers=auth).json["conditions"] == CONDITIONS

    pages = f"/project/{project_id}/evaluations"
    assert_shows(client.get(f"{pages}/"), renamed)
    assert_shows(client.get(f"{pages}/", query_string={"search": ASTRAL[:6]}), renamed)
    detail = client.get(f"{pages}/{item['id']}")
    # The activity log shows the old name (truncated) next to the new one.
    assert_shows(detail, renamed, LONG + RTL, ASTRAL, TEMPLATE, EMOJI, "<u>u</u>", MARKUP[:40])
    edit = client.get(f"{pages}/{item['id']}/edit")
    assert_shows(edit, renamed, LONG + RTL, MARKUP, f"<b>{ASTRAL}</b>", f"<i>{EMOJI}</i>", RTL)
    confirm = client.post(
        f"{pages}/bulk", data={"csrf_token": logged_in, "action": "archive", "ids": item["id"]}
    )
    assert_shows(confirm, renamed)
    client.patch(f"{api}{item['id']}/", json={"deleted": True}, headers=auth)
    assert_shows(client.get(f"{pages}/archived"), renamed)


def test_symbol_set_values_round_trip_and_render_escaped(app, client, auth, logged_in, project_id):
    api = f"/api/environments/{project_id}/error_tracking"
    version, project_name = f"<b>1.0</b> {ASTRAL}", f"\"quoted\" & 'single' {EMOJI}"
    release = client.post(
        f"{api}/releases/", json={"version": version, "project": project_name}, headers=auth
    )
    assert release.status_code == 201, release.json
    ref = f"{MARKUP[:30]}{EMOJI}{ASTRAL}{RTL}" + "R" * 300
    started = client.post(
        f"{api}/symbol_sets/bulk_start_upload/",
        json={"symbol_sets": [{"chunk_id": ref, "release_id": release.json["id"]}]},
        headers=auth,
    )
    assert started.status_code == 201, started.json
    set_id = started.json["id_map"][ref]["symbol_set_id"]
    reason = f"{MARKUP} {ASTRAL}"
    with app.app_context():
        project = accounts.get_project(project_id)
        symbol_sets.mark_failed(project, ref, reason)
        db.session.remove()
    stored = client.get(f"{api}/symbol_sets/{set_id}/", headers=auth).json
    assert (stored["ref"], stored["failure_reason"]) == (ref, reason)
    assert (stored["release"]["version"], stored["release"]["project"]) == (version, project_name)

    pages = f"/project/{project_id}/symbol-sets"
    assert_shows(client.get(f"{pages}/"), ref, version)
    assert_shows(client.get(f"{pages}/", query_string={"search": ASTRAL[:6], "status": "failed"}), ref)
    assert_shows(client.get(f"{pages}/{set_id}"), ref, version, project_name, reason)
    assert_shows(client.post(f"{pages}/{set_id}/delete", data={"csrf_token": logged_in}), ref)
    assert_shows(client.post(f"{pages}/bulk-delete", data={"csrf_token": logged_in, "ids": set_id}), ref)
    assert client.get(f"{pages}/summary").status_code == 200


def test_a_lone_surrogate_stored_before_the_checks_does_not_break_the_pages(
    app, client, auth, logged_in, project_id
):
    """Both databases keep JSON's "\\ud800" escape in a JSON column, as the API once accepted it."""
    api = f"/api/environments/{project_id}/evaluations/"
    item = client.post(api, json={"name": "Old row", "prompt": "p"}, headers=auth).json
    stored = '[{"id": "s\\ud800", "properties": [{"key": "k\\udfff", "value": "v"}]}]'
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(
                text("UPDATE evaluations SET conditions = :conditions WHERE id = :id"),
                {"conditions": stored, "id": uuid.UUID(item["id"]).hex},
            )
        db.session.remove()
    pages = f"/project/{project_id}/evaluations/{item['id']}"
    for page in (pages, f"{pages}/edit"):
        response = client.get(page)
        assert response.status_code == 200
        assert "k\ufffd" in response.get_data(as_text=True)


def test_printing_replaces_lone_surrogates_and_keeps_markup_markup(app):
    with app.test_request_context():
        values = {"a": "x\ud800", "b": ["\udfffy"], "c": Markup("<b>\ud800</b>"), "d": "é"}
        html = render_template_string("{{ a }}|{{ b | first }}|{{ c }}|{{ d }}", **values)
    assert html == "x\ufffd|\ufffdy|<b>\ufffd</b>|é"
