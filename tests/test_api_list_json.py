"""The API's lists read the database driver's values straight into JSON (api/driver_values.py): each list
answers the very bytes that serializing its rows' ORM objects gives, also for values the fast path must
hand over as they are: integers beyond 64 bits and lone surrogates stored before the input checks, text
beyond ASCII, numbers stored alone in a JSON column, datetimes with and without a fraction."""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from webapp.api import serializers
from webapp.extensions import db
from webapp.models import Evaluation, Release, SymbolSet, User

from .test_api_symbol_sets import insert_set

LONG = 10**30
# The JSON module's text of values the API refuses today but accepted once.
LONG_CONDITIONS = (
    '[{"id": "a", "rollout_percentage": 100, "properties": '
    f'[{{"key": "n", "value": {LONG}, "operator": "exact", "type": "event"}}]}}]'
)
SURROGATE_CONDITIONS = '[{"id": "s\\ud800", "properties": [{"key": "k\\udfff", "value": "v"}]}]'
LIST_OF = {
    "evaluations": (Evaluation, serializers.evaluation),
    "error_tracking/symbol_sets": (SymbolSet, serializers.symbol_set),
    "error_tracking/releases": (Release, serializers.release),
}


def listed(app, client, auth, project_id, path, **params) -> bytes:
    """A list's body, checked to be what serializing each listed row's ORM object gives."""
    response = client.get(f"/api/projects/{project_id}/{path}/", headers=auth, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.json
    assert page["results"], path
    model, serialize = LIST_OF[path]
    with app.app_context():
        objects = [by_id(model, row["id"]) for row in page["results"]]
        expected = app.json.response({**page, "results": [serialize(item) for item in objects]}).get_data()
        db.session.remove()
    assert response.get_data() == expected, path
    return response.get_data()


def by_id(model, item_id: str):
    return db.session.scalar(select(model).where(model.id == uuid.UUID(item_id)))


def store(app, statement: str, **params) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text(statement), params)
        db.session.remove()


def sqlite(app) -> bool:
    with app.app_context():
        return db.engine.dialect.name == "sqlite"


def test_evaluations_list_as_their_objects_serialize(app, client, auth, project_id, user_id):
    api = f"/api/projects/{project_id}/evaluations/"
    ids = [
        client.post(api, json=body, headers=auth).json["id"]
        for body in (
            {"name": "plain", "prompt": "p"},
            {"name": "é ✓ 𝄞 beyond ASCII", "prompt": "p", "enabled": False},
            {"name": "long", "prompt": "p"},
            {"name": "surrogate", "prompt": "p"},
        )
    ]
    plain, unicode, long, surrogate = ids
    with app.app_context():
        item = by_id(Evaluation, plain)
        item.created_at = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)  # no fraction: isoformat leaves it out
        db.session.get(User, user_id).hedgehog_config = {"use_as_profile": True, "color": "blue"}
        db.session.commit()
        db.session.remove()

    body = listed(app, client, auth, project_id, "evaluations", id__in=f"{plain},{unicode}")
    assert b'"2025-03-01T12:00:00Z"' in body and "é ✓ 𝄞".encode() in body  # orjson writes UTF-8

    store(
        app,
        "UPDATE evaluations SET conditions = :c WHERE id = :id",
        c=LONG_CONDITIONS,
        id=uuid.UUID(long).hex,
    )
    body = listed(app, client, auth, project_id, "evaluations", id__in=f"{long},{unicode}")
    # orjson cannot write the integer: the page is Flask's JSON, non-ASCII as \u escapes, as ever.
    assert str(LONG).encode() in body and b"\\u00e9" in body

    store(
        app,
        "UPDATE evaluations SET conditions = :c WHERE id = :id",
        c=SURROGATE_CONDITIONS,
        id=uuid.UUID(surrogate).hex,
    )
    body = listed(app, client, auth, project_id, "evaluations", id__in=f"{surrogate},{plain}")
    assert b'"s\\ud800"' in body

    if sqlite(app):
        # Datetimes SQLAlchemy did not write (e.g. by hand): read as SQLAlchemy reads them.
        store(
            app,
            "UPDATE evaluations SET updated_at = '2025-03-01 12:00:00', created_at = '2025-03-01 12:00:00.5'"
            " WHERE id = :id",
            id=uuid.UUID(plain).hex,
        )
        body = listed(app, client, auth, project_id, "evaluations", id__in=plain)
        assert b'"updated_at":"2025-03-01T12:00:00Z"' in body
    listed(app, client, auth, project_id, "evaluations", limit=3, offset=1, order_by="name")


@pytest.mark.parametrize(
    "metadata",
    [{"git": {"branch": "main"}}, {"build": LONG, "name": "é"}, 42, 1.5, "nightly", True, None, []],
    ids=repr,
)
def test_releases_and_symbol_sets_list_as_their_objects_serialize(app, client, auth, project_id, metadata):
    et = f"/api/projects/{project_id}/error_tracking"
    release = client.post(
        f"{et}/releases/", json={"version": "1.0", "project": "web", "metadata": metadata}, headers=auth
    ).json
    assert release["metadata"] == metadata
    with app.app_context():
        item = by_id(Release, release["id"])
        item.created_at = datetime(2025, 3, 1, 12, 0, 0, 250, tzinfo=UTC)
        db.session.commit()
        db.session.remove()
    release_id = uuid.UUID(release["id"])
    insert_set(app, project_id, "pending", release_id=release_id)
    insert_set(
        app,
        project_id,
        "uploaded",
        release_id=release_id,
        storage_ptr="symbolsets/key",
        content_hash="ab" * 64,
        size_bytes=2**40,
        last_used=datetime(2025, 3, 2, tzinfo=UTC),
    )
    insert_set(app, project_id, "failed ✗", failure_reason="bad map")
    listed(app, client, auth, project_id, "error_tracking/releases")
    body = listed(app, client, auth, project_id, "error_tracking/symbol_sets")
    assert body.count(b'"created_at":"2025-03-01T12:00:00.000250Z"') == 2


def test_a_lone_surrogate_in_a_release_lists_as_before(app, client, auth, project_id):
    et = f"/api/projects/{project_id}/error_tracking"
    release = client.post(f"{et}/releases/", json={"version": "é", "project": "web"}, headers=auth).json
    store(
        app,
        "UPDATE releases SET metadata = :m WHERE id = :id",
        m='{"tag": "x\\ud800"}',
        id=uuid.UUID(release["id"]).hex,
    )
    insert_set(app, project_id, "set", release_id=uuid.UUID(release["id"]))
    for path in ("error_tracking/releases", "error_tracking/symbol_sets"):
        assert b'"x\\ud800"' in listed(app, client, auth, project_id, path)
