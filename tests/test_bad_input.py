"""Every route fed the input that used to crash it: lone surrogates, NUL, NaN/Infinity, non-ASCII and
huge digit strings, deep JSON. The API answers 400 in PostHog's shape naming the field; the web forms
show the form again with the message; nothing is a 500 and nothing bad is stored.

Each test walks one route through every bad value and collects what went wrong, so one failure report
lists every field that misbehaves (and the suite does not pay a fixture per request).
"""

import json
import re

import pytest
from markupsafe import escape

from webapp.extensions import db
from webapp.models import Evaluation, Release, SymbolSet
from webapp.services import validation

SURROGATE = "a\ud800b"  # what the JSON text "a\ud800b" decodes to
NUL = "a\x00b"
BAD_TEXT = {"lone surrogate": SURROGATE, "NUL": NUL}
NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999")
# What int(), float(), str.isdigit() or uuid.UUID() accept but a strict ASCII parser must not.
BAD_INTEGERS = ("²", "٣", "１", " 7 ", "1_000", "1.0", "9" * 5000, "7\x00")
ARABIC_UUID = "٣" * 32  # uuid.UUID() reads this as 33333333-3333-...
HASH = "a" * 128


def deep(levels: int):
    value = "x"
    for _ in range(levels):
        value = [value]
    return value


# --- the API ------------------------------------------------------------------------------


@pytest.fixture
def world(app, client, auth, project_id):
    """An evaluation, a release and a pending symbol set to aim the requests at."""
    base = f"/api/environments/{project_id}"
    evaluation = client.post(f"{base}/evaluations/", json={"name": "n", "prompt": "p"}, headers=auth)
    release = client.post(
        f"{base}/error_tracking/releases/", json={"version": "1", "project": "web"}, headers=auth
    )
    started = client.post(
        f"{base}/error_tracking/symbol_sets/bulk_start_upload/",
        json={"symbol_sets": [{"chunk_id": "existing"}]},
        headers=auth,
    )
    assert (evaluation.status_code, release.status_code, started.status_code) == (201, 201, 201)
    return {
        "base": base,
        "evaluation": evaluation.json["id"],
        "release": release.json["id"],
        "set": started.json["id_map"]["existing"]["symbol_set_id"],
    }


EVALUATION = {
    "name": "n",
    "description": "d",
    "prompt": "p",
    "enabled": "true",
    "conditions": [
        {
            "id": "s1",
            "rollout_percentage": 50,
            "properties": [
                {"key": "k", "value": "v", "operator": "exact", "type": "event"},
                {"key": "k2", "value": ["a", 2], "operator": "exact", "type": "person"},
            ],
        }
    ],
}
START = {
    "symbol_sets": [{"chunk_id": "c1", "release_id": "{release}", "content_hash": HASH}],
    "force": "false",
    "skip_on_conflict": False,
}
BODY_ROUTES = {
    "create evaluation": ("POST", "/evaluations/", EVALUATION),
    "patch evaluation": ("PATCH", "/evaluations/{evaluation}/", EVALUATION),
    "put evaluation": ("PUT", "/evaluations/{evaluation}/", EVALUATION),
    "bulk start": ("POST", "/error_tracking/symbol_sets/bulk_start_upload/", START),
    "bulk check": ("POST", "/error_tracking/symbol_sets/bulk_check_upload/", START),
    "legacy start": (
        "POST",
        "/error_tracking/symbol_sets/bulk_start_upload/",
        {"chunk_ids": ["c1", "c2"], "release_id": "{release}"},
    ),
    "bulk finish": (
        "POST",
        "/error_tracking/symbol_sets/bulk_finish_upload/",
        {"content_hashes": {"{set}": HASH}},
    ),
    "finish one": ("PUT", "/error_tracking/symbol_sets/{set}/finish_upload/", {"content_hash": HASH}),
    "bulk delete": ("POST", "/error_tracking/symbol_sets/bulk_delete/", {"ids": ["{set}"]}),
    "create release": (
        "POST",
        "/error_tracking/releases/",
        {"version": "2", "project": "web", "hash_id": "h", "metadata": {"commit": "c", "tags": ["t"]}},
    ),
}


def _fill(value, world):
    """The template body with the world's ids put in (keys too)."""
    if isinstance(value, dict):
        return {_fill(key, world): _fill(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, world) for item in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return world[value[1:-1]]
    return value


def _leaves(value, path=()):
    """Every (path, value) of a scalar in a JSON tree."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _replaced(body, path, new):
    body = json.loads(json.dumps(body))
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return body


def _attr(path) -> str:
    return "__".join(map(str, path))


def _send(client, auth, method, url, raw: str):
    return client.open(url, method=method, data=raw, content_type="application/json", headers=auth)


def _problem(response, *, status=400, type_=None, code=None, attr=...) -> str | None:
    """What is wrong with an error response, or None."""
    if response.status_code != status:
        return f"status {response.status_code}: {response.get_data(as_text=True)[:200]}"
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"type", "code", "detail", "attr"}:
        return f"not the error shape: {response.get_data(as_text=True)[:200]}"
    for name, expected in (("type", type_), ("code", code)):
        if expected is not None and body[name] != expected:
            return f"{name} {body[name]!r}, expected {expected!r}: {body}"
    if attr is not ... and body["attr"] != attr:
        return f"attr {body['attr']!r}, expected {attr!r}: {body}"
    return None


def _stored_rows(app) -> int:
    with app.app_context():
        count = sum(
            db.session.scalar(db.select(db.func.count()).select_from(model))
            for model in (Evaluation, Release, SymbolSet)
        )
        db.session.remove()
        return count


@pytest.mark.parametrize("route", list(BODY_ROUTES))
def test_every_json_field_refuses_text_no_database_stores(app, client, auth, world, route):
    method, path, template = BODY_ROUTES[route]
    url = world["base"] + path.format(**world)
    body = _fill(template, world)
    before = _stored_rows(app)
    failures = []
    for leaf, value in _leaves(body):
        if not isinstance(value, str):
            continue
        for label, bad in BAD_TEXT.items():
            response = _send(client, auth, method, url, json.dumps(_replaced(body, leaf, bad)))
            problem = _problem(response, type_="validation_error")
            attr = (response.get_json(silent=True) or {}).get("attr") or ""
            names = {part for part in leaf if isinstance(part, str)}
            if problem is None and not names & set(attr.split("__")):
                problem = f"attr {attr!r} does not name the field"
            if problem:
                failures.append(f"{_attr(leaf)} = {label}: {problem}")
    assert not failures, "\n".join(failures)
    assert _stored_rows(app) == before


@pytest.mark.parametrize("route", list(BODY_ROUTES))
def test_every_json_value_refuses_nan_and_infinity_at_its_path(app, client, auth, world, route):
    method, path, template = BODY_ROUTES[route]
    url = world["base"] + path.format(**world)
    body = _fill(template, world)
    before = _stored_rows(app)
    failures = []
    for leaf, _ in _leaves(body):
        for literal in NON_FINITE:
            raw = json.dumps(_replaced(body, leaf, "@BAD@")).replace('"@BAD@"', literal)
            response = _send(client, auth, method, url, raw)
            problem = _problem(response, type_="invalid_request", code="parse_error", attr=_attr(leaf))
            if problem is None and literal.lstrip("-") not in response.json["detail"]:
                problem = f"the detail does not name {literal}: {response.json['detail']}"
            if problem:
                failures.append(f"{_attr(leaf)} = {literal}: {problem}")
    assert not failures, "\n".join(failures)
    assert _stored_rows(app) == before


@pytest.mark.parametrize("route", list(BODY_ROUTES))
def test_deep_or_huge_json_is_a_parse_error(app, client, auth, world, route):
    method, path, template = BODY_ROUTES[route]
    url = world["base"] + path.format(**world)
    body = _fill(template, world)
    leaf, _ = next(iter(_leaves(body)))
    cases = {
        "33 levels": (json.dumps(_replaced(body, leaf, deep(validation.MAX_JSON_DEPTH + 1))), 400),
        "100000 levels": ("[" * 100_000 + "]" * 100_000, 400),
        "5000-digit number": (json.dumps(_replaced(body, leaf, "@")).replace('"@"', "9" * 5000), 400),
        "2 MiB": (json.dumps(_replaced(body, leaf, "x" * 2 * 1024 * 1024)), 413),
    }
    failures = []
    for label, (raw, status) in cases.items():
        code = "parse_error" if status == 400 else None
        problem = _problem(_send(client, auth, method, url, raw), status=status, code=code)
        if problem:
            failures.append(f"{label}: {problem}")
    assert not failures, "\n".join(failures)


def test_form_encoded_api_bodies_refuse_nul_and_nan_conditions(app, client, auth, world):
    url = world["base"] + "/evaluations/"
    cases = {
        "name": ({"name": NUL, "prompt": "p"}, "name"),
        "conditions NaN": ({"name": "n", "prompt": "p", "conditions": '[{"rollout_percentage": NaN}]'}, None),
        "conditions NUL": (
            {
                "name": "n",
                "prompt": "p",
                "conditions": '[{"properties": [{"key": "k", "value": "a\\u0000"}]}]',
            },
            "conditions__0__properties__0__value",
        ),
    }
    failures = []
    for label, (form, attr) in cases.items():
        response = client.post(url, data=form, headers=auth)
        problem = _problem(response, type_="validation_error")
        if problem is None and attr and response.json["attr"] != attr:
            problem = f"attr {response.json['attr']}"
        if problem is None and not attr and not response.json["attr"].startswith("conditions"):
            problem = f"attr {response.json['attr']}"
        if problem:
            failures.append(f"{label}: {problem}")
    assert not failures, "\n".join(failures)
    assert _stored_rows(app) == 3


LIST_ROUTES = {
    "evaluations": ("/evaluations/", ("enabled", "id__in", "search", "order_by")),
    "symbol sets": ("/error_tracking/symbol_sets/", ("status", "ref", "search", "order_by")),
    "releases": ("/error_tracking/releases/", ("order_by",)),
}


@pytest.mark.parametrize("route", list(LIST_ROUTES))
def test_every_query_parameter_refuses_bad_values(client, auth, world, route):
    path, filters = LIST_ROUTES[route]
    cases = [(name, value) for name in ("limit", "offset") for value in BAD_INTEGERS]
    cases += [(name, NUL) for name in filters]
    cases += [(name, "²") for name in filters if name not in ("search", "ref")]
    if "id__in" in filters:
        cases += [("id__in", ARABIC_UUID), ("id__in", f"{world['evaluation']},{ARABIC_UUID}")]
    failures = []
    for name, value in cases:
        response = client.get(world["base"] + path, query_string={name: value}, headers=auth)
        problem = _problem(response, type_="validation_error", attr=name)
        if problem:
            failures.append(f"{name}={value[:20]!r}: {problem}")
    assert not failures, "\n".join(failures)


def test_path_parameters_never_crash(client, auth, world, project_id):
    base = world["base"]
    not_found = {"type": "invalid_request", "code": "not_found", "detail": "Not found.", "attr": None}
    failures = []
    for value in ("a%00b", "%00", "²", "٣", "9" * 5000, ARABIC_UUID, "%ED%A0%80"):
        for path in (
            f"/api/environments/{value}/evaluations/",
            f"/api/projects/{value}/error_tracking/symbol_sets/",
        ):
            response = client.get(path, headers=auth)
            if response.status_code != 404 or response.json["detail"] != "Project not found.":
                failures.append(
                    f"{path[:60]}: {response.status_code} {response.get_data(as_text=True)[:100]}"
                )
        for path in (
            f"{base}/evaluations/{value}/",
            f"{base}/error_tracking/symbol_sets/{value}/",
            f"{base}/error_tracking/symbol_sets/{value}/download/",
            f"{base}/error_tracking/releases/{value}/",
        ):
            response = client.get(path, headers=auth)
            if response.status_code != 404 or response.json != not_found:
                failures.append(
                    f"{path[:60]}: {response.status_code} {response.get_data(as_text=True)[:100]}"
                )
    for value in ("a%00b", "%00"):
        response = client.get(f"{base}/error_tracking/releases/hash/{value}/", headers=auth)
        problem = _problem(response, type_="validation_error", attr="hash_id")
        if problem:
            failures.append(f"hash/{value}: {problem}")
    assert not failures, "\n".join(failures)


def test_deprecated_start_upload_query_refuses_bad_values(client, auth, world):
    url = world["base"] + "/error_tracking/symbol_sets/start_upload/"
    cases = [
        ({"chunk_id": NUL}, "invalid_chunk_ids", "chunk_id"),
        ({"chunk_id": "c", "release_id": ARABIC_UUID}, "invalid_release_id", "release_id"),
        ({"chunk_id": "c", "release_id": NUL}, "invalid_release_id", "release_id"),
    ]
    failures = []
    for query, code, attr in cases:
        problem = _problem(client.post(url, query_string=query, headers=auth), code=code, attr=attr)
        if problem:
            failures.append(f"{query}: {problem}")
    assert not failures, "\n".join(failures)


def test_a_key_no_database_stores_is_simply_not_a_key(client, world, project_id):
    url = world["base"] + "/evaluations/"
    for response in (
        client.post(url, data=json.dumps({"personal_api_key": SURROGATE}), content_type="application/json"),
        client.get(url, query_string={"personal_api_key": NUL}),
        client.post(url, data={"personal_api_key": NUL}),
    ):
        assert _problem(response, status=401, code="authentication_failed") is None


# --- the web forms ------------------------------------------------------------------------


def _form_problem(response, message: str, statuses=(400, 422)) -> str | None:
    html = response.get_data(as_text=True)
    if response.status_code not in statuses:
        return f"status {response.status_code}"
    if message not in html:
        return f"the page does not say {message!r}"
    if "<form" not in html:
        return "no form to correct"
    return None


@pytest.fixture
def evaluation_page(client, logged_in, world, project_id):
    """The edit form's URL and the fields it posts, as the browser sends them."""
    url = f"/project/{project_id}/evaluations/{world['evaluation']}/edit"
    html = client.get(url).get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', html).group(1)
    fields = {
        "csrf_token": logged_in,
        "version": version,
        "name": "n",
        "prompt": "p",
        "conditions-0-id": "s1",
        "conditions-0-rollout_percentage": "50",
        "conditions-0-properties-0-key": "k",
        "conditions-0-properties-0-value": "v",
        "conditions-0-properties-0-operator": "exact",
        "conditions-0-properties-0-type": "event",
    }
    return url, fields


def test_evaluation_forms_show_the_message_for_every_bad_value(app, client, evaluation_page, project_id):
    edit_url, fields = evaluation_page
    damaged = "The form was damaged"
    cases = [
        ({"version": "²"}, damaged),
        ({"version": "9" * 5000}, damaged),
        ({"enabled": "maybe"}, damaged),
        ({"editor": "remove_set:²"}, damaged),
        ({"editor": "remove_set:" + "9" * 5000}, damaged),
        ({"editor": "remove_property:0"}, damaged),
        ({"editor": "explode"}, damaged),
        ({"conditions-" + "9" * 5000 + "-id": "x"}, damaged),
        ({"conditions-٣-id": "x"}, damaged),
        ({"conditions-0-properties-" + "9" * 5000 + "-key": "x"}, damaged),
        ({"name": NUL}, "null characters"),
        ({"prompt": NUL}, "null characters"),
        ({"description": NUL}, "null characters"),
        ({"conditions-0-id": NUL}, "null characters"),
        ({"conditions-0-properties-0-key": NUL}, "null characters"),
        ({"conditions-0-properties-0-value": NUL}, "null characters"),
        ({"conditions-0-properties-0-value": f"x, {NUL}"}, "null characters"),
        ({"conditions-0-properties-0-operator": NUL}, "not a valid operator"),
        ({"conditions-0-rollout_percentage": "٣"}, "Rollout percentage must be a number"),
        ({"conditions-0-rollout_percentage": "1_0"}, "Rollout percentage must be a number"),
        ({"conditions-0-rollout_percentage": "NaN"}, "Rollout percentage must be a number"),
        ({"conditions-0-rollout_percentage": "Infinity"}, "Rollout percentage must be a number"),
        ({"conditions-0-rollout_percentage": "1e999"}, "Rollout percentage must be a number"),
    ]
    failures = []
    for url in (edit_url, f"/project/{project_id}/evaluations/new"):
        for change, message in cases:
            response = client.post(url, data={**fields, **change})
            problem = _form_problem(response, message)
            if problem:
                failures.append(f"{url[-5:]} {str(change)[:50]}: {problem}")
    assert not failures, "\n".join(failures)
    with app.app_context():
        assert [item.name for item in db.session.scalars(db.select(Evaluation))] == ["n"]
        assert db.session.scalar(db.select(Evaluation)).conditions == []


def test_evaluation_actions_refuse_bad_values(client, logged_in, world, project_id):
    base = f"/project/{project_id}/evaluations"
    failures = []
    for value in ("²", "maybe", NUL):
        response = client.post(
            f"{base}/{world['evaluation']}/enabled", data={"csrf_token": logged_in, "enabled": value}
        )
        if response.status_code != 400 or "not a valid boolean" not in response.get_data(as_text=True):
            failures.append(f"enabled={value!r}: {response.status_code}")
    for ids in (ARABIC_UUID, NUL, "9" * 5000):
        for confirmed in ("", "1"):
            response = client.post(
                f"{base}/bulk",
                data={"csrf_token": logged_in, "action": "archive", "ids": ids, "confirmed": confirmed},
            )
            flashed = client.get(f"{base}/").get_data(as_text=True)
            if response.status_code != 303 or "is not a valid UUID" not in flashed:
                failures.append(f"bulk ids={ids[:10]!r} confirmed={confirmed!r}: {response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("page", ["evaluations/", "evaluations/archived", "symbol-sets/"])
def test_list_pages_show_the_message_for_bad_query_values(client, logged_in, project_id, page):
    cases = [("limit", value) for value in BAD_INTEGERS] + [("offset", "9" * 5000), ("search", NUL)]
    if page.startswith("evaluations"):
        cases += [("enabled", "²"), ("id__in", ARABIC_UUID)]
    else:
        cases += [("status", NUL), ("ref", NUL)]
    failures = []
    for name, value in cases:
        response = client.get(f"/project/{project_id}/{page}", query_string={name: value})
        html = response.get_data(as_text=True)
        if response.status_code != 400 or f"{name}: " not in html or "Showing the default list" not in html:
            failures.append(f"{name}={value[:20]!r}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_page_urls_take_ascii_project_ids_only(client, logged_in, project_id):
    assert project_id == 1
    assert client.get("/project/1/evaluations/").status_code == 200
    for value in ("１", "٣", "²", "9" * 5000, "1%00"):
        for page in ("evaluations/", "symbol-sets/", "evaluations/new"):
            assert client.get(f"/project/{value}/{page}").status_code == 404, (value, page)


def test_project_switch_refuses_text_that_is_not_an_id(client, logged_in, project_id):
    for value in ("²", "٣", "１", "9" * 5000, "1\x00", "", " 1"):
        response = client.post("/projects/switch", data={"csrf_token": logged_in, "project_id": value})
        assert response.status_code == 400, value
        assert "Choose a project from the list." in response.get_data(as_text=True)
    response = client.post("/projects/switch", data={"csrf_token": logged_in, "project_id": str(project_id)})
    assert response.status_code == 303


def test_settings_forms_show_the_message_for_bad_values(app, client, logged_in, project_id):
    token = {"csrf_token": logged_in}
    key = {**token, "label": "ci", "scopes": "evaluation:read"}
    cases = [
        ("/settings/api-keys", {**key, "projects": "²"}, "is not a whole number"),
        ("/settings/api-keys", {**key, "projects": "٣"}, "is not a whole number"),
        ("/settings/api-keys", {**key, "projects": "9" * 5000}, "must be 2147483647 or less"),
        ("/settings/api-keys", {**key, "projects": "0"}, "must be 1 or more"),
        ("/settings/api-keys", {**key, "label": NUL}, "null characters"),
        ("/settings/profile", {**token, "first_name": NUL, "last_name": "x"}, "null characters"),
        ("/settings/profile", {**token, "first_name": "x", "last_name": NUL}, "null characters"),
        (
            "/settings/password",
            {
                **token,
                "current_password": "x",
                "new_password": "a\x00bcdefgh",
                "confirm_password": "a\x00bcdefgh",
            },
            "null characters",
        ),
    ]
    failures = []
    for url, data, message in cases:
        if url == "/settings/password":
            data["current_password"] = "correct horse battery"
        problem = _form_problem(client.post(url, data=data), message)
        if problem:
            failures.append(f"{url} {str(data)[:60]}: {problem}")
    assert not failures, "\n".join(failures)
    assert "phx_" not in client.get("/settings/api-keys").get_data(as_text=True).replace("phx_...", "")


def test_login_refuses_an_email_no_database_stores(client, user_id):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": "ada\x00@example.com", "password": "x", "csrf_token": token}
    )
    assert _form_problem(response, "null characters", statuses=(400,)) is None


def test_symbol_set_forms_refuse_bad_ids(client, logged_in, world, project_id):
    base = f"/project/{project_id}/symbol-sets"
    for ids in (ARABIC_UUID, NUL):
        response = client.post(
            f"{base}/bulk-delete", data={"csrf_token": logged_in, "ids": ids, "confirmed": "1"}
        )
        assert response.status_code == 303
        assert "Every id must be a symbol set uuid." in client.get(f"{base}/").get_data(as_text=True)
    for value in ("%00", ARABIC_UUID, "9" * 5000):
        assert client.get(f"{base}/{value}").status_code == 404
        assert client.post(f"{base}/{value}/delete", data={"csrf_token": logged_in}).status_code == 404


def test_form_bytes_that_are_not_utf8_never_become_lone_surrogates(client, logged_in, project_id):
    # %ED%A0%80 is how UTF-8 would spell U+D800; Werkzeug keeps undecodable text as it was sent.
    body = f"csrf_token={logged_in}&name=%ED%A0%80%FF&prompt=p".encode()
    response = client.post(
        f"/project/{project_id}/evaluations/new", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "%ED%A0%80%FF" in page.get_data(as_text=True)


# --- the commands -------------------------------------------------------------------------


def test_commands_refuse_text_no_database_stores(run, app, user_id, project_id):
    from tests.conftest import assert_clean_error

    surrogate_email = "\udcffada@example.com"  # what Python makes of a non-UTF-8 argv byte
    cases = [
        (
            ("users", "create", surrogate_email, "--password", "long enough", "--organization", "O"),
            "valid email",
        ),
        (("users", "create", "b@example.com", "--password", "long enough", "--organization", NUL), "null"),
        (
            ("users", "create", "b@example.com", "--password", "long \udcff enough", "--organization", "O"),
            "surrogate",
        ),
        (
            ("users", "create", "b@example.com", "--password", "long enough", "--organization", "O" * 201),
            "200",
        ),
        (("keys", "create", "ada@example.com", "--scopes", "*", "--label", NUL), "null"),
        (("keys", "create", surrogate_email, "--scopes", "*"), "surrogate"),
        (("keys", "create", "ada@example.com", "--scopes", "*", "--projects", "٣"), "is not a project id"),
        (
            ("keys", "create", "ada@example.com", "--scopes", "*", "--projects", "9" * 5000),
            "is not a project id",
        ),
        (("symbol-sets", "mark-failed", "²", "ref", "--reason", "r"), "is not a project id"),
        (("symbol-sets", "mark-failed", "9" * 30, "ref", "--reason", "r"), "is not a project id"),
        (("symbol-sets", "mark-failed", str(project_id), NUL, "--reason", "r"), "null"),
        (("seed-demo", "--evaluations", "٣"), "is not a count"),
        (("seed-demo", "--symbol-sets", "1_0"), "is not a count"),
        (("symbol-sets", "expire-pending", "--grace-minutes", "²"), "is not a number of minutes"),
        (("symbol-sets", "mark-failed", str(project_id), "ref", "--reason", "\udcff"), "surrogate"),
    ]
    for args, message in cases:
        result = run(*args)
        exit_code = 2 if message.startswith("is not") else 1
        assert_clean_error(result, message, exit_code=exit_code)
    assert _stored_rows(app) == 0


# --- the safety net -----------------------------------------------------------------------


def test_a_domain_error_no_view_handled_is_its_message_not_a_500(app):
    """Any ValidationError that escapes a page is a 400 page with its message; under /api the error shape."""
    from webapp import create_app
    from webapp.services.errors import Conflict, NotFound, PermissionDenied, ValidationError

    keys = ("TESTING", "SECRET_KEY", "STORAGE_URL", "DATABASE_URL", "SQLALCHEMY_ENGINE_OPTIONS")
    other = create_app({key: app.config[key] for key in keys})
    errors = {
        "invalid": (ValidationError("limit", "invalid", "Bad <limit>."), 400),
        "missing": (NotFound("No such <thing>."), 404),
        "denied": (PermissionDenied("Not <yours>."), 403),
        "stale": (Conflict("Changed <meanwhile>.", code="stale"), 409),
    }

    def raises(kind):
        raise errors[kind][0]

    other.add_url_rule("/raises/<kind>", view_func=raises)
    other.add_url_rule("/api/raises/<kind>", "api_raises", view_func=raises)
    client = other.test_client()
    try:
        for kind, (error, status) in errors.items():
            page = client.get(f"/raises/{kind}")
            assert page.status_code == status, kind
            assert page.mimetype == "text/html"
            assert str(escape(error.detail)) in page.get_data(as_text=True)
            answer = client.get(f"/api/raises/{kind}")
            assert answer.status_code == status, kind
            assert answer.json["detail"] == error.detail
        assert client.get("/api/raises/invalid").json["attr"] == "limit"
    finally:
        with other.app_context():
            db.engine.dispose()


def test_a_content_length_that_is_not_ascii_digits_announces_no_body():
    from webapp.body_timeout import body_length

    assert body_length({"CONTENT_LENGTH": "12"}) == 12
    for value in ("²", "1_0", " 7", "9" * 5000, "-1", ""):
        assert body_length({"CONTENT_LENGTH": value}) == 0, value


def test_environment_settings_are_strict_too():
    from webapp.config import parse_boolean, parse_count, parse_number

    assert (parse_count("N", " 2 "), parse_number("S", "0.5"), parse_boolean("B", "Yes")) == (2, 0.5, True)
    for parse, bad in (
        (parse_count, ("²", "٣", "1_0", "1000", "-1", "", "9" * 5000)),
        (parse_number, ("nan", "inf", "1e999", "1_0", "٣", "-1", "")),
        (parse_boolean, ("ture", "²", "")),
    ):
        for text in bad:
            with pytest.raises(RuntimeError, match="must be"):
                parse("NAME", text)
