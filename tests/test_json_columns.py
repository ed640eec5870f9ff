"""JSON columns store canonical text behind a mark, which the API's lists embed without parsing; texts
without the mark (rows written before, or by hand) are parsed as before (json_columns.py)."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from webapp import json_columns
from webapp.extensions import db
from webapp.models import User

from .conftest import stored_json_texts
from .test_api_list_json import listed, store

VALUES = [
    {"b": [1, 2.5, None], "a": {"z": True, "y": "é ✓ 𝄞"}, "é": '\u2028 \x01 "quoted" \\'},
    [{"id": "x", "rollout_percentage": 100, "properties": []}],
    [],
    {},
    "nightly",
    42,
    -(2**63),
    2**64 - 1,
    1.5,
    1e-7,
    True,
    None,
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_value_is_stored_marked_as_the_api_writes_it_and_reads_back_the_same(app, value):
    stored = json_columns.dump(value)
    assert stored.startswith(json_columns.MARK) and not stored[1:].startswith(" ")
    assert stored[1:].encode() + b"\n" == app.json.encode(value)  # the response's very bytes
    assert json_columns.load(stored) == json.loads(stored) == value
    assert json_columns.stored(stored).text == stored[1:]


@pytest.mark.parametrize(
    "value",
    [{1: "int key"}, 2**64, 10**30, "lone \ud800", {"x": [None, float("nan")]}, -float("inf")],
    ids=repr,
)
def test_a_value_orjson_cannot_write_is_stored_by_the_json_module_unmarked(value):
    stored = json_columns.dump(value)
    assert stored == json.dumps(value)
    assert repr(json_columns.stored(stored)) == repr(json.loads(stored))


def test_datetimes_are_refused_as_before():
    """orjson would write them as text; the json module refuses them, and so does dump."""
    for value in (datetime(2025, 1, 1, tzinfo=UTC), {"when": [datetime(2025, 1, 1)]}):
        with pytest.raises(TypeError):
            json_columns.dump(value)


def stored_texts(app, table: str, column: str) -> list:
    """The column's texts as stored (conftest.stored_json_texts)."""
    with app.app_context(), db.engine.connect() as connection:
        return list(stored_json_texts(connection, table, "id", column).values())


def test_api_writes_store_marked_canonical_text_on_both_databases(app, client, auth, project_id, user_id):
    conditions = [{"rollout_percentage": 50, "properties": [{"key": "$browser", "value": "é"}]}]
    created = client.post(
        f"/api/projects/{project_id}/evaluations/",
        json={"name": "n", "prompt": "p", "conditions": conditions},
        headers=auth,
    ).json
    release = client.post(
        f"/api/projects/{project_id}/error_tracking/releases/",
        json={"version": "1", "project": "web", "metadata": {"git": {"sha": "abc", "branch": "main"}}},
        headers=auth,
    ).json
    with app.app_context():
        db.session.get(User, user_id).hedgehog_config = {"use_as_profile": True, "color": "blue"}
        db.session.commit()
        db.session.remove()

    [stored_conditions] = stored_texts(app, "evaluations", "conditions")
    assert stored_conditions == " " + json.dumps(
        created["conditions"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert stored_texts(app, "releases", "metadata") == [' {"git":{"branch":"main","sha":"abc"}}']
    assert stored_texts(app, "users", "hedgehog_config") == [' {"color":"blue","use_as_profile":true}']
    assert release["metadata"] == {"git": {"sha": "abc", "branch": "main"}}


def test_lists_embed_marked_texts_without_parsing_them(app, client, auth, project_id, user_id, monkeypatch):
    api = f"/api/projects/{project_id}"
    client.post(
        f"{api}/evaluations/",
        json={"name": "n", "prompt": "p", "conditions": [{"rollout_percentage": 5, "properties": []}]},
        headers=auth,
    )
    client.post(
        f"{api}/error_tracking/releases/",
        json={"version": "1", "project": "w", "metadata": {"k": 1}},
        headers=auth,
    )
    with app.app_context():
        db.session.get(User, user_id).hedgehog_config = {"color": "blue"}
        db.session.commit()
        db.session.remove()

    def refuse(text):
        raise AssertionError(f"parsed {text!r}")

    monkeypatch.setattr(json_columns, "load", refuse)
    evaluations = client.get(f"{api}/evaluations/", headers=auth)
    assert (
        b'"conditions":[{"id":"' in evaluations.data
        and b'"hedgehog_config":{"color":"blue"}' in evaluations.data
    )
    releases = client.get(f"{api}/error_tracking/releases/", headers=auth)
    assert b'"metadata":{"k":1}' in releases.data
    # Through Flask's own route too (the key in the query string is not the fast path's).
    key = auth["Authorization"].removeprefix("Bearer ")
    assert client.get(f"{api}/evaluations/", query_string={"personal_api_key": key}).data == evaluations.data
    monkeypatch.undo()
    listed(app, client, auth, project_id, "evaluations")
    listed(app, client, auth, project_id, "error_tracking/releases")


def test_unmarked_texts_beside_marked_ones_list_as_their_objects_serialize(app, client, auth, project_id):
    """A row written before the mark (the json module's spaces and insertion order) on one page with
    marked rows: the page, encoded by orjson, is what serializing the ORM objects gives."""
    api = f"/api/projects/{project_id}/evaluations/"
    old, new = (
        client.post(api, json={"name": name, "prompt": "p"}, headers=auth).json["id"] for name in "ab"
    )
    store(
        app,
        "UPDATE evaluations SET conditions = :c WHERE id = :id",
        c='[{"rollout_percentage": 100, "id": "legacy", "properties": [{"value": "\\u00e9", "key": "k"}]}]',
        id=uuid.UUID(old).hex,
    )
    body = listed(app, client, auth, project_id, "evaluations", id__in=f"{old},{new}")
    assert '"properties":[{"key":"k","value":"é"}],"rollout_percentage":100'.encode() in body
