"""Every /api route answers a method it does not serve with a 405 in the error shape, with Allow.

The walk covers the rules the app has, so a route added later is checked without a new test.
"""

import re
import uuid

import pytest

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_VARIABLE = re.compile(r"<(?:[^>:]+:)?(\w+)>")


def concrete(rule: str, project_id: int) -> str:
    """The rule's path with a value for each variable (an unknown id: the router decides alone)."""
    values = {"project_id": str(project_id), "hash_id": "some-hash"}
    return _VARIABLE.sub(lambda m: values.get(m.group(1), str(uuid.uuid4())), rule)


def api_routes(app) -> dict[str, set[str]]:
    """Each /api rule's text and the methods its rules serve together."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            routes.setdefault(rule.rule, set()).update(rule.methods)
    return routes


def assert_method_not_allowed(response, method, allowed):
    assert response.status_code == 405, (method, response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    assert response.json == {
        "type": "invalid_request",
        "code": "method_not_allowed",
        "detail": f'Method "{method}" not allowed.',
        "attr": None,
    }
    assert response.headers["Allow"] == ", ".join(sorted(allowed))


def test_every_api_route_answers_a_wrong_method_with_405(app, client, auth, project_id):
    routes = api_routes(app)
    assert len(routes) > 20  # both prefixes, with and without the slash
    checked = 0
    for rule, allowed in sorted(routes.items()):
        path = concrete(rule, project_id)
        for method in METHODS:
            if method in allowed:
                continue
            response = client.open(path, method=method, headers=auth, json={})
            assert_method_not_allowed(response, method, allowed)
            checked += 1
    assert checked > 50


ACTIONS = [
    ("GET", "symbol_sets/bulk_start_upload/", {"OPTIONS", "POST"}),
    ("GET", "symbol_sets/bulk_finish_upload/", {"OPTIONS", "POST"}),
    ("GET", "symbol_sets/bulk_check_upload/", {"OPTIONS", "POST"}),
    ("GET", "symbol_sets/bulk_delete/", {"OPTIONS", "POST"}),
    ("DELETE", "symbol_sets/bulk_delete/", {"OPTIONS", "POST"}),
    ("GET", "symbol_sets/start_upload/", {"OPTIONS", "POST"}),
    ("POST", "symbol_sets/{id}/download/", {"GET", "HEAD", "OPTIONS"}),
    ("GET", "symbol_sets/{id}/finish_upload/", {"OPTIONS", "PUT"}),
]


@pytest.mark.parametrize("slash", ["/", ""])
@pytest.mark.parametrize("prefix", ["environments", "projects"])
@pytest.mark.parametrize(("method", "path", "allowed"), ACTIONS)
def test_a_wrong_method_on_an_action_is_405_not_a_lookup(
    client, auth, project_id, prefix, slash, method, path, allowed
):
    """`GET .../bulk_start_upload/` used to reach retrieve with the id "bulk_start_upload" (404)."""
    url = f"/api/{prefix}/{project_id}/error_tracking/" + path.format(id=uuid.uuid4())
    url = url.rstrip("/") + slash
    assert_method_not_allowed(client.open(url, method=method, headers=auth), method, allowed)
    # The router answers before authentication, as for every other wrong method.
    assert_method_not_allowed(client.open(url, method=method), method, allowed)


def test_names_that_are_not_actions_still_reach_the_object(client, auth, project_id):
    base = f"/api/environments/{project_id}/error_tracking/"
    for path in ("symbol_sets/not-an-action/", "symbol_sets/bulk_start/", "releases/bulk_start_upload/"):
        response = client.get(base + path, headers=auth)
        assert response.status_code == 404, path
        assert response.json["code"] == "not_found"
    assert client.get(base + "symbol_sets/not-an-action/").status_code == 401  # looked up: auth first
