"""Key-authenticated list reads answered before Flask (api/fast_reads.py) answer exactly as the Flask
routes do (status, headers, body), pages and every request they hand over; the rate limit counts each once."""

import pytest

from webapp.extensions import db
from webapp.services import accounts, organizations, projects

from .test_api_symbol_sets import insert_release, insert_set

LISTS = ("evaluations", "error_tracking/symbol_sets", "error_tracking/releases")
LIST_ENDPOINTS = {
    f"{prefix}_{blueprint}.{view}"
    for prefix in ("environments", "projects")
    for blueprint, view in (
        ("evaluations_api", "list_evaluations"),
        ("error_tracking_api", "list_symbol_sets"),
        ("error_tracking_api", "list_releases"),
    )
}


@pytest.fixture
def views_called(app, monkeypatch):
    """How often Flask ran one of the list views."""
    calls = []
    for endpoint in LIST_ENDPOINTS:
        view = app.view_functions[endpoint]

        def counted(*args, _view=view, **kwargs):
            calls.append(1)
            return _view(*args, **kwargs)

        monkeypatch.setitem(app.view_functions, endpoint, counted)
    return calls


@pytest.fixture
def listed_rows(app, client, auth, project_id):
    """A few rows in each list, some failed symbol sets among them."""
    for number in range(5):
        response = client.post(
            f"/api/projects/{project_id}/evaluations/",
            json={"name": f"check {number} helpful", "prompt": "Is it helpful?", "enabled": number % 2 == 0},
            headers=auth,
        )
        assert response.status_code == 201
    release = insert_release(app, project_id)
    insert_set(app, project_id, "chunk-0001")
    insert_set(app, project_id, "chunk-0002", failure_reason="invalid_source_map")
    return release


def answer(client, path: str, headers: dict) -> tuple:
    response = client.get(path, headers=headers)
    return response.status_code, sorted(response.headers.items()), response.get_data()


def both_ways(app, client, path: str, headers: dict, views_called: list) -> tuple[tuple, int]:
    """The answer with fast reads and without them (Flask alone), checked equal; and how often Flask's list
    view ran for the fast one."""
    before = len(views_called)
    fast = answer(client, path, headers)
    flask_ran = len(views_called) - before
    app.config["API_FAST_READS"] = False
    try:
        flask_alone = answer(client, path, headers)
    finally:
        app.config["API_FAST_READS"] = True
    assert fast == flask_alone, path
    return fast, flask_ran


def test_pages_are_served_before_flask_exactly_as_flask_serves_them(
    app, client, auth, project_id, listed_rows, views_called
):
    cases = [
        f"/api/{prefix}/{project_id}/{resource}{slash}{query}"
        for prefix in ("environments", "projects")
        for resource in LISTS
        for slash in ("/", "")
        for query in ("", "?limit=1", "?limit=1&offset=1&unknown=x&limit=2")
    ]
    cases += [
        f"/api/projects/{project_id}/evaluations/?{query}"
        for query in (
            "search=helpful",
            "search=check+3",
            "search=%20",
            "enabled=true&order_by=-name",
            "order_by=name&offset=3",
            "order_by=-updated_at&limit=1000",
            "personal_api_key=not-the-key",  # the header's key wins, as in Flask
        )
    ]
    cases += [
        f"/api/projects/{project_id}/error_tracking/symbol_sets/?{query}"
        for query in ("status=failed", "status=valid", "search=chunk-0002", "order_by=-created_at")
    ]
    for path in cases:
        (status, _, body), flask_ran = both_ways(app, client, path, auth, views_called)
        assert status == 200, (path, body)
        assert flask_ran == 0, f"{path} went through Flask"


def test_every_other_answer_is_flasks(
    app, client, auth, project_id, make_user, make_key, user_id, views_called
):
    other_project = accounts_project(app, make_user("grace@example.com", "Elsewhere"))
    api = f"/api/projects/{project_id}"
    refused = {
        "a bad parameter": (f"{api}/evaluations/?limit=abc", auth),
        "an unknown order": (f"{api}/evaluations/?order_by=bogus", auth),
        "an unknown status": (f"{api}/error_tracking/symbol_sets/?status=bogus", auth),
        "a NUL in a search": (f"{api}/evaluations/?search=a%00b", auth),
        "another organization's project": (f"/api/projects/{other_project}/evaluations/", auth),
        "no such project": ("/api/projects/999999/evaluations/", auth),
        "a project id past 32 bits": ("/api/projects/99999999999/evaluations/", auth),
        "project 0": ("/api/projects/0/evaluations/", auth),
        "an unknown key": (f"{api}/evaluations/", {"Authorization": "Bearer phx_unknown"}),
        "an empty bearer": (f"{api}/evaluations/", {"Authorization": "Bearer "}),
        "another scheme": (f"{api}/evaluations/", {"Authorization": f"Basic {auth['Authorization'][7:]}"}),
        "no key": (f"{api}/evaluations/", {}),
        "a key missing the scope": (f"{api}/evaluations/", bearer(make_key(user_id, "error_tracking:read"))),
        "a key for other projects": (
            f"{api}/error_tracking/releases/",
            bearer(make_key(user_id, "*", [spare_project(app, user_id)])),
        ),
    }
    for reason, (path, headers) in refused.items():
        (status, _, body), _ = both_ways(app, client, path, headers, views_called)
        assert status in (400, 401, 403, 404), (reason, status, body)

    # Handed over, and answered by Flask with a page: the current project, a key in the query string.
    for path, headers in (
        ("/api/projects/@current/evaluations/", auth),
        (f"{api}/evaluations/?personal_api_key={auth['Authorization'][7:]}", {}),
    ):
        (status, _, _), flask_ran = both_ways(app, client, path, headers, views_called)
        assert (status, flask_ran) == (200, 1), path


def test_a_session_cookie_or_a_head_request_goes_to_flask(app, client, auth, project_id, views_called):
    api = f"/api/projects/{project_id}/evaluations/"
    client.set_cookie("session", "anything")
    assert client.get(api, headers=auth).status_code == 200
    assert len(views_called) == 1
    client.delete_cookie("session")
    assert client.head(api, headers=auth).status_code == 200
    assert len(views_called) == 2


def test_each_request_is_counted_once_by_the_rate_limit(app, client, auth, project_id, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMITS", "3/minute")
    api = f"/api/projects/{project_id}/evaluations/"
    # Served fast, handed over with a bad parameter, served fast: three counted, the fourth refused.
    assert client.get(api, headers=auth).status_code == 200
    assert client.get(api + "?limit=abc", headers=auth).status_code == 400
    assert client.get(api, headers=auth).status_code == 200
    refused = client.get(api, headers=auth)
    assert refused.status_code == 429
    assert refused.json["type"] == "throttled_error"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Flask alone refuses it the same way.
    monkeypatch.setitem(app.config, "API_FAST_READS", False)
    again = client.get(api, headers=auth)
    assert (again.status_code, again.json["type"]) == (429, "throttled_error")


def test_a_database_outage_is_flasks_503(app, client, auth, project_id, monkeypatch, views_called):
    from webapp import driver_reads
    from webapp.services import api_keys

    calls = []

    def down(*args, **kwargs):
        calls.append(1)
        error = OSError("connection refused")
        raise driver_reads.DBAPIError("SELECT", {}, error, connection_invalidated=True)

    monkeypatch.setattr(api_keys.driver_reads, "rows", down)
    response = client.get(f"/api/projects/{project_id}/evaluations/", headers=auth)
    assert response.status_code == 503
    assert len(calls) == 2  # tried before Flask, then by Flask, which answered


def accounts_project(app, user_id: int) -> int:
    with app.app_context():
        project_id = accounts.resolve_project(accounts.get_user(user_id), "@current").id
        db.session.remove()
    return project_id


def spare_project(app, user_id: int) -> int:
    """Another project of the user's organization."""
    with app.app_context():
        spare = projects.create_project(organizations.current(accounts.get_user(user_id)), "Spare").id
        db.session.remove()
    return spare


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_trusted_hosts_are_checked_as_flask_checks_them(
    app, client, auth, project_id, views_called, monkeypatch
):
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", ["api.example.org"])
    api = f"/api/projects/{project_id}/evaluations/"
    refused = {**auth, "Host": "elsewhere.example.org"}
    (status, _, _), _ = both_ways(app, client, api, refused, views_called)
    assert status == 400
    trusted = {**auth, "Host": "api.example.org"}
    (status, _, _), flask_ran = both_ways(app, client, api, trusted, views_called)
    assert (status, flask_ran) == (200, 0)


def test_the_hooks_these_lists_pass_through_in_flask_are_the_ones_fast_reads_stands_in_for(app):
    """fast_reads.py does what these hooks do for a key's GET (count, authenticate; the others do nothing
    for it). A hook added to the API must be weighed there too: this test names them all."""
    with app.test_request_context("/api/projects/1/evaluations/"):
        from flask import request

        blueprints = request.blueprints
    before = [
        function.__qualname__
        for name in (None, *reversed(blueprints))
        for function in app.before_request_funcs.get(name, ())
    ]
    after = [
        function.__qualname__
        for name in (None, *blueprints)
        for function in app.after_request_funcs.get(name, ())
    ]
    assert before == ["CSRFProtect.init_app.<locals>.csrf_protect", "Throttle.check", "authenticate"]
    assert after == ["LoginManager._update_remember_cookie", "init_app.<locals>.vary_on_htmx"]
    assert [function.__qualname__ for function in app.teardown_appcontext_funcs] == [
        "SQLAlchemy._teardown_session",
        "end",
    ]
    assert not any(app.teardown_request_funcs.values())
    assert not any(app.url_value_preprocessors.get(name) for name in (None, *blueprints))
