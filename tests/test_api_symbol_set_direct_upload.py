"""The symbol-set write routes of PostHog's viewset: the deprecated direct upload (`POST symbol_sets/`)
and the replacement of a set's file (`PUT`/`PATCH symbol_sets/:id/` with `minified` + `source_map`)."""

import io
import threading

import pytest
from sqlalchemy import delete, select

from webapp.extensions import db
from webapp.models import SymbolSet
from webapp.services import accounts, symbol_upload_checks, symbol_uploads
from webapp.storage.local import LocalStorage

from .conftest import installed_storage, s3_storage
from .symbol_blobs import cli_blob, minified_source, source_map
from .test_api_symbol_sets import (
    NOT_FOUND,
    ErrorTracking,
    activity,
    all_objects,
    assert_error,
    assert_validation,
    insert_set,
    sha512,
    stored_object,
)

SYMBOL_SETS = "symbol_sets/"


def key_of(et: ErrorTracking, row: dict) -> str | None:
    """The storage key of the set's checked file (the API shows only an opaque storage_ptr)."""
    return stored_object(et.client.application, row["id"])


@pytest.fixture(autouse=True)
def storage(app, tmp_path):
    """A local store of this test's own, so every object left behind (or not) is visible."""
    store = LocalStorage(tmp_path / "objects", secret_key=app.config["SECRET_KEY"])
    previous = app.extensions["storage"]
    app.extensions["storage"] = store
    yield store
    app.extensions["storage"] = previous


@pytest.fixture
def et(client, auth, project_id):
    return ErrorTracking(client, auth, project_id)


def stored_files(storage: LocalStorage) -> list[str]:
    """Every object in the store (the temporary files of unfinished writes too)."""
    return sorted(
        path.relative_to(storage.root).as_posix() for path in storage.root.rglob("*") if path.is_file()
    )


def direct(et: ErrorTracking, data: bytes, *, multipart: bool = True, path: str = SYMBOL_SETS, **params):
    """The old CLI's upload: the bytes as part `file` (or as the raw body) of a POST with the chunk id."""
    if multipart:
        return et.client.post(
            et.url(path),
            headers=et.headers,
            query_string=params,
            data={"file": (io.BytesIO(data), "file")},
            content_type="multipart/form-data",
        )
    return et.client.post(
        et.url(path),
        headers=et.headers,
        query_string=params,
        data=data,
        content_type="application/octet-stream",
    )


def by_ref(et: ErrorTracking, ref: str) -> dict:
    response = et.get(SYMBOL_SETS, ref=ref)
    assert response.status_code == 200, response.get_json()
    (row,) = response.get_json()["results"]
    return row


# --- direct upload ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("multipart", "prefix", "path"),
    [
        (True, "environments", "symbol_sets/"),
        (False, "environments", "symbol_sets"),
        (True, "projects", "symbol_sets"),
        (False, "projects", "symbol_sets/"),
    ],
)
def test_a_direct_upload_makes_an_uploaded_set(et, storage, multipart, prefix, path):
    et.prefix = prefix
    release = et.create_release()
    data = cli_blob("direct")
    response = direct(et, data, multipart=multipart, path=path, chunk_id="direct", release_id=release["id"])
    assert (response.status_code, response.get_json()) == (201, {"ok": True})
    row = by_ref(et, "direct")
    assert (row["status"], row["content_hash"], row["size_bytes"]) == ("uploaded", sha512(data), len(data))
    assert row["release"]["id"] == release["id"]
    assert et.download(row["id"]) == data
    # The bytes were moved to the set's own key: no staging copy is left.
    assert stored_files(storage) == [key_of(et, row)]
    assert [entry[0] for entry in activity(et.client.application, row["id"])] == ["uploaded"]


def test_a_direct_upload_without_a_chunk_id_is_400_and_stores_nothing(et, storage):
    assert_validation(direct(et, cli_blob("x")), "invalid_chunk_ids", attr="chunk_id")
    assert_validation(direct(et, cli_blob("x"), chunk_id=""), "invalid_chunk_ids", attr="chunk_id")
    assert et.get(SYMBOL_SETS).get_json()["count"] == 0
    assert stored_files(storage) == []


def test_a_direct_upload_checks_the_release_before_reading_the_body(et, storage):
    assert_validation(direct(et, cli_blob("x"), chunk_id="x", release_id="nope"), "invalid_release_id")
    bound = et.upload_set("bound", release_id=et.create_release("1.0.0")["id"])
    other = et.create_release("2.0.0")
    response = direct(et, cli_blob("bound", version=1), chunk_id="bound", release_id=other["id"])
    assert_validation(response, "release_id_mismatch", attr="release_id")
    assert by_ref(et, "bound")["content_hash"] == bound["content_hash"]
    assert stored_files(storage) == [key_of(et, bound)]


def test_a_direct_upload_attaches_a_release_to_an_unbound_set(et):
    et.upload_set("loose")
    release = et.create_release()
    data = cli_blob("loose", version=1)
    assert direct(et, data, chunk_id="loose", release_id=release["id"]).status_code == 201
    row = by_ref(et, "loose")
    assert (row["release"]["id"], row["content_hash"]) == (release["id"], sha512(data))


def test_a_bad_blob_is_400_and_the_set_records_the_failure_like_finish(et, storage):
    data = b"posthog_error_tracking" + b"\x09\x00\x00\x00"
    response = direct(et, data, chunk_id="bad")
    body = assert_validation(response, "invalid_symbol_data")
    row = by_ref(et, "bad")
    assert row["status"] == "failed"
    assert row["failure_reason"] in body["detail"]
    assert (row["content_hash"], row["storage_ptr"]) == (None, None)
    # As after a failed finish: the rejected bytes are kept for review, not as the file.
    assert len(stored_files(storage)) == 1


@pytest.mark.parametrize("multipart", [True, False])
def test_an_empty_file_is_file_too_large_as_at_finish(et, multipart):
    assert_validation(direct(et, b"", multipart=multipart, chunk_id="empty"), "file_too_large")
    assert by_ref(et, "empty")["status"] == "failed"


def test_a_chunk_id_that_is_not_the_blobs_is_refused(et):
    assert_validation(direct(et, cli_blob("other"), chunk_id="mine"), "chunk_id_mismatch")


def test_a_good_set_keeps_its_file_when_a_bad_direct_upload_follows(et, storage):
    good = et.upload_set("kept")
    response = direct(et, b"not symbols at all", chunk_id="kept")
    assert_validation(response, "invalid_symbol_data")
    row = et.retrieve(good["id"])
    assert (row["status"], row["content_hash"], row["storage_ptr"]) == (
        "uploaded",
        good["content_hash"],
        good["storage_ptr"],
    )
    assert row["failure_reason"] is None
    assert et.download(good["id"]) == cli_blob("kept")
    assert stored_files(storage) == [key_of(et, good)]
    assert activity(et.client.application, good["id"])[-1][0] == "upload_failed"


def test_a_good_direct_upload_replaces_the_file_of_an_uploaded_set(et, storage):
    old = et.upload_set("again")
    new = cli_blob("again", version=1)
    assert direct(et, new, multipart=False, chunk_id="again").status_code == 201
    row = et.retrieve(old["id"])
    assert (row["content_hash"], row["status"]) == (sha512(new), "uploaded")
    assert et.download(old["id"]) == new
    assert stored_files(storage) == [key_of(et, row)]  # the old file is deleted


def test_a_direct_upload_supersedes_a_pending_presigned_upload(et, storage):
    started = et.start({"chunk_id": "pending"}).get_json()["id_map"]["pending"]
    data = cli_blob("pending")
    assert direct(et, data, chunk_id="pending").status_code == 201
    row = et.retrieve(started["symbol_set_id"])
    assert (row["status"], row["content_hash"]) == ("uploaded", sha512(data))
    # The presigned URL died with its upload.
    assert et.upload(started["presigned_url"], data) == 410


def test_a_set_deleted_while_its_direct_upload_is_checked_is_a_409(app, et, storage, monkeypatch):
    check = symbol_upload_checks._check_object

    def deleted_meanwhile(*args):
        with app.app_context():
            db.session.execute(delete(SymbolSet))
            db.session.commit()
        return check(*args)

    monkeypatch.setattr(symbol_upload_checks, "_check_object", deleted_meanwhile)
    assert_error(direct(et, cli_blob("gone"), chunk_id="gone"), 409, "symbol_set_deleted")
    assert stored_files(storage) == []


@pytest.mark.parametrize("multipart", [True, False])
def test_an_upload_over_the_limit_is_413_and_stores_nothing(et, storage, monkeypatch, multipart):
    monkeypatch.setattr(symbol_uploads, "MAX_UPLOAD_BYTES", 1000)
    monkeypatch.setattr("webapp.api.error_tracking.symbol_uploads.MAX_UPLOAD_BYTES", 1000)
    monkeypatch.setattr("webapp.services.symbol_direct_upload.MAX_UPLOAD_BYTES", 1000)
    response = direct(et, b"x" * 1001, multipart=multipart, chunk_id="big")
    assert_error(response, 413, "file_too_large", attr=None, type_="invalid_request")
    assert et.get(SYMBOL_SETS).get_json()["count"] == 0
    assert stored_files(storage) == []


def test_an_upload_declared_over_the_limit_is_413_before_a_byte_is_read(et, storage):
    response = et.client.post(
        et.url(SYMBOL_SETS),
        headers=et.headers,
        query_string={"chunk_id": "huge"},
        input_stream=io.BytesIO(b"never read"),
        environ_overrides={"CONTENT_LENGTH": str(symbol_uploads.MAX_UPLOAD_BYTES + 1)},
        content_type="application/octet-stream",
    )
    assert_error(response, 413, "file_too_large")
    assert et.get(SYMBOL_SETS).get_json()["count"] == 0
    assert stored_files(storage) == []


def test_a_multipart_body_without_the_file_part_is_400(et, storage):
    response = et.client.post(
        et.url(SYMBOL_SETS),
        headers=et.headers,
        query_string={"chunk_id": "x"},
        data={"other": (io.BytesIO(cli_blob("x")), "file"), "note": "hi"},
        content_type="multipart/form-data",
    )
    assert_validation(response, "required", attr="file")
    assert et.get(SYMBOL_SETS).get_json()["count"] == 0
    assert stored_files(storage) == []


def test_a_direct_upload_needs_error_tracking_write(app, client, make_key, user_id, project_id):
    reader = ErrorTracking(
        client, {"Authorization": f"Bearer {make_key(user_id, 'error_tracking:read')}"}, project_id
    )
    response = direct(reader, cli_blob("x"), chunk_id="x")
    assert_error(response, 403, "permission_denied")
    assert "error_tracking:write" in response.get_json()["detail"]


def test_a_direct_upload_takes_the_key_from_the_query_string(client, api_key, project_id):
    et = ErrorTracking(client, {}, project_id)
    response = direct(et, cli_blob("q"), multipart=False, chunk_id="q", personal_api_key=api_key)
    assert response.status_code == 201, response.get_json()


def test_a_session_caller_needs_the_csrf_header(client, logged_in, project_id):
    et = ErrorTracking(client, {}, project_id)
    assert_error(direct(et, cli_blob("s"), chunk_id="s"), 403, "permission_denied")
    # A token in the form is not looked for: that would read the upload before its view.
    in_form = et.client.post(
        et.url(SYMBOL_SETS),
        query_string={"chunk_id": "s"},
        data={"csrf_token": logged_in, "file": (io.BytesIO(cli_blob("s")), "file")},
        content_type="multipart/form-data",
    )
    assert in_form.get_json()["detail"].startswith("CSRF Failed")
    et.headers = {"X-CSRFToken": logged_in}
    assert direct(et, cli_blob("s"), chunk_id="s").status_code == 201
    assert by_ref(et, "s")["status"] == "uploaded"
    replaced = replace(et, by_ref(et, "s")["id"], minified=minified_source("s"), source_map=source_map("s"))
    assert replaced.status_code == 200, replaced.get_json()


def test_direct_uploads_and_replacements_draw_on_the_upload_budget(app, et, monkeypatch):
    good = et.upload_set("budget")  # four upload steps, before the budgets are set
    monkeypatch.setitem(app.config, "API_RATE_LIMITS", "1/minute")
    monkeypatch.setitem(app.config, "UPLOAD_RATE_LIMITS", "3/minute")
    assert et.get(SYMBOL_SETS).status_code == 200
    assert et.get(SYMBOL_SETS).status_code == 429  # the API budget is spent; uploads have their own
    assert direct(et, cli_blob("budget"), chunk_id="budget").status_code == 201
    assert direct(et, cli_blob("budget"), multipart=False, chunk_id="budget").status_code == 201
    pieces = {"minified": minified_source("budget"), "source_map": source_map("budget")}
    assert replace(et, good["id"], "PATCH", **pieces).status_code == 200
    assert_error(direct(et, cli_blob("budget"), chunk_id="budget"), 429, "throttled")


@pytest.fixture(params=["local", "s3"])
def store(request, app, storage):
    """The app's store: the test's local folder, or a prefix of moto's S3 server."""
    if request.param == "local":
        yield storage
        return
    with installed_storage(app, s3_storage(request.getfixturevalue("s3_client"))) as s3:
        yield s3


def test_direct_uploads_and_replacements_on_every_store(et, store, monkeypatch):
    good = cli_blob("stored")
    assert direct(et, good, chunk_id="stored").status_code == 201
    row = by_ref(et, "stored")
    assert (row["content_hash"], et.download(row["id"])) == (sha512(good), good)
    assert_validation(direct(et, b"junk", multipart=False, chunk_id="stored"), "invalid_symbol_data")
    assert all_objects(store) == [key_of(et, row)]
    replaced = replace(et, row["id"], minified=minified_source("stored"), source_map=source_map("stored"))
    assert replaced.status_code == 200, replaced.get_json()
    assert all_objects(store) == [key_of(et, replaced.get_json())]
    monkeypatch.setattr("webapp.services.symbol_direct_upload.MAX_UPLOAD_BYTES", 1000)
    assert_error(direct(et, b"x" * 1001, multipart=False, chunk_id="stored"), 413, "file_too_large")
    assert all_objects(store) == [key_of(et, replaced.get_json())]


# --- PUT/PATCH :id/ -----------------------------------------------------------------------------


def replace(et: ErrorTracking, set_id: str, method: str = "PUT", **files: bytes):
    return et.client.open(
        et.url(f"symbol_sets/{set_id}/"),
        method=method,
        headers=et.headers,
        data={name: (io.BytesIO(data), f"{name}.js") for name, data in files.items()},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_replace_with_minified_and_source_map(et, storage, method):
    old = et.upload_set("swap")
    response = replace(et, old["id"], method, minified=minified_source("swap"), source_map=source_map("swap"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == old["id"] and body["status"] == "uploaded"
    assert body["content_hash"] != old["content_hash"]
    stored = et.download(old["id"])
    assert sha512(stored) == body["content_hash"]
    assert minified_source("swap") in stored and source_map("swap") in stored
    assert stored_files(storage) == [key_of(et, body)]


def test_replace_makes_a_failed_set_uploaded(et):
    failed = direct(et, b"junk", chunk_id="fix")
    assert failed.status_code == 400
    set_id = by_ref(et, "fix")["id"]
    response = replace(et, set_id, minified=minified_source("fix"), source_map=source_map("fix"))
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["status"], response.get_json()["failure_reason"]) == ("uploaded", None)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_failing_replacement_leaves_the_set_as_it_was(et, storage, method):
    good = et.upload_set("stay")
    response = replace(et, good["id"], method, minified=minified_source("stay"), source_map=b"{not json")
    body = assert_validation(response, "invalid_symbol_data")
    assert "source map" in body["detail"]
    row = et.retrieve(good["id"])
    assert (row["status"], row["content_hash"], row["storage_ptr"], row["failure_reason"]) == (
        "uploaded",
        good["content_hash"],
        good["storage_ptr"],
        None,
    )
    assert stored_files(storage) == [key_of(et, good)]
    mismatch = replace(et, good["id"], minified=minified_source("elsewhere"), source_map=source_map())
    assert_validation(mismatch, "chunk_id_mismatch")
    assert et.retrieve(good["id"])["content_hash"] == good["content_hash"]


def test_a_failing_replacement_of_a_pending_set_records_the_failure(et):
    pending = et.start({"chunk_id": "new"}).get_json()["id_map"]["new"]["symbol_set_id"]
    response = replace(et, pending, minified=minified_source("new"), source_map=b"[]")
    assert_validation(response, "invalid_symbol_data")
    assert et.retrieve(pending)["status"] == "failed"


@pytest.mark.parametrize(("missing", "present"), [("minified", "source_map"), ("source_map", "minified")])
def test_replace_without_a_part_is_400_naming_it(et, missing, present):
    good = et.upload_set("parts")
    response = replace(et, good["id"], **{present: minified_source("parts")})
    assert_validation(response, "required", attr=missing)
    assert et.retrieve(good["id"])["content_hash"] == good["content_hash"]


def test_replace_of_an_empty_file_is_file_too_large(et):
    good = et.upload_set("empty")
    assert_validation(replace(et, good["id"], minified=b"", source_map=source_map()), "file_too_large")


def test_replace_of_an_unknown_id_is_404_before_the_body(app, et, make_user):
    for set_id in ("6a1c3b0e-0000-4000-8000-000000000000", "not-a-uuid"):
        response = replace(et, set_id, minified=b"", source_map=b"")
        assert (response.status_code, response.get_json()) == (404, NOT_FOUND)
        response = et.client.patch(et.url(f"symbol_sets/{set_id}"), headers=et.headers, json={"x": 1})
        assert (response.status_code, response.get_json()) == (404, NOT_FOUND)
    # A set of another organization's project is not found either.
    other = make_user("eve@example.com", organization="Elsewhere Inc")
    with app.app_context():
        other_project = accounts.resolve_project(accounts.get_user(other), "@current").id
    theirs = insert_set(app, other_project, "theirs")
    response = replace(et, theirs, minified=minified_source("theirs"), source_map=source_map())
    assert (response.status_code, response.get_json()) == (404, NOT_FOUND)


def test_replace_needs_error_tracking_write(client, make_key, user_id, project_id, et):
    good = et.upload_set("scoped")
    reader = ErrorTracking(
        client, {"Authorization": f"Bearer {make_key(user_id, 'error_tracking:read')}"}, project_id
    )
    response = replace(reader, good["id"], minified=minified_source("scoped"), source_map=source_map())
    assert_error(response, 403, "permission_denied")


def test_replace_over_the_limit_is_413(et, monkeypatch):
    good = et.upload_set("large")
    monkeypatch.setattr("webapp.services.symbol_upload_checks.REPLACE_BODY_LIMIT", 2000)
    response = replace(et, good["id"], minified=b"x" * 3000, source_map=source_map())
    assert_error(response, 413, "file_too_large")
    assert et.retrieve(good["id"])["content_hash"] == good["content_hash"]


# --- concurrency --------------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True])
def test_two_direct_uploads_of_one_chunk_at_once(app, auth, project_id, existing):
    """Both answer 201 (each file is valid); the set ends with one of them, never a 500 or two sets."""
    setup = ErrorTracking(app.test_client(), auth, project_id)
    if existing:
        setup.upload_set("race")
    blobs = [cli_blob("race", version=1), cli_blob("race", version=2, compression=0)]
    start = threading.Barrier(len(blobs), timeout=30)
    responses = [None] * len(blobs)

    def upload(number):
        et = ErrorTracking(app.test_client(), auth, project_id)
        start.wait()
        responses[number] = direct(et, blobs[number], multipart=bool(number), chunk_id="race")

    threads = [threading.Thread(target=upload, args=(number,)) for number in range(len(blobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [(r.status_code, r.get_json()) for r in responses] == [(201, {"ok": True})] * 2
    row = by_ref(setup, "race")
    assert row["status"] == "uploaded"
    assert row["content_hash"] in {sha512(blob) for blob in blobs}
    assert sha512(setup.download(row["id"])) == row["content_hash"]
    with app.app_context():
        assert len(db.session.scalars(select(SymbolSet.id)).all()) == 1
