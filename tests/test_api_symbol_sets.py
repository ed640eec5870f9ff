"""/api/{environments,projects}/:project_id/error_tracking/ — symbol sets and releases, against SPEC.md."""

import hashlib
import io
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import ActivityLog, Project, Release, SymbolSet
from webapp.services import accounts, symbol_upload_checks, symbol_upload_expiry, symbol_uploads
from webapp.storage.local import LocalStorage

from .conftest import assert_api_list_queries, count_statements, installed_storage, s3_storage
from .symbol_blobs import (
    cli_blob,
    minified_source,
    source_and_map_payload,
    source_map,
    symbol_data_blob,
)

T0 = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
NOT_FOUND = {"type": "invalid_request", "code": "not_found", "detail": "Not found.", "attr": None}
SYMBOL_SET_FIELDS = {
    "id",
    "ref",
    "team_id",
    "created_at",
    "last_used",
    "storage_ptr",
    "content_hash",
    "failure_reason",
    "release",
    "has_uploaded_file",
    "status",
    "size_bytes",
}
RELEASE_FIELDS = {"id", "hash_id", "team_id", "created_at", "metadata", "version", "project"}


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


@pytest.fixture(autouse=True)
def storage(app, tmp_path):
    """A local store of this test's own, so every object left behind (or not) is visible."""
    store = LocalStorage(tmp_path / "objects", secret_key=app.config["SECRET_KEY"])
    previous = app.extensions["storage"]
    app.extensions["storage"] = store
    yield store
    app.extensions["storage"] = previous


@dataclass
class ErrorTracking:
    """Calls to one project's error_tracking routes, with one set of credentials."""

    client: object
    headers: dict
    project_id: int
    prefix: str = "environments"

    def url(self, path: str) -> str:
        return f"/api/{self.prefix}/{self.project_id}/error_tracking/{path}"

    def get(self, path: str, **params):
        return self.client.get(self.url(path), headers=self.headers, query_string=params)

    def post(self, path: str, body=None, **params):
        return self.client.post(self.url(path), headers=self.headers, json=body, query_string=params)

    def put(self, path: str, body=None):
        return self.client.put(self.url(path), headers=self.headers, json=body)

    def delete(self, path: str):
        return self.client.delete(self.url(path), headers=self.headers)

    def start(self, *sets: dict, **flags):
        return self.post("symbol_sets/bulk_start_upload", {"symbol_sets": list(sets), **flags})

    def upload(self, presigned: dict, data: bytes) -> int:
        """The multipart POST a client makes to the presigned URL (no credentials)."""
        if not presigned["url"].startswith("http://localhost/"):  # S3 (moto's server)
            files = {"file": ("file", data)}
            return requests.post(
                presigned["url"], data=presigned["fields"], files=files, timeout=30
            ).status_code
        response = self.client.post(
            urlsplit(presigned["url"]).path,
            data={**presigned["fields"], "file": (io.BytesIO(data), "file")},
            content_type="multipart/form-data",
        )
        return response.status_code

    def download(self, symbol_set_id: str) -> bytes:
        """The bytes behind the set's download URL (local or S3)."""
        response = self.get(f"symbol_sets/{symbol_set_id}/download")
        assert response.status_code == 200, response.get_json()
        url = response.get_json()["url"]
        if url.startswith("http://localhost/"):
            fetched = self.client.get(url)
            assert fetched.status_code == 200
            return fetched.get_data()
        fetched = requests.get(url, timeout=30)
        assert fetched.status_code == 200
        return fetched.content

    def finish(self, hashes: dict):
        return self.post("symbol_sets/bulk_finish_upload", {"content_hashes": hashes})

    def upload_set(self, chunk_id: str, data: bytes | None = None, release_id: str | None = None) -> dict:
        """The whole protocol for one chunk; return the set as the API shows it."""
        data = cli_blob(chunk_id) if data is None else data
        started = self.start({"chunk_id": chunk_id, "release_id": release_id, "content_hash": sha512(data)})
        assert started.status_code == 201, started.get_json()
        issued = started.get_json()["id_map"][chunk_id]
        assert self.upload(issued["presigned_url"], data) == 204
        finished = self.finish({issued["symbol_set_id"]: sha512(data)})
        assert finished.status_code == 201, finished.get_json()
        return self.retrieve(issued["symbol_set_id"])

    def retrieve(self, symbol_set_id: str) -> dict:
        response = self.get(f"symbol_sets/{symbol_set_id}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def create_release(self, version="1.0.0", project="web", **fields) -> dict:
        response = self.post("releases", {"version": version, "project": project, **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def et(client, auth, project_id):
    return ErrorTracking(client, auth, project_id)


@pytest.fixture
def other_project_id(app, make_user):
    """A project in another organization (its owner is someone else)."""
    other = make_user("eve@example.com", organization="Elsewhere Inc")
    with app.app_context():
        return accounts.resolve_project(accounts.get_user(other), "@current").id


def insert_set(app, project_id, ref, **fields) -> str:
    """A symbol set row as it would be after some history; return its id."""
    with app.app_context():
        item = SymbolSet(project_id=project_id, ref=ref, **fields)
        db.session.add(item)
        db.session.commit()
        item_id = str(item.id)
        db.session.remove()
    return item_id


def insert_release(app, project_id, version="9.9.9", project_name="elsewhere") -> str:
    with app.app_context():
        release = Release(
            project_id=project_id, hash_id=uuid.uuid4().hex, version=version, project_name=project_name
        )
        db.session.add(release)
        db.session.commit()
        release_id = str(release.id)
        db.session.remove()
    return release_id


def stored_object(app, symbol_set_id, column=SymbolSet.storage_ptr) -> str | None:
    """A key the set's row holds: its checked file (storage_ptr), upload_key or rejected_key."""
    with app.app_context():
        return db.session.scalar(select(column).where(SymbolSet.id == uuid.UUID(symbol_set_id)))


def set_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SymbolSet))


def activity(app, symbol_set_id) -> list[tuple[str, int | None, dict]]:
    """(activity, user_id, detail) of one set's SymbolSet entries, oldest first."""
    with app.app_context():
        rows = db.session.scalars(
            select(ActivityLog)
            .where(ActivityLog.scope == "SymbolSet", ActivityLog.item_id == str(symbol_set_id))
            .order_by(ActivityLog.id)
        )
        return [(row.activity, row.user_id, row.detail) for row in rows]


def refs(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [row["ref"] for row in response.get_json()["results"]]


def assert_error(response, status: int, code: str, attr=..., type_=None):
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"type", "code", "detail", "attr"}
    assert body["code"] == code, body
    assert body["detail"]
    if attr is not ...:
        assert body["attr"] == attr, body
    if type_:
        assert body["type"] == type_
    return body


def assert_validation(response, code: str, attr=...):
    return assert_error(response, 400, code, attr, type_="validation_error")


UPLOADED = {"content_hash": "a" * 128, "storage_ptr": "symbol_sets/x/a", "size_bytes": 10}


# --- list ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["environments", "projects"])
@pytest.mark.parametrize("slash", ["", "/"])
def test_list_under_both_prefixes_with_or_without_slash(et, prefix, slash):
    uploaded = et.upload_set("chunk-1")
    et.prefix = prefix

    response = et.get("symbol_sets" + slash)

    assert response.status_code == 200
    body = response.get_json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    [row] = body["results"]
    assert set(row) == SYMBOL_SET_FIELDS
    assert row == uploaded


def test_a_symbol_set_as_json(app, et, project_id):
    release = et.create_release("2.0.0", "shop")
    data = cli_blob("chunk-json", release["id"])
    row = et.upload_set("chunk-json", data, release_id=release["id"])

    assert uuid.UUID(row["id"])
    assert row["ref"] == "chunk-json"
    assert row["team_id"] == project_id
    assert row["created_at"].endswith("Z")
    assert row["last_used"] is None
    key = stored_object(app, row["id"])
    assert row["storage_ptr"] == f"symbolsets/{uuid.uuid5(uuid.UUID(row['id']), key)}"
    assert key.startswith(f"symbol_sets/{project_id}/") and key.split("/")[-1] not in row["storage_ptr"]
    assert (row["content_hash"], row["size_bytes"]) == (sha512(data), len(data))
    assert (row["status"], row["has_uploaded_file"], row["failure_reason"]) == ("uploaded", True, None)
    assert row["release"] == release
    assert set(row["release"]) == RELEASE_FIELDS


STATUS_ROWS = {
    "up-1": UPLOADED,
    "up-2": {**UPLOADED, "storage_ptr": "symbol_sets/x/b"},
    "pending": {"storage_ptr": "symbol_sets/x/c", "upload_started_at": T0},
    "failed-check": {**UPLOADED, "storage_ptr": "symbol_sets/x/d", "failure_reason": "The file is empty."},
    "failed-marked": {"failure_reason": '{"JavaScript":{"NoSourcemap":"https://x/app.js"}}'},
}
STATUS_OF = {
    "up-1": "uploaded",
    "up-2": "uploaded",
    "pending": "pending",
    "failed-check": "failed",
    "failed-marked": "failed",
}


@pytest.mark.parametrize(
    "status, expected",
    [
        (None, {"up-1", "up-2", "pending", "failed-check", "failed-marked"}),
        ("all", {"up-1", "up-2", "pending", "failed-check", "failed-marked"}),
        ("valid", {"up-1", "up-2"}),
        ("uploaded", {"up-1", "up-2"}),
        ("invalid", {"pending", "failed-check", "failed-marked"}),
        ("failed", {"failed-check", "failed-marked"}),
        ("pending", {"pending"}),
    ],
)
def test_list_by_status(app, et, project_id, status, expected):
    for ref, fields in STATUS_ROWS.items():
        insert_set(app, project_id, ref, **fields)

    params = {"status": status} if status else {}
    response = et.get("symbol_sets", **params)

    assert set(refs(response)) == expected
    assert response.get_json()["count"] == len(expected)
    statuses = {row["ref"]: row["status"] for row in response.get_json()["results"]}
    assert statuses == {ref: STATUS_OF[ref] for ref in expected}


def test_list_by_exact_ref(app, et, project_id):
    for ref in ("static/app.js", "static/app.js.map", "STATIC/APP.JS"):
        insert_set(app, project_id, ref)
    assert refs(et.get("symbol_sets", ref="static/app.js")) == ["static/app.js"]
    assert refs(et.get("symbol_sets", ref="static/app")) == []


@pytest.fixture
def searchable(app, project_id, other_project_id):
    release = insert_release(app, project_id, version="v2.3.1", project_name="acme/storefront")
    insert_set(app, project_id, "static/chunks/App-Ab12.js", created_at=T0)
    insert_set(app, project_id, "static/chunks/vendor-99.js", created_at=T0 + timedelta(minutes=1))
    insert_set(
        app, project_id, "main.bundle.js", release_id=uuid.UUID(release), created_at=T0 + timedelta(minutes=2)
    )
    insert_set(app, project_id, "100%_done.js", created_at=T0 + timedelta(minutes=3))
    insert_set(app, other_project_id, "static/chunks/App-secret.js")


@pytest.mark.parametrize(
    "term, expected",
    [
        ("app-ab", ["static/chunks/App-Ab12.js"]),
        ("CHUNKS", ["static/chunks/vendor-99.js", "static/chunks/App-Ab12.js"]),
        ("js", ["100%_done.js", "main.bundle.js", "static/chunks/vendor-99.js", "static/chunks/App-Ab12.js"]),
        ("99", ["static/chunks/vendor-99.js"]),
        ("b", ["main.bundle.js", "static/chunks/App-Ab12.js"]),
        ("storefront", ["main.bundle.js"]),  # the release's project
        ("ACME", ["main.bundle.js"]),
        ("2.3", ["main.bundle.js"]),  # the release's version
        ("v2", ["main.bundle.js"]),
        ("%", ["100%_done.js"]),  # wildcards are literal characters
        ("_d", ["100%_done.js"]),
        ("0%_", ["100%_done.js"]),
        ("secret", []),  # another project's
        ("nothing-like-it", []),
        # Every word must match, each in the ref or the release's version or project, in any order.
        ("chunks APP", ["static/chunks/App-Ab12.js"]),
        ("app chunks", ["static/chunks/App-Ab12.js"]),
        ("js 9", ["static/chunks/vendor-99.js"]),
        ("bundle acme", ["main.bundle.js"]),
        ("storefront v2.3 main", ["main.bundle.js"]),
        ("chunks storefront", []),
        ("% js", ["100%_done.js"]),
    ],
)
def test_search_by_ref_and_release(et, searchable, term, expected):
    assert refs(et.get("symbol_sets", search=term)) == expected


def test_search_combines_with_status(app, et, project_id):
    insert_set(app, project_id, "app-one.js", **UPLOADED)
    insert_set(app, project_id, "app-two.js", failure_reason="bad")
    insert_set(app, project_id, "lib.js", failure_reason="bad")
    assert refs(et.get("symbol_sets", search="app", status="failed")) == ["app-two.js"]


@pytest.fixture
def ordered(app, project_id):
    insert_set(app, project_id, "b-middle", created_at=T0 + timedelta(hours=1))
    insert_set(app, project_id, "a-oldest", created_at=T0, last_used=T0 + timedelta(days=2))
    insert_set(
        app, project_id, "c-newest", created_at=T0 + timedelta(hours=2), last_used=T0 + timedelta(days=1)
    )


@pytest.mark.parametrize(
    "order_by, expected",
    [
        (None, ["c-newest", "b-middle", "a-oldest"]),
        ("-created_at", ["c-newest", "b-middle", "a-oldest"]),
        ("created_at", ["a-oldest", "b-middle", "c-newest"]),
        ("ref", ["a-oldest", "b-middle", "c-newest"]),
        ("-ref", ["c-newest", "b-middle", "a-oldest"]),
        ("last_used", ["c-newest", "a-oldest", "b-middle"]),  # never used: last
        ("-last_used", ["a-oldest", "c-newest", "b-middle"]),  # never used: last this way too
    ],
)
def test_order_by(et, ordered, order_by, expected):
    params = {"order_by": order_by} if order_by else {}
    assert refs(et.get("symbol_sets", **params)) == expected


def test_limit_offset_next_previous(app, et, project_id):
    for i in range(5):
        insert_set(app, project_id, f"chunk-{i}", created_at=T0 + timedelta(minutes=i))

    first = et.get("symbol_sets", limit=2, status="all").get_json()
    assert first["count"] == 5
    assert [row["ref"] for row in first["results"]] == ["chunk-4", "chunk-3"]
    assert first["previous"] is None
    next_url = urlsplit(first["next"])
    assert f"{next_url.scheme}://{next_url.netloc}{next_url.path}" == (
        f"http://localhost/api/environments/{project_id}/error_tracking/symbol_sets"
    )
    assert parse_qs(next_url.query) == {"limit": ["2"], "offset": ["2"], "status": ["all"]}

    middle = et.client.get(first["next"], headers=et.headers).get_json()
    assert [row["ref"] for row in middle["results"]] == ["chunk-2", "chunk-1"]
    assert parse_qs(urlsplit(middle["previous"]).query) == {"limit": ["2"], "status": ["all"]}

    last = et.client.get(middle["next"], headers=et.headers).get_json()
    assert [row["ref"] for row in last["results"]] == ["chunk-0"]
    assert last["next"] is None
    assert parse_qs(urlsplit(last["previous"]).query) == {"limit": ["2"], "offset": ["2"], "status": ["all"]}


@pytest.mark.parametrize("params", [{"limit": "0"}, {"offset": "-1"}, {"limit": "-3", "offset": "-3"}])
def test_limit_zero_and_negative_offset_mean_the_first_default_page(app, et, project_id, params):
    # As DRF's LimitOffsetPagination: these were 400s before PostHog compatibility.
    for i in range(3):
        insert_set(app, project_id, f"chunk-{i}", created_at=T0 + timedelta(minutes=i))
    response = et.get("symbol_sets", **params)
    assert refs(response) == ["chunk-2", "chunk-1", "chunk-0"]
    body = response.get_json()
    assert (body["count"], body["previous"], body["next"]) == (3, None, None)


@pytest.mark.parametrize(
    "params, attr",
    [
        ({"status": "broken"}, "status"),
        ({"status": "UPLOADED"}, "status"),
        ({"order_by": "name"}, "order_by"),
        ({"order_by": "-content_hash"}, "order_by"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "0.0"}, "limit"),
        ({"offset": "-1.0"}, "offset"),
        ({"offset": "1.5"}, "offset"),
        ({"search": "a\x00b"}, "search"),
        ({"ref": "a\x00b"}, "ref"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(et, params, attr):
    code = "invalid_choice" if {"status", "order_by"} & set(params) else "invalid"
    assert_validation(et.get("symbol_sets", **params), code, attr=attr)


def test_post_on_a_symbol_set_is_405(et):
    """PUT and PATCH replace its file (test_api_symbol_set_direct_upload.py); POST is not a method of it."""
    row = et.upload_set("chunk")
    response = et.client.post(et.url(f"symbol_sets/{row['id']}/"), headers=et.headers, json={})
    assert_error(response, 405, "method_not_allowed", attr=None, type_="invalid_request")
    assert {"DELETE", "GET", "PATCH", "PUT"} <= set(response.headers["Allow"].split(", "))
    assert et.retrieve(row["id"]) == row


def test_list_never_shows_another_project_sets(app, et, project_id, other_project_id):
    insert_set(app, other_project_id, "theirs")
    insert_set(app, project_id, "mine")
    assert refs(et.get("symbol_sets")) == ["mine"]
    assert_error(
        et.client.get(f"/api/environments/{other_project_id}/error_tracking/symbol_sets", headers=et.headers),
        404,
        "not_found",
    )


# --- retrieve -----------------------------------------------------------------------------------


def test_retrieve_and_not_found(app, et, project_id, other_project_id):
    mine = insert_set(app, project_id, "mine")
    theirs = insert_set(app, other_project_id, "theirs")

    assert et.retrieve(mine)["ref"] == "mine"
    for missing in (theirs, str(uuid.uuid4()), "not-a-uuid", "1", mine.upper()[:-1]):
        response = et.get(f"symbol_sets/{missing}")
        assert response.status_code == 404, missing
        assert response.get_json() == NOT_FOUND
    # Under the owner's project URL, with our key: the project itself is not found.
    response = et.client.get(
        f"/api/projects/{other_project_id}/error_tracking/symbol_sets/{theirs}", headers=et.headers
    )
    assert_error(response, 404, "not_found")


# --- delete -------------------------------------------------------------------------------------


def test_delete_removes_the_set_and_its_object(app, et, storage, user_id):
    row = et.upload_set("to-delete")
    key = stored_object(app, row["id"])
    assert storage.head(key) is not None

    response = et.delete(f"symbol_sets/{row['id']}/")

    assert response.status_code == 204
    assert response.get_data() == b""
    assert storage.head(key) is None
    assert et.get(f"symbol_sets/{row['id']}").status_code == 404
    assert et.delete(f"symbol_sets/{row['id']}").status_code == 404
    assert activity(app, row["id"])[-1][:2] == ("deleted", user_id)
    assert activity(app, row["id"])[-1][2]["name"] == "to-delete"


def test_delete_a_pending_set_and_not_another_project_set(app, et, project_id, other_project_id):
    pending = et.start({"chunk_id": "pending"}).get_json()["id_map"]["pending"]["symbol_set_id"]
    theirs = insert_set(app, other_project_id, "theirs")

    assert et.delete(f"symbol_sets/{pending}").status_code == 204
    assert et.delete(f"symbol_sets/{theirs}").get_json() == NOT_FOUND
    assert et.delete("symbol_sets/not-a-uuid").get_json() == NOT_FOUND
    assert set_count(app) == 1


def test_bulk_delete(app, et, storage, other_project_id):
    rows = [et.upload_set(f"chunk-{i}") for i in range(3)]
    keys = [stored_object(app, row["id"]) for row in rows]
    theirs = insert_set(app, other_project_id, "theirs", storage_ptr="symbol_sets/other/x")
    storage.put("symbol_sets/other/x", io.BytesIO(b"their bytes"), 100)

    response = et.post(
        "symbol_sets/bulk_delete", {"ids": [rows[0]["id"], rows[2]["id"], theirs, str(uuid.uuid4())]}
    )

    assert response.status_code == 200
    assert response.get_json() == {"deleted": 2}
    assert storage.head(keys[0]) is None
    assert storage.head(keys[2]) is None
    assert storage.head(keys[1]) is not None
    assert storage.head("symbol_sets/other/x") is not None
    assert refs(et.get("symbol_sets")) == ["chunk-1"]
    assert set_count(app) == 2
    assert [entry[0] for entry in activity(app, rows[0]["id"])][-1] == "deleted"


@pytest.mark.parametrize(
    "body, code",
    [
        ({"ids": ["not-a-uuid"]}, "invalid"),
        ({"ids": [str(uuid.uuid4()), 7]}, "invalid"),
        ({"ids": []}, "required"),
        ({}, "required"),
        ({"ids": {"a": 1}}, "required"),
        ({"ids": 5}, "required"),
    ],
)
def test_bulk_delete_with_bad_ids_is_400_and_deletes_nothing(app, et, project_id, body, code):
    keep = insert_set(app, project_id, "keep")
    if body.get("ids") and isinstance(body["ids"], list):
        body = {"ids": [keep, *body["ids"]]}
    assert_validation(et.post("symbol_sets/bulk_delete", body), code, attr="ids")
    assert set_count(app) == 1


# --- download -----------------------------------------------------------------------------------


def test_download_serves_the_stored_bytes_and_marks_the_set_used(et):
    data = cli_blob("downloadable")
    row = et.upload_set("downloadable", data)

    response = et.get(f"symbol_sets/{row['id']}/download")

    assert response.status_code == 200
    url = response.get_json()["url"]
    assert set(response.get_json()) == {"url"}
    fetched = et.client.get(url)  # no credentials: the URL is the permission
    assert fetched.status_code == 200
    assert fetched.get_data() == data
    assert "downloadable.symbols" in fetched.headers["Content-Disposition"]
    assert et.retrieve(row["id"])["last_used"] is not None


def test_a_failed_upload_has_no_file_to_download_and_its_bytes_stay_for_review(app, et, storage):
    bad = b'{"version": 3, "sources": []}'
    started = et.start({"chunk_id": "bad"}).get_json()["id_map"]["bad"]
    et.upload(started["presigned_url"], bad)
    assert et.finish({started["symbol_set_id"]: sha512(bad)}).status_code == 400

    # The API's download is the checked file only (a symbolicator must never get rejected bytes) ...
    assert_error(et.get(f"symbol_sets/{started['symbol_set_id']}/download"), 404, "not_found")
    # ... the rejected bytes are kept apart, for the detail page's "Download the rejected file".
    rejected = stored_object(app, started["symbol_set_id"], SymbolSet.rejected_key)
    assert b"".join(storage.iter_chunks(rejected)) == bad


def test_download_without_a_file_is_404(app, et, project_id, other_project_id):
    pending = et.start({"chunk_id": "pending"}).get_json()["id_map"]["pending"]["symbol_set_id"]
    marked = insert_set(app, project_id, "marked", failure_reason="No source map.")
    theirs = insert_set(app, other_project_id, "theirs", **UPLOADED)

    for symbol_set_id in (pending, marked, theirs, "nope"):
        response = et.get(f"symbol_sets/{symbol_set_id}/download")
        assert_error(response, 404, "not_found")


# --- bulk_start_upload --------------------------------------------------------------------------


def test_start_creates_pending_sets_with_presigned_urls(app, et, project_id):
    response = et.start(
        {"chunk_id": "a", "content_hash": sha512(b"a")}, {"chunk_id": "b", "release_id": None}
    )

    assert response.status_code == 201
    id_map = response.get_json()["id_map"]
    assert set(id_map) == {"a", "b"}
    for chunk_id, issued in id_map.items():
        assert set(issued) == {"presigned_url", "symbol_set_id"}
        assert issued["presigned_url"]["url"] == "http://localhost/storage/upload"
        assert set(issued["presigned_url"]["fields"]) == {"key", "policy"}
        row = et.retrieve(issued["symbol_set_id"])
        assert (row["ref"], row["status"], row["content_hash"], row["has_uploaded_file"]) == (
            chunk_id,
            "pending",
            None,
            False,
        )
        # The URL writes to a staging key of its own, never to where a checked file will live.
        assert issued["presigned_url"]["fields"]["key"] == stored_object(
            app, issued["symbol_set_id"], SymbolSet.upload_key
        )
        assert issued["presigned_url"]["fields"]["key"].startswith("staging/")
        assert row["storage_ptr"] is None
    assert set_count(app) == 2


def test_duplicate_chunk_ids_are_refused(app, et):
    response = et.start({"chunk_id": "a"}, {"chunk_id": "b"}, {"chunk_id": "a"})
    body = assert_validation(response, "invalid_chunk_ids")
    assert "a" in body["detail"]
    assert set_count(app) == 0


@pytest.mark.parametrize("kind", ["not a uuid", "unknown uuid", "another project's"])
def test_a_bad_release_id_is_refused_and_nothing_is_created(app, et, other_project_id, kind):
    release_id = {
        "not a uuid": "release-1",
        "unknown uuid": str(uuid.uuid4()),
        "another project's": insert_release(app, other_project_id),
    }[kind]
    good = et.create_release()["id"]

    response = et.start(
        {"chunk_id": "first", "release_id": good},
        {"chunk_id": "second"},
        {"chunk_id": "third", "release_id": release_id},
    )

    assert_validation(response, "invalid_release_id", attr="release_id")
    assert set_count(app) == 0


def test_force_and_skip_on_conflict_together_are_refused(app, et):
    response = et.start({"chunk_id": "a"}, force=True, skip_on_conflict=True)
    assert_validation(response, "invalid_conflict_handling")
    assert set_count(app) == 0


def test_an_uploaded_chunk_with_the_same_hash_is_omitted(app, et):
    data = cli_blob("done")
    row = et.upload_set("done", data)

    response = et.start({"chunk_id": "done", "content_hash": sha512(data)}, {"chunk_id": "new"})

    assert response.status_code == 201
    assert set(response.get_json()["id_map"]) == {"new"}
    assert et.retrieve(row["id"]) == row


def test_a_pending_chunk_gets_a_fresh_url_for_the_same_set(app, et, storage):
    first = et.start({"chunk_id": "slow"}).get_json()["id_map"]["slow"]

    again = et.start({"chunk_id": "slow"}).get_json()["id_map"]["slow"]

    assert again["symbol_set_id"] == first["symbol_set_id"]
    assert again["presigned_url"]["fields"]["key"] != first["presigned_url"]["fields"]["key"]
    data = cli_blob("slow")
    assert et.upload(again["presigned_url"], data) == 204
    assert et.finish({again["symbol_set_id"]: sha512(data)}).status_code == 201
    assert et.retrieve(first["symbol_set_id"])["status"] == "uploaded"
    assert set_count(app) == 1


def test_a_different_hash_is_a_conflict_unless_skipped_or_forced(app, et, storage, user_id):
    old = cli_blob("app")
    row = et.upload_set("app", old)
    old_key = stored_object(app, row["id"])
    new = cli_blob("app", version=1)
    item = {"chunk_id": "app", "content_hash": sha512(new)}

    body = assert_validation(et.start(item), "content_hash_mismatch")
    assert "force" in body["detail"]
    assert et.retrieve(row["id"]) == row

    skipped = et.start(item, skip_on_conflict=True)
    assert skipped.status_code == 201
    assert skipped.get_json()["id_map"] == {}
    assert et.retrieve(row["id"]) == row

    forced = et.start(item, force=True)
    assert forced.status_code == 201
    issued = forced.get_json()["id_map"]["app"]
    assert issued["symbol_set_id"] == row["id"]
    # The checked file stays in use until the new bytes pass.
    assert et.retrieve(row["id"]) == row
    assert et.download(row["id"]) == old
    assert activity(app, row["id"])[-1][0] == "replacement_started"

    assert et.upload(issued["presigned_url"], new) == 204
    assert et.finish({row["id"]: sha512(new)}).status_code == 201
    replaced = et.retrieve(row["id"])
    assert (replaced["status"], replaced["content_hash"]) == ("uploaded", sha512(new))
    assert replaced["storage_ptr"] != row["storage_ptr"]
    assert storage.head(old_key) is None  # the replaced file is gone after the swap
    assert et.download(row["id"]) == new
    assert activity(app, row["id"])[-1][:2] == ("replaced", user_id)


def test_a_chunk_bound_to_another_release_is_a_mismatch(app, et):
    first, second = et.create_release("1.0.0")["id"], et.create_release("2.0.0")["id"]
    data = cli_blob("bound", first)
    row = et.upload_set("bound", data, release_id=first)

    response = et.start({"chunk_id": "bound", "release_id": second, "content_hash": sha512(data)})
    assert_validation(response, "release_id_mismatch", attr="release_id")
    assert et.retrieve(row["id"])["release"]["id"] == first

    same = et.start({"chunk_id": "bound", "release_id": first, "content_hash": sha512(data)})
    assert same.status_code == 201
    assert same.get_json()["id_map"] == {}
    unbound = et.start({"chunk_id": "bound", "content_hash": sha512(data)})
    assert unbound.get_json()["id_map"] == {}


def test_a_release_is_attached_to_an_unbound_chunk(app, et):
    data = cli_blob("loose")
    row = et.upload_set("loose", data)
    assert row["release"] is None
    release = et.create_release("3.1.4")

    response = et.start({"chunk_id": "loose", "release_id": release["id"], "content_hash": sha512(data)})

    assert response.status_code == 201
    assert response.get_json()["id_map"] == {}
    assert et.retrieve(row["id"])["release"] == release


def test_the_legacy_body(app, et):
    release = et.create_release()
    response = et.post(
        "symbol_sets/bulk_start_upload", {"chunk_ids": ["x", "y"], "release_id": release["id"]}
    )

    assert response.status_code == 201
    id_map = response.get_json()["id_map"]
    assert set(id_map) == {"x", "y"}
    assert et.retrieve(id_map["x"]["symbol_set_id"])["release"] == release

    data = cli_blob("x")
    assert et.upload(id_map["x"]["presigned_url"], data) == 204
    assert et.finish({id_map["x"]["symbol_set_id"]: sha512(data)}).status_code == 201
    # A legacy client cannot say what it holds: an uploaded chunk counts as present.
    again = et.post("symbol_sets/bulk_start_upload", {"chunk_ids": ["x", "y"]})
    assert set(again.get_json()["id_map"]) == {"y"}


def test_one_transaction_an_error_in_the_third_item_creates_nothing(app, et):
    data = cli_blob("existing")
    et.upload_set("existing", data)

    conflict = et.start(
        {"chunk_id": "one"}, {"chunk_id": "two"}, {"chunk_id": "existing", "content_hash": sha512(b"other")}
    )
    assert_validation(conflict, "content_hash_mismatch")
    invalid = et.start({"chunk_id": "one"}, {"chunk_id": "two"}, {"chunk_id": "   "})
    assert_validation(invalid, "invalid_chunk_ids", attr="symbol_sets__2__chunk_id")
    bad_hash = et.start(
        {"chunk_id": "one"}, {"chunk_id": "two"}, {"chunk_id": "three", "content_hash": "md5:abc"}
    )
    assert_validation(bad_hash, "invalid_content_hash", attr="symbol_sets__2__content_hash")

    assert refs(et.get("symbol_sets")) == ["existing"]


@pytest.mark.parametrize(
    "body, code, attr",
    [
        ({"symbol_sets": None}, "invalid", "symbol_sets"),
        ({"symbol_sets": {"chunk_id": "a"}}, "invalid", "symbol_sets"),
        ({"chunk_ids": {"a": 1}}, "invalid_chunk_ids", "chunk_ids"),
        ({"symbol_sets": "a"}, "invalid", "symbol_sets"),
        ({"symbol_sets": ["a"]}, "invalid", "symbol_sets"),
        ({"symbol_sets": [{"chunk_id": 5}]}, "invalid_chunk_ids", "symbol_sets__0__chunk_id"),
        ({"symbol_sets": [{"chunk_id": "x" * 401}]}, "invalid_chunk_ids", "symbol_sets__0__chunk_id"),
        ({"symbol_sets": [{"chunk_id": "a\x00b"}]}, "invalid_chunk_ids", "symbol_sets__0__chunk_id"),
        ({"chunk_ids": "a"}, "invalid_chunk_ids", "chunk_ids"),
        ({"chunk_ids": ["a", ""]}, "invalid_chunk_ids", "chunk_ids__1"),
        ({"symbol_sets": [], "force": "maybe"}, "invalid", "force"),
    ],
)
def test_malformed_start_bodies_are_400(app, et, body, code, attr):
    assert_validation(et.post("symbol_sets/bulk_start_upload", body), code, attr=attr)
    assert set_count(app) == 0


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"symbol_sets": []},
        {"chunk_ids": []},
        {"force": True},
        {"release_id": None},
    ],
)
def test_a_start_that_names_no_chunk_issues_nothing(app, et, body):
    """PostHog's defaults: symbol_sets and chunk_ids both default to empty, answering an empty id_map."""
    response = et.post("symbol_sets/bulk_start_upload", body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {"id_map": {}}
    check = et.post("symbol_sets/bulk_check_upload", body)
    assert (check.status_code, check.get_json()) == (200, {"chunk_ids_to_upload": []})
    assert set_count(app) == 0


def test_start_with_a_non_json_body_is_400_or_415(et):
    bad_json = et.client.post(
        et.url("symbol_sets/bulk_start_upload"),
        data="{nope",
        content_type="application/json",
        headers=et.headers,
    )
    assert_error(bad_json, 400, "parse_error")
    xml = et.client.post(
        et.url("symbol_sets/bulk_start_upload"), data="<a/>", content_type="text/xml", headers=et.headers
    )
    assert_error(xml, 415, "unsupported_media_type")


# --- bulk_check_upload --------------------------------------------------------------------------


def test_check_upload_reports_what_start_would_issue_and_creates_nothing(app, et):
    data = cli_blob("done")
    et.upload_set("done", data)
    pending = et.start({"chunk_id": "pending"}).get_json()["id_map"]["pending"]["symbol_set_id"]
    release = et.create_release()["id"]
    body = {
        "symbol_sets": [
            {"chunk_id": "done", "content_hash": sha512(data), "release_id": release},
            {"chunk_id": "pending"},
            {"chunk_id": "new"},
        ]
    }

    response = et.post("symbol_sets/bulk_check_upload", body)

    assert response.status_code == 200
    assert sorted(response.get_json()["chunk_ids_to_upload"]) == ["new", "pending"]
    assert sorted(refs(et.get("symbol_sets"))) == ["done", "pending"]
    assert et.retrieve(pending)["status"] == "pending"
    assert et.retrieve(et.get("symbol_sets", ref="done").get_json()["results"][0]["id"])["release"] is None

    changed = {"symbol_sets": [{"chunk_id": "done", "content_hash": sha512(b"changed")}]}
    assert_validation(et.post("symbol_sets/bulk_check_upload", changed), "content_hash_mismatch")
    forced = et.post("symbol_sets/bulk_check_upload", {**changed, "force": True})
    assert forced.get_json() == {"chunk_ids_to_upload": ["done"]}
    assert et.get("symbol_sets", ref="done").get_json()["results"][0]["status"] == "uploaded"


# --- bulk_finish_upload -------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"content_hashes": {}}, {}])
def test_finish_with_nothing_is_done_at_once(et, body):
    response = et.post("symbol_sets/bulk_finish_upload", body)
    assert response.status_code == 201
    assert response.get_json() == {"success": True}


@pytest.mark.parametrize(
    "body", [{"content_hashes": None}, {"content_hashes": ["a"]}, {"content_hashes": "a"}]
)
def test_finish_with_a_malformed_body_is_400(et, body):
    assert_validation(et.post("symbol_sets/bulk_finish_upload", body), "invalid", attr="content_hashes")


def test_finish_unknown_sets_is_symbol_set_not_found(app, et, other_project_id):
    issued = et.start({"chunk_id": "mine"}).get_json()["id_map"]["mine"]
    data = cli_blob("mine")
    et.upload(issued["presigned_url"], data)
    theirs = insert_set(app, other_project_id, "theirs", storage_ptr="x")

    for unknown in (str(uuid.uuid4()), "not-a-uuid", theirs):
        response = et.finish({issued["symbol_set_id"]: sha512(data), unknown: sha512(data)})
        assert_validation(response, "symbol_set_not_found")
    assert et.retrieve(issued["symbol_set_id"])["status"] == "pending"


def test_finish_before_the_upload_is_file_not_found_and_a_retry_succeeds(app, et):
    started = et.start({"chunk_id": "one"}, {"chunk_id": "two"}).get_json()["id_map"]
    one, two = (cli_blob(chunk) for chunk in ("one", "two"))
    et.upload(started["one"]["presigned_url"], one)
    hashes = {started["one"]["symbol_set_id"]: sha512(one), started["two"]["symbol_set_id"]: sha512(two)}

    body = assert_validation(et.finish(hashes), "file_not_found")
    assert "two" in body["detail"]
    for chunk in ("one", "two"):
        row = et.retrieve(started[chunk]["symbol_set_id"])
        assert (row["status"], row["content_hash"], row["failure_reason"]) == ("pending", None, None)

    et.upload(started["two"]["presigned_url"], two)
    assert et.finish(hashes).status_code == 201
    assert {row["status"] for row in et.get("symbol_sets").get_json()["results"]} == {"uploaded"}


def test_a_retried_finish_changes_nothing(app, et, user_id):
    """The CLI retries bulk_finish_upload when a response is lost; the second call must be harmless."""
    data = cli_blob("retried")
    row = et.upload_set("retried", data)

    again = et.finish({row["id"]: sha512(data)})

    assert again.status_code == 201
    assert et.retrieve(row["id"]) == row
    assert [entry[:2] for entry in activity(app, row["id"])] == [("uploaded", user_id)]


def test_an_empty_file_is_file_too_large(app, et, storage):
    issued = et.start({"chunk_id": "empty"}).get_json()["id_map"]["empty"]
    storage.put(
        issued["presigned_url"]["fields"]["key"], io.BytesIO(b""), 10
    )  # S3 would refuse it; a store may not

    assert_validation(et.finish({issued["symbol_set_id"]: sha512(b"")}), "file_too_large")
    row = et.retrieve(issued["symbol_set_id"])
    assert row["status"] == "failed"
    assert row["failure_reason"] == "The uploaded file is empty."


def test_an_oversize_file_is_file_too_large(app, et, storage, monkeypatch):
    for module in (symbol_uploads, symbol_upload_checks):  # the URL's limit and the finish check's
        monkeypatch.setattr(module, "MAX_UPLOAD_BYTES", 1024 * 1024)
    issued = et.start({"chunk_id": "huge"}).get_json()["id_map"]["huge"]
    data = b"x" * (1024 * 1024 + 1)
    storage.put(issued["presigned_url"]["fields"]["key"], io.BytesIO(data), len(data))

    body = assert_validation(et.finish({issued["symbol_set_id"]: sha512(data)}), "file_too_large")
    assert "larger than 1 MiB" in body["detail"]
    assert et.retrieve(issued["symbol_set_id"])["status"] == "failed"


BAD_BLOBS = {
    "bad magic": (
        b"posthog_error_trackinG" + cli_blob("bad")[22:],
        "does not start with the posthog_error_tracking header",
    ),
    "bad version": (
        b"posthog_error_tracking\x07\x00\x00\x00\x02\x00\x00\x00" + b"\x00" * 20,
        "version 7 is not supported",
    ),
    "truncated source": (
        symbol_data_blob(source_and_map_payload(minified_source("bad"), source_map()), version=1)[:60],
        "ends in the middle of the minified source",
    ),
    "truncated map": (
        symbol_data_blob(source_and_map_payload(minified_source("bad"), source_map()), version=1)[:-10],
        "ends in the middle of the source map",
    ),
    "map not JSON": (
        symbol_data_blob(source_and_map_payload(minified_source("bad"), b"sourcemap, honest"), compression=1),
        "The source map is not valid JSON",
    ),
    "map without mappings": (
        symbol_data_blob(source_and_map_payload(minified_source("bad"), source_map(mappings=...))),
        "The source map has no 'mappings' field.",
    ),
    "bare map without mappings": (source_map(mappings=...), "The source map has no 'mappings' field."),
}


@pytest.mark.parametrize("name", list(BAD_BLOBS))
def test_a_bad_file_fails_the_set_with_a_readable_reason(app, et, user_id, name):
    data, reason = BAD_BLOBS[name]
    issued = et.start({"chunk_id": "bad", "content_hash": sha512(data)}).get_json()["id_map"]["bad"]
    assert et.upload(issued["presigned_url"], data) == 204

    body = assert_validation(et.finish({issued["symbol_set_id"]: sha512(data)}), "invalid_symbol_data")

    assert body["detail"].startswith("bad: ")
    assert reason in body["detail"]
    row = et.retrieve(issued["symbol_set_id"])
    assert row["status"] == "failed"
    assert reason in row["failure_reason"]
    assert "Traceback" not in row["failure_reason"] and "b'" not in row["failure_reason"]
    # Rejected bytes never become the set's file.
    assert (row["content_hash"], row["storage_ptr"], row["has_uploaded_file"]) == (None, None, False)
    assert refs(et.get("symbol_sets", status="failed")) == ["bad"]
    [(action, actor, detail)] = activity(app, issued["symbol_set_id"])
    assert (action, actor) == ("failed", user_id)
    assert {"field": "failure_reason", "before": None, "after": row["failure_reason"]} in detail["changes"]


def test_bytes_that_do_not_match_the_claimed_hash_fail_the_set(et):
    data = cli_blob("tampered")
    issued = et.start({"chunk_id": "tampered"}).get_json()["id_map"]["tampered"]
    et.upload(issued["presigned_url"], data)

    body = assert_validation(
        et.finish({issued["symbol_set_id"]: sha512(b"something else")}), "content_hash_mismatch"
    )
    assert "content hash" in body["detail"]
    assert et.retrieve(issued["symbol_set_id"])["status"] == "failed"


def test_a_file_for_another_chunk_fails_the_set(et):
    data = cli_blob("other-chunk")
    issued = et.start({"chunk_id": "this-chunk"}).get_json()["id_map"]["this-chunk"]
    et.upload(issued["presigned_url"], data)

    body = assert_validation(et.finish({issued["symbol_set_id"]: sha512(data)}), "chunk_id_mismatch")
    assert "other-chunk" in body["detail"] and "this-chunk" in body["detail"]
    assert et.retrieve(issued["symbol_set_id"])["status"] == "failed"


def test_a_new_successful_upload_clears_the_failure(app, et, user_id):
    bad = source_map(mappings=...)
    issued = et.start({"chunk_id": "retry", "content_hash": sha512(bad)}).get_json()["id_map"]["retry"]
    et.upload(issued["presigned_url"], bad)
    assert et.finish({issued["symbol_set_id"]: sha512(bad)}).status_code == 400

    good = cli_blob("retry")
    again = et.start({"chunk_id": "retry", "content_hash": sha512(good)}).get_json()["id_map"]["retry"]
    assert again["symbol_set_id"] == issued["symbol_set_id"]
    assert et.upload(again["presigned_url"], good) == 204
    assert et.finish({again["symbol_set_id"]: sha512(good)}).status_code == 201

    row = et.retrieve(issued["symbol_set_id"])
    assert (row["status"], row["failure_reason"], row["content_hash"]) == ("uploaded", None, sha512(good))
    assert refs(et.get("symbol_sets", status="failed")) == []
    assert [entry[0] for entry in activity(app, row["id"])] == ["failed", "uploaded"]
    failure_reason = activity(app, row["id"])[0][2]["changes"][-1]["after"]
    assert activity(app, row["id"])[-1][2]["changes"] == [
        {"field": "content_hash", "before": None, "after": sha512(good)},  # reset when the retry started
        {"field": "failure_reason", "before": failure_reason, "after": None},
    ]


def test_an_upload_clears_a_failure_an_external_symbolicator_recorded(app, et, project_id):
    marked = insert_set(
        app, project_id, "marked", failure_reason='{"JavaScript":{"NoSourcemap":"https://x/app.js"}}'
    )

    row = et.upload_set("marked")

    assert row["id"] == marked
    assert (row["status"], row["failure_reason"]) == ("uploaded", None)


# --- a checked file never changes ---------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def store(request, app, storage):
    """The app's store: the test's local folder, or a prefix of moto's S3 server."""
    if request.param == "local":
        yield storage
        return
    with installed_storage(app, s3_storage(request.getfixturevalue("s3_client"))) as s3:
        yield s3


def all_objects(store) -> list[str]:
    """Every object key in the store (checked files, rejected bytes and staging objects)."""
    later = datetime.now(UTC) + timedelta(days=1)
    return sorted(key for prefix in ("symbol_sets/", "staging/") for key in store.list_keys(prefix, later))


def staging_key(store, issued: dict) -> str:
    """The store's key for what an issued URL writes (S3's form field carries the bucket prefix too)."""
    key = issued["presigned_url"]["fields"]["key"]
    return key if isinstance(store, LocalStorage) else key.removeprefix(store.prefix)


def test_a_second_post_to_a_used_url_never_changes_the_checked_file(app, et, store):
    good, evil = cli_blob("app"), cli_blob("app", version=1)
    issued = et.start({"chunk_id": "app", "content_hash": sha512(good)}).get_json()["id_map"]["app"]
    assert et.upload(issued["presigned_url"], good) == 204
    assert et.finish({issued["symbol_set_id"]: sha512(good)}).status_code == 201
    row = et.retrieve(issued["symbol_set_id"])

    status = et.upload(issued["presigned_url"], evil)

    if isinstance(store, LocalStorage):
        assert status == 410  # the URL died with its upload
    # S3 takes any POST its policy allows: the bytes land on the dead staging key, an orphan.
    assert et.retrieve(row["id"]) == row
    served = et.download(row["id"])
    assert served == good
    assert sha512(served) == row["content_hash"]


def test_a_url_takes_one_file_even_before_finish(et):
    first, second = cli_blob("once"), cli_blob("once", version=1)
    issued = et.start({"chunk_id": "once"}).get_json()["id_map"]["once"]
    assert et.upload(issued["presigned_url"], first) == 204

    response = et.client.post(
        urlsplit(issued["presigned_url"]["url"]).path,
        data={**issued["presigned_url"]["fields"], "file": (io.BytesIO(second), "file")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 409
    assert response.get_json()["code"] == "already_uploaded"
    assert et.finish({issued["symbol_set_id"]: sha512(first)}).status_code == 201
    assert et.download(issued["symbol_set_id"]) == first


def test_the_url_of_a_deleted_set_stores_nothing(app, et, storage):
    issued = et.start({"chunk_id": "gone"}).get_json()["id_map"]["gone"]
    assert et.upload(issued["presigned_url"], cli_blob("gone")) == 204
    assert et.delete(f"symbol_sets/{issued['symbol_set_id']}").status_code == 204
    assert all_objects(storage) == []  # the unfinished upload went with its set

    response = et.client.post(
        urlsplit(issued["presigned_url"]["url"]).path,
        data={**issued["presigned_url"]["fields"], "file": (io.BytesIO(cli_blob("gone")), "file")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 410
    assert response.get_json()["code"] == "upload_closed"
    assert "no longer valid" in response.get_json()["detail"]
    assert all_objects(storage) == []
    assert not any(files for _, _, files in os.walk(storage.root))  # not even a temporary file


def test_a_superseded_url_is_dead_and_its_bytes_are_dropped(app, et, storage):
    first = et.start({"chunk_id": "twice"}).get_json()["id_map"]["twice"]
    assert et.upload(first["presigned_url"], cli_blob("twice")) == 204
    second = et.start({"chunk_id": "twice"}).get_json()["id_map"]["twice"]
    assert second["symbol_set_id"] == first["symbol_set_id"]

    assert et.upload(first["presigned_url"], cli_blob("twice")) == 410
    assert all_objects(storage) == []  # the first URL's object went with it
    body = assert_validation(et.finish({first["symbol_set_id"]: sha512(cli_blob("twice"))}), "file_not_found")
    assert "presigned URL" in body["detail"]
    assert et.retrieve(first["symbol_set_id"])["status"] == "pending"


def test_a_failed_forced_upload_leaves_an_uploaded_set_exactly_as_it_was(app, et, store, user_id):
    good = cli_blob("app")
    row_id = et.upload_set("app", good)["id"]
    assert et.download(row_id) == good  # sets last_used
    before = et.retrieve(row_id)
    key = stored_object(app, row_id)
    bad = symbol_data_blob(source_and_map_payload(minified_source("app"), b"not a map"))
    issued = et.start({"chunk_id": "app", "content_hash": sha512(bad)}, force=True).get_json()["id_map"][
        "app"
    ]
    assert et.upload(issued["presigned_url"], bad) == 204

    body = assert_validation(et.finish({row_id: sha512(bad)}), "invalid_symbol_data")

    assert "The source map is not valid JSON" in body["detail"]
    assert et.retrieve(row_id) == before  # status, file, size, hash, last used
    assert et.download(row_id) == good
    assert all_objects(store) == [key]  # the rejected bytes are not kept
    action, actor, detail = activity(app, row_id)[-1]
    assert (action, actor, detail["changes"]) == ("upload_failed", user_id, [])
    assert "The source map is not valid JSON" in detail["reason"]
    # The URL is used up: a retried finish says so instead of checking anything again.
    assert_validation(et.finish({row_id: sha512(bad)}), "file_not_found")


def test_expire_pending_removes_orphaned_staging_objects_only(app, et, store):
    done = et.start({"chunk_id": "done"}).get_json()["id_map"]["done"]
    assert et.upload(done["presigned_url"], cli_blob("done")) == 204
    assert et.finish({done["symbol_set_id"]: sha512(cli_blob("done"))}).status_code == 201
    deleted = et.start({"chunk_id": "deleted"}).get_json()["id_map"]["deleted"]
    et.delete(f"symbol_sets/{deleted['symbol_set_id']}")
    live = et.start({"chunk_id": "live"}).get_json()["id_map"]["live"]
    assert et.upload(live["presigned_url"], cli_blob("live")) == 204
    # What dead URLs wrote: S3 takes it; the local store refuses it, so only a crash leaves such files.
    for issued in (done, deleted):
        if isinstance(store, LocalStorage):
            store.put(staging_key(store, issued), io.BytesIO(b"late bytes"), 100)
        else:
            assert et.upload(issued["presigned_url"], b"late bytes") == 204
    orphans = sorted(staging_key(store, issued) for issued in (done, deleted))
    checked = stored_object(app, done["symbol_set_id"])
    assert all_objects(store) == sorted([checked, staging_key(store, live), *orphans])

    with app.app_context():
        # Within the URL lifetime plus grace nothing goes: a client may still be writing.
        assert symbol_upload_expiry.remove_orphaned_uploads() == 0
        later = datetime.now(UTC) + timedelta(minutes=16)
        assert symbol_upload_expiry.remove_orphaned_uploads(now=later) == 2

    assert all_objects(store) == sorted([checked, staging_key(store, live)])
    assert et.finish({live["symbol_set_id"]: sha512(cli_blob("live"))}).status_code == 201


# --- deprecated single-chunk forms --------------------------------------------------------------


def test_deprecated_start_and_finish(app, et):
    release = et.create_release()
    response = et.post("symbol_sets/start_upload", None, chunk_id="single", release_id=release["id"])

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"presigned_url", "symbol_set_id"}
    data = cli_blob("single")
    assert et.upload(body["presigned_url"], data) == 204

    finished = et.put(f"symbol_sets/{body['symbol_set_id']}/finish_upload", {"content_hash": sha512(data)})

    assert finished.status_code == 200
    assert finished.get_json() == {"success": True}
    row = et.retrieve(body["symbol_set_id"])
    assert (row["status"], row["content_hash"], row["release"]["id"]) == (
        "uploaded",
        sha512(data),
        release["id"],
    )


def test_deprecated_start_takes_the_last_of_a_repeated_chunk_id(et):
    """As in Django's QueryDict: `?chunk_id=a&chunk_id=b` names chunk b."""
    response = et.client.post(
        et.url("symbol_sets/start_upload") + "?chunk_id=first&chunk_id=last", headers=et.headers
    )

    assert response.status_code == 201, response.get_json()
    assert et.retrieve(response.get_json()["symbol_set_id"])["ref"] == "last"


def test_deprecated_start_replaces_an_uploaded_chunk_once_the_new_file_passes(et):
    row = et.upload_set("single")
    body = et.post("symbol_sets/start_upload", None, chunk_id="single").get_json()
    assert body["symbol_set_id"] == row["id"]
    assert et.retrieve(row["id"]) == row  # still uploaded, with its file, until the new one passes

    new = cli_blob("single", version=1)
    assert et.upload(body["presigned_url"], new) == 204
    assert et.put(f"symbol_sets/{row['id']}/finish_upload", {"content_hash": sha512(new)}).status_code == 200
    assert et.retrieve(row["id"])["content_hash"] == sha512(new)


def test_deprecated_start_without_a_chunk_id_is_400(app, et):
    assert_validation(et.post("symbol_sets/start_upload", None), "invalid_chunk_ids", attr="chunk_id")
    assert_validation(
        et.post("symbol_sets/start_upload", None, chunk_id=""), "invalid_chunk_ids", attr="chunk_id"
    )
    assert_validation(
        et.post("symbol_sets/start_upload", None, chunk_id="a", release_id="nope"), "invalid_release_id"
    )
    assert set_count(app) == 0


def test_deprecated_finish_errors(app, et, storage):
    issued = et.post("symbol_sets/start_upload", None, chunk_id="single").get_json()
    path = f"symbol_sets/{issued['symbol_set_id']}/finish_upload"

    assert_validation(et.put(path, {}), "content_hash_required", attr="content_hash")
    assert_validation(et.put(path, {"content_hash": ""}), "content_hash_required", attr="content_hash")
    assert_validation(et.put(path, {"content_hash": sha512(b"x")}), "file_not_found")
    assert et.retrieve(issued["symbol_set_id"])["status"] == "pending"
    storage.put(issued["presigned_url"]["fields"]["key"], io.BytesIO(b""), 10)
    assert_validation(et.put(path, {"content_hash": sha512(b"")}), "file_too_large")
    assert (
        et.put(f"symbol_sets/{uuid.uuid4()}/finish_upload", {"content_hash": sha512(b"x")}).get_json()
        == NOT_FOUND
    )


# --- releases -----------------------------------------------------------------------------------


def test_create_release_defaults_the_hash_id_like_the_cli(et, project_id):
    response = et.post(
        "releases", {"version": "1.2.3", "project": "web-app", "metadata": {"git": {"branch": "main"}}}
    )

    assert response.status_code == 201
    release = response.get_json()
    assert set(release) == RELEASE_FIELDS
    assert release["hash_id"] == sha512(b"web-app" + b"1.2.3")
    assert (release["version"], release["project"], release["team_id"]) == ("1.2.3", "web-app", project_id)
    assert release["metadata"] == {"git": {"branch": "main"}}
    assert et.get(f"releases/hash/{release['hash_id']}").get_json() == release
    assert et.get(f"releases/{release['id']}/").get_json() == release


def test_create_release_with_a_given_hash_id_and_duplicates(et):
    release = et.create_release("1.0", "web", hash_id="my-hash")
    assert release["hash_id"] == "my-hash"
    assert release["metadata"] is None

    assert_validation(
        et.post("releases", {"version": "2.0", "project": "web", "hash_id": "my-hash"}),
        "unique",
        attr="hash_id",
    )
    duplicate = et.post("releases", {"version": "1.0", "project": "web"})
    assert duplicate.status_code == 201  # a different (default) hash_id
    assert_validation(et.post("releases", {"version": "1.0", "project": "web"}), "unique", attr="hash_id")


@pytest.mark.parametrize(
    "body, code, attr",
    [
        ({"project": "web"}, "required", "version"),
        ({"version": "1"}, "required", "project"),
        ({"version": "", "project": "web"}, "blank", "version"),
        ({"version": 1, "project": "web"}, "invalid", "version"),
        ({"version": "1", "project": "web", "metadata": "a\x00b"}, "invalid", "metadata"),
        ({"version": "1", "project": "web", "metadata": {"git": ["\x00"]}}, "invalid", "metadata__git__0"),
        ({"version": "1" * 401, "project": "web"}, "max_length", "version"),
        ({"version": "1", "project": "web", "hash_id": 5}, "invalid", "hash_id"),
        ({"version": "1", "project": "web", "hash_id": "h" * 201}, "max_length", "hash_id"),
    ],
)
def test_create_release_validation(app, et, body, code, attr):
    assert_validation(et.post("releases", body), code, attr=attr)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Release)) == 0


def test_list_and_find_releases(app, et, other_project_id):
    first = et.create_release("1.0")
    second = et.create_release("2.0")
    theirs = insert_release(app, other_project_id)

    listed = et.get("releases").get_json()
    assert listed["count"] == 2
    assert {row["id"] for row in listed["results"]} == {first["id"], second["id"]}
    assert et.get("releases", limit=1).get_json()["next"] is not None
    assert_error(et.get("releases", order_by="hash_id"), 400, "invalid_choice", attr="order_by")

    for missing in (theirs, str(uuid.uuid4()), "not-a-uuid"):
        assert et.get(f"releases/{missing}").get_json() == NOT_FOUND
    assert et.get("releases/hash/unknown").get_json() == NOT_FOUND
    with app.app_context():
        their_hash = db.session.get(Release, uuid.UUID(theirs)).hash_id
    assert et.get(f"releases/hash/{their_hash}").get_json() == NOT_FOUND


# --- scopes and authentication ------------------------------------------------------------------


def test_a_read_key_can_list_but_not_write(app, client, project_id, make_key, user_id):
    reader = ErrorTracking(
        client, {"Authorization": f"Bearer {make_key(user_id, scopes='error_tracking:read')}"}, project_id
    )
    item = insert_set(app, project_id, "x", **UPLOADED)
    detail = "API key missing required scope 'error_tracking:write'"

    assert reader.get("symbol_sets").status_code == 200
    assert reader.get(f"symbol_sets/{item}").status_code == 200
    assert reader.get("releases").status_code == 200
    for response in (
        reader.start({"chunk_id": "new"}),
        reader.post("symbol_sets/bulk_check_upload", {"symbol_sets": [{"chunk_id": "new"}]}),
        reader.post("symbol_sets/bulk_finish_upload", {"content_hashes": {}}),
        reader.post("symbol_sets/start_upload", None, chunk_id="new"),
        reader.put(f"symbol_sets/{item}/finish_upload", {"content_hash": "a" * 128}),
        reader.delete(f"symbol_sets/{item}"),
        reader.post("symbol_sets/bulk_delete", {"ids": [item]}),
        reader.post("releases", {"version": "1", "project": "p"}),
    ):
        body = assert_error(response, 403, "permission_denied", type_="authentication_error")
        assert body["detail"] == detail
    assert set_count(app) == 1


@pytest.mark.parametrize("scopes", ["evaluation:read", "evaluation:write", "project:read"])
def test_keys_without_error_tracking_scopes_are_refused(app, client, project_id, make_key, user_id, scopes):
    other = ErrorTracking(client, {"Authorization": f"Bearer {make_key(user_id, scopes=scopes)}"}, project_id)
    body = assert_error(other.get("symbol_sets"), 403, "permission_denied")
    assert body["detail"] == "API key missing required scope 'error_tracking:read'"
    assert assert_error(other.start({"chunk_id": "a"}), 403, "permission_denied")["detail"] == (
        "API key missing required scope 'error_tracking:write'"
    )
    assert set_count(app) == 0


def test_a_write_key_reads_too(client, project_id, make_key, user_id):
    writer = ErrorTracking(
        client, {"Authorization": f"Bearer {make_key(user_id, scopes='error_tracking:write')}"}, project_id
    )
    assert writer.get("symbol_sets").status_code == 200
    assert writer.start({"chunk_id": "a"}).status_code == 201


def test_no_credentials_is_401(client, project_id):
    anonymous = ErrorTracking(client, {}, project_id)
    assert_error(anonymous.get("symbol_sets"), 401, "not_authenticated")
    assert_error(anonymous.start({"chunk_id": "a"}), 401, "not_authenticated")


def test_a_key_limited_to_another_project_is_refused(app, client, project_id, make_key, user_id):
    with app.app_context():
        project = db.session.get(Project, project_id)
        staging = Project(organization_id=project.organization_id, name="Staging")
        db.session.add(staging)
        db.session.commit()
        staging_id = staging.id
        db.session.remove()
    insert_set(app, staging_id, "staging-only")
    key = make_key(user_id, scoped_teams=[staging_id])
    limited = ErrorTracking(client, {"Authorization": f"Bearer {key}"}, project_id)

    assert_error(limited.get("symbol_sets"), 403, "permission_denied")
    limited.project_id = staging_id
    assert refs(limited.get("symbol_sets")) == ["staging-only"]


def test_a_logged_in_browser_session_needs_csrf_to_write(client, logged_in, project_id):
    session = ErrorTracking(client, {}, project_id)
    assert session.get("symbol_sets").status_code == 200
    assert_error(session.start({"chunk_id": "a"}), 403, "permission_denied")
    session.headers = {"X-CSRFToken": logged_in}
    assert session.start({"chunk_id": "a"}).status_code == 201


# --- the activity log ---------------------------------------------------------------------------


def test_activity_log_entries_for_upload_replacement_failure_and_deletion(app, et, user_id):
    first = cli_blob("logged")
    row = et.upload_set("logged", first)
    second = cli_blob("logged", version=1)
    issued = et.start({"chunk_id": "logged", "content_hash": sha512(second)}, force=True).get_json()[
        "id_map"
    ]["logged"]
    et.upload(issued["presigned_url"], second)
    et.finish({row["id"]: sha512(second)})
    bad = b'{"version": 3}'
    issued = et.start({"chunk_id": "logged", "content_hash": sha512(bad)}, force=True).get_json()["id_map"][
        "logged"
    ]
    et.upload(issued["presigned_url"], bad)
    et.finish({row["id"]: sha512(bad)})
    et.delete(f"symbol_sets/{row['id']}")

    entries = activity(app, row["id"])
    assert [(action, actor) for action, actor, _ in entries] == [
        ("uploaded", user_id),
        ("replacement_started", user_id),
        ("replaced", user_id),
        ("replacement_started", user_id),
        ("upload_failed", user_id),
        ("deleted", user_id),
    ]
    assert all(detail["name"] == "logged" for _, _, detail in entries)
    assert entries[0][2]["changes"] == [{"field": "content_hash", "before": None, "after": sha512(first)}]
    assert entries[1][2]["changes"] == []  # the file stays in use while the replacement uploads
    assert entries[2][2]["changes"] == [
        {"field": "content_hash", "before": sha512(first), "after": sha512(second)}
    ]
    # The failed attempt changed nothing; the log says why it was refused.
    assert entries[4][2]["changes"] == []
    assert entries[4][2]["reason"] == "The source map has no 'mappings' or 'sources' field."


def _with_own_release(app, project_id, ref):
    release = insert_release(app, project_id, version=f"v-{ref}")
    insert_set(app, project_id, ref, release_id=uuid.UUID(release))


def test_list_costs_the_same_statements_for_1_row_as_for_100(app, client, auth, project_id, logged_in):
    """Neither the API list nor the page loads each row's release on its own (no N+1)."""
    api = f"/api/projects/{project_id}/error_tracking/symbol_sets/"
    page = f"/project/{project_id}/symbol-sets/"
    _with_own_release(app, project_id, "first")
    client.get(api, headers=auth)  # the key's first use writes last_used_at
    with count_statements(app) as api_one:
        assert len(client.get(api, query_string={"limit": "100"}, headers=auth).json["results"]) == 1
    with count_statements(app) as page_one:
        assert client.get(page, query_string={"limit": "100"}).status_code == 200

    for index in range(99):
        _with_own_release(app, project_id, f"chunk-{index}")

    with count_statements(app) as api_hundred:
        assert len(client.get(api, query_string={"limit": "100"}, headers=auth).json["results"]) == 100
    with count_statements(app) as page_hundred:
        assert client.get(page, query_string={"limit": "100"}).status_code == 200
    assert_api_list_queries(api_one, "symbol_sets", full_page=False)
    assert_api_list_queries(api_hundred, "symbol_sets", full_page=True)
    assert len(page_hundred) == len(page_one) + 1  # the count: the page of 100 is full
