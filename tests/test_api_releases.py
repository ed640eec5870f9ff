"""Releases as PostHog's full viewset serves them: update (PUT, PATCH) and delete."""

import threading
import uuid

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Release, SymbolSet
from webapp.services import accounts, releases, symbol_uploads

from .conftest import assert_api_list_queries, count_statements
from .test_api_symbol_sets import (
    NOT_FOUND,
    ErrorTracking,
    assert_error,
    assert_validation,
    insert_release,
    insert_set,
)


@pytest.fixture
def et(client, auth, project_id):
    return ErrorTracking(client, auth, project_id)


@pytest.fixture
def other_project_id(app, make_user):
    other = make_user("eve@example.com", organization="Elsewhere Inc")
    with app.app_context():
        return accounts.resolve_project(accounts.get_user(other), "@current").id


def create(et, **fields):
    body = {"version": "1.0.0", "project": "web", "metadata": {"git": {"branch": "main"}}, **fields}
    response = et.post("releases", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def send(et, method, release_id, body, slash="/"):
    url = et.url(f"releases/{release_id}{slash}")
    return getattr(et.client, method)(url, headers=et.headers, json=body)


def retrieve(et, release_id):
    response = et.get(f"releases/{release_id}/")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- list -------------------------------------------------------------------------------------


def test_list_costs_the_same_statements_for_1_row_as_for_100(app, et):
    """The key with its user and the project, the page, and the count when the page is full: three statements
    at most, whatever the size."""
    create(et, version="0")
    et.get("releases")  # the key's first use writes last_used_at
    with count_statements(app) as one_row:
        assert len(et.get("releases", limit=100).get_json()["results"]) == 1
    for index in range(1, 100):
        create(et, version=str(index))
    with count_statements(app) as hundred_rows:
        body = et.get("releases", limit=100, order_by="created_at").get_json()
    assert [row["version"] for row in body["results"]] == [str(index) for index in range(100)]
    assert_api_list_queries(one_row, "releases", full_page=False)
    assert_api_list_queries(hundred_rows, "releases", full_page=True)


# --- update -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("slash", ["/", ""])
def test_update_changes_the_given_fields_and_answers_204(et, method, slash):
    release = create(et)
    response = send(et, method, release["id"], {"version": "1.0.1", "project": "shop"}, slash)
    assert response.status_code == 204
    assert response.get_data() == b""
    after = retrieve(et, release["id"])
    assert after == {**release, "version": "1.0.1", "project": "shop"}  # hash_id, metadata kept


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_omitted_or_null_field_keeps_its_value_on_put_as_on_patch(et, method):
    """PostHog's server treats PUT like PATCH: nothing is required, nothing omitted is cleared."""
    release = create(et)
    assert send(et, method, release["id"], {"metadata": {"ci": 7}}).status_code == 204
    assert retrieve(et, release["id"]) == {**release, "metadata": {"ci": 7}}
    nulls = {"version": None, "project": None, "hash_id": None}
    assert send(et, method, release["id"], nulls).status_code == 204
    assert send(et, method, release["id"], {}).status_code == 204
    assert retrieve(et, release["id"]) == {**release, "metadata": {"ci": 7}}


@pytest.mark.parametrize(
    "metadata",
    [
        {"a": [1, {"b": None}]},
        ["x", 2],
        "nightly build",
        42,
        1.5,
        True,
        False,
        None,
        {},
        [],
        # Integers beyond 64 bits stay integers (not floats), and "é" stays itself.
        {"build": 10**30, "seed": -(2**64) - 1, "name": "é"},
    ],
)
def test_metadata_takes_any_json_value_on_create_and_update(et, metadata):
    created = create(et, metadata=metadata)
    assert created["metadata"] == metadata
    assert retrieve(et, created["id"])["metadata"] == metadata
    assert [row["metadata"] for row in et.get("releases").get_json()["results"]] == [metadata]
    other = create(et, version="2.0.0", metadata={"before": 1})
    assert send(et, "patch", other["id"], {"metadata": metadata}).status_code == 204
    assert retrieve(et, other["id"])["metadata"] == metadata


def test_a_form_encoded_update_stores_text(et):
    release = create(et)
    response = et.client.patch(
        et.url(f"releases/{release['id']}/"), headers=et.headers, data={"version": "3", "metadata": "rc"}
    )
    assert response.status_code == 204
    assert (retrieve(et, release["id"])["version"], retrieve(et, release["id"])["metadata"]) == ("3", "rc")


def test_hash_id_can_change_and_the_release_is_found_by_it(et):
    release = create(et)
    assert send(et, "patch", release["id"], {"hash_id": "abc123"}).status_code == 204
    assert et.get("releases/hash/abc123/").get_json() == {**release, "hash_id": "abc123"}
    assert et.get(f"releases/hash/{release['hash_id']}/").get_json() == NOT_FOUND
    # Setting the hash it already has is no conflict.
    assert send(et, "put", release["id"], {"hash_id": "abc123"}).status_code == 204


def test_a_hash_id_another_release_has_is_400_unique(et, other_project_id, app):
    first, second = create(et, hash_id="taken"), create(et, hash_id="mine")
    response = send(et, "patch", second["id"], {"hash_id": "taken", "version": "9"})
    assert_validation(response, "unique", attr="hash_id")
    assert retrieve(et, second["id"]) == second
    assert retrieve(et, first["id"]) == first
    # Another project's hash ids do not count.
    theirs = insert_release(app, other_project_id)
    with app.app_context():
        their_hash = db.session.get(Release, uuid.UUID(theirs)).hash_id
    assert send(et, "patch", second["id"], {"hash_id": their_hash}).status_code == 204


@pytest.mark.parametrize(
    "body, code, attr",
    [
        ({"version": ""}, "blank", "version"),
        ({"version": "  "}, "blank", "version"),
        ({"version": 1}, "invalid", "version"),
        ({"project": ["web"]}, "invalid", "project"),
        ({"project": "p" * 401}, "max_length", "project"),
        ({"hash_id": "h" * 201}, "max_length", "hash_id"),
        ({"hash_id": "a\x00b"}, "invalid", "hash_id"),
        ({"metadata": "a\x00b"}, "invalid", "metadata"),
        ({"metadata": {"tags": ["ok", "\ud800"]}}, "invalid", "metadata__tags__1"),
    ],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_bad_update_bodies_are_400_and_change_nothing(et, method, body, code, attr):
    release = create(et)
    assert_validation(send(et, method, release["id"], body), code, attr=attr)
    assert retrieve(et, release["id"]) == release


def test_non_finite_metadata_is_a_parse_error(et):
    release = create(et)
    response = et.client.patch(
        et.url(f"releases/{release['id']}/"),
        headers=et.headers,
        data='{"metadata": {"ratio": NaN}}',
        content_type="application/json",
    )
    assert_error(response, 400, "parse_error", attr="metadata__ratio")


@pytest.mark.parametrize("release_id", ["not-a-uuid", str(uuid.uuid4())])
@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_unknown_release_with_a_bad_body_is_404_not_400(et, method, release_id):
    """The object is looked up before the body is validated, as in PostHog."""
    assert send(et, method, release_id, {"version": 5, "metadata": "\x00"}).get_json() == NOT_FOUND


def test_another_projects_release_cannot_be_updated_or_deleted(app, et, other_project_id):
    theirs = insert_release(app, other_project_id)
    for method in ("put", "patch"):
        assert send(et, method, theirs, {"version": "stolen"}).get_json() == NOT_FOUND
    assert et.delete(f"releases/{theirs}/").get_json() == NOT_FOUND
    with app.app_context():
        assert db.session.get(Release, uuid.UUID(theirs)).version == "9.9.9"


# --- delete -------------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["/", ""])
def test_delete_answers_204_then_404(et, slash):
    release = create(et)
    kept = create(et, version="2.0.0")
    response = et.delete(f"releases/{release['id']}{slash}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert et.get(f"releases/{release['id']}/").get_json() == NOT_FOUND
    assert et.delete(f"releases/{release['id']}/").get_json() == NOT_FOUND
    assert et.delete("releases/not-a-uuid/").get_json() == NOT_FOUND
    assert [row["id"] for row in et.get("releases").get_json()["results"]] == [kept["id"]]


def test_deleting_a_release_keeps_its_symbol_sets_without_a_release(app, et, project_id):
    release = create(et)
    other = create(et, version="2.0.0")
    attached = insert_set(app, project_id, "attached", release_id=uuid.UUID(release["id"]))
    elsewhere = insert_set(app, project_id, "elsewhere", release_id=uuid.UUID(other["id"]))

    assert et.delete(f"releases/{release['id']}/").status_code == 204

    assert et.get(f"symbol_sets/{attached}/").get_json()["release"] is None
    assert et.get(f"symbol_sets/{elsewhere}/").get_json()["release"] == other
    # The set can join a release again.
    third = create(et, version="3.0.0")
    response = et.start({"chunk_id": "attached", "release_id": third["id"]})
    assert response.status_code == 201
    assert et.get(f"symbol_sets/{attached}/").get_json()["release"] == third


def test_writes_need_the_error_tracking_write_scope(app, client, project_id, make_key, user_id, et):
    release = create(et)
    reader = ErrorTracking(
        client, {"Authorization": f"Bearer {make_key(user_id, scopes='error_tracking:read')}"}, project_id
    )
    for response in (
        send(reader, "put", release["id"], {"version": "2"}),
        send(reader, "patch", release["id"], {"version": "2"}),
        reader.delete(f"releases/{release['id']}/"),
    ):
        body = assert_error(response, 403, "permission_denied", type_="authentication_error")
        assert body["detail"] == "API key missing required scope 'error_tracking:write'"
    assert retrieve(et, release["id"]) == release
    anonymous = ErrorTracking(client, {}, project_id)
    assert_error(anonymous.delete(f"releases/{release['id']}/"), 401, "not_authenticated")


# --- concurrency --------------------------------------------------------------------------------


def _racing(app, user_id, project_id, actions) -> list:
    """Run each action(project) in its own thread, released together; return results or errors."""
    results = [None] * len(actions)
    start = threading.Barrier(len(actions), timeout=30)

    def run(index):
        with app.app_context():
            project = accounts.resolve_project(accounts.get_user(user_id), project_id)
            start.wait()
            try:
                results[index] = actions[index](project)
            except Exception as error:  # noqa: BLE001 - asserted by the caller
                results[index] = error
            db.session.remove()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_concurrent_updates_of_one_release_all_land(app, et, user_id, project_id):
    release = create(et)
    results = _racing(
        app,
        user_id,
        project_id,
        [
            lambda project, i=i: releases.update_release(
                project, release["id"], {"version": f"v{i}", "metadata": {"writer": i}}
            )
            for i in range(4)
        ],
    )
    assert all(not isinstance(result, Exception) for result in results), results
    after = retrieve(et, release["id"])
    # One writer's whole change, never a mix of two.
    assert after["version"] == f"v{after['metadata']['writer']}"


def test_two_releases_racing_for_one_hash_id_one_wins_the_other_is_told(app, et, user_id, project_id):
    first, second = create(et, version="1"), create(et, version="2")
    results = _racing(
        app,
        user_id,
        project_id,
        [
            lambda project, release_id=release_id: releases.update_release(
                project, release_id, {"hash_id": "contested"}
            )
            for release_id in (first["id"], second["id"])
        ],
    )
    errors = [result for result in results if isinstance(result, Exception)]
    assert len(errors) == 1, results
    assert getattr(errors[0], "code", None) == "unique"
    with app.app_context():
        owners = db.session.scalars(select(Release.id).where(Release.hash_id == "contested")).all()
        assert len(owners) == 1


def test_a_start_racing_the_deletion_of_its_release_is_never_a_500(app, et, user_id, project_id):
    """Either the start wins (its set loses the release to the delete) or it is told the release is gone."""
    for attempt in range(5):
        release = create(et, version=f"race-{attempt}")
        chunk = f"chunk-{attempt}"

        def start(project, release_id=release["id"], chunk=chunk):
            with app.test_request_context():
                return symbol_uploads.start_uploads(
                    project, None, {"symbol_sets": [{"chunk_id": chunk, "release_id": release_id}]}
                )

        results = _racing(
            app,
            user_id,
            project_id,
            [start, lambda project, release_id=release["id"]: releases.delete_release(project, release_id)],
        )
        started, deleted = results
        assert deleted is None, deleted
        if isinstance(started, Exception):
            assert getattr(started, "code", None) == "invalid_release_id", started
        with app.app_context():
            row = db.session.scalar(select(SymbolSet).where(SymbolSet.ref == chunk))
            assert row is None or row.release_id is None
