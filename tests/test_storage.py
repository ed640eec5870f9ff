"""Object storage: one contract on both stores (a local folder, and S3 over HTTP to moto's server on
localhost), then the local store's own upload and download URLs."""

import base64
import hashlib
import io
import json
import os
import threading
import time
import tracemalloc
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from werkzeug.http import parse_options_header
from werkzeug.serving import make_server

from webapp import create_app
from webapp.api.errors import ERROR_TYPES
from webapp.storage import build_storage, get_storage, set_upload_check, upload_check
from webapp.storage.base import ObjectExists, ObjectNotFound, ObjectTooLarge, StorageError
from webapp.storage.local import LocalStorage
from webapp.storage.s3 import S3Storage

from .conftest import S3_BUCKET, installed_storage, s3_storage

KEY = "symbol_sets/1/0b7c3d8e/4f2a"
MiB = 1024 * 1024


def sample(size: int) -> bytes:
    """Bytes that differ along their length, so a misplaced chunk cannot go unnoticed."""
    return hashlib.sha512(str(size).encode()).digest() * (size // 64) + b"z" * (size % 64)


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (name, filename or None, bytes) parts, in order."""
    boundary = uuid.uuid4().hex
    body = bytearray()
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


def cli_multipart(fields: dict[str, str], data: bytes | None) -> tuple[bytes, str]:
    """The body the PostHog CLI sends: every presigned field as a text part, then the bytes as part
    `file` with filename "file" (data=None: no file part)."""
    parts = [(name, None, value.encode()) for name, value in fields.items()]
    if data is not None:
        parts.append(("file", "file", data))
    return multipart(parts)


@dataclass
class Backend:
    """A store under test, installed as the app's store, with HTTP helpers that reach its URLs."""

    name: str
    storage: LocalStorage | S3Storage
    app: Flask

    def presign_upload(self, key=KEY, max_bytes=MiB, expires_in=300, storage=None):
        with self.app.test_request_context(base_url="http://localhost"):
            return (storage or self.storage).presign_upload(key, max_bytes, expires_in)

    def presign_download(self, key=KEY, expires_in=300, filename=None):
        with self.app.test_request_context(base_url="http://localhost"):
            return self.storage.presign_download(key, expires_in, filename=filename)

    def post(self, url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        if self.name == "local":
            response = self.app.test_client().post(url, data=body, content_type=content_type)
            return response.status_code, response.get_data()
        response = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=30)
        return response.status_code, response.content

    def get(self, url: str) -> tuple[int, Mapping[str, str], bytes]:
        """Status, headers (any case) and body."""
        if self.name == "local":
            response = self.app.test_client().get(url)
            return response.status_code, response.headers, response.get_data()
        response = requests.get(url, timeout=30)
        return response.status_code, response.headers, response.content

    def expired_presign_upload(self, key=KEY, max_bytes=MiB):
        """An upload URL signed an hour ago with a five-minute lifetime."""
        assert self.name == "local"
        past = LocalStorage(
            self.storage.root, self.app.config["SECRET_KEY"], clock=lambda: time.time() - 3600
        )
        return self.presign_upload(key, max_bytes, 300, storage=past)

    def stored_files(self) -> list[str]:
        """Every file in the local folder, temporary ones included."""
        return sorted(
            os.path.relpath(os.path.join(folder, name), self.storage.root)
            for folder, _, names in os.walk(self.storage.root)
            for name in names
        )


@pytest.fixture
def live_keys(app):
    """The keys the local upload URL treats as live uploads, for this test (the services' own check is
    tested through the API)."""
    keys = {KEY}
    previous = upload_check(app)
    set_upload_check(app, keys.__contains__)
    yield keys
    set_upload_check(app, previous)


@pytest.fixture(params=["local", "s3"])
def backend(request, app, tmp_path, live_keys):
    if request.param == "local":
        storage = LocalStorage(tmp_path / "objects", secret_key=app.config["SECRET_KEY"])
    else:
        storage = s3_storage(request.getfixturevalue("s3_client"))
    with installed_storage(app, storage):
        yield Backend(request.param, storage, app)


@pytest.fixture
def local(app, tmp_path, live_keys):
    storage = LocalStorage(tmp_path / "objects", secret_key=app.config["SECRET_KEY"])
    with installed_storage(app, storage):
        yield Backend("local", storage, app)


@pytest.fixture
def s3(app, s3_client):
    with installed_storage(app, s3_storage(s3_client)) as storage:
        yield Backend("s3", storage, app)


# The contract: both stores -------------------------------------------------------------------------------


def test_put_head_open_iter_chunks_delete(backend):
    data = sample(3 * MiB + 5)
    storage = backend.storage

    assert storage.put(KEY, io.BytesIO(data), max_bytes=4 * MiB) == len(data)

    assert storage.head(KEY).size == len(data)
    with storage.open(KEY) as stream:
        assert stream.read() == data
    chunks = list(storage.iter_chunks(KEY, chunk_size=MiB))
    assert b"".join(chunks) == data
    assert all(0 < len(chunk) <= MiB for chunk in chunks)

    storage.delete(KEY)
    assert storage.head(KEY) is None
    with pytest.raises(ObjectNotFound):
        storage.open(KEY).__enter__()
    storage.delete(KEY)  # idempotent


def test_put_replaces_an_object_whole(backend):
    backend.storage.put(KEY, io.BytesIO(b"first version, longer"), max_bytes=100)
    backend.storage.put(KEY, io.BytesIO(b"second"), max_bytes=100)
    assert b"".join(backend.storage.iter_chunks(KEY)) == b"second"
    assert backend.storage.head(KEY).size == 6


def test_missing_object(backend):
    assert backend.storage.head("nothing/here") is None
    with pytest.raises(ObjectNotFound):
        list(backend.storage.iter_chunks("nothing/here"))
    backend.storage.delete("nothing/here")


def test_too_large_stores_nothing_and_keeps_the_old_object(backend):
    storage = backend.storage
    assert storage.put(KEY, io.BytesIO(b"x" * 10), max_bytes=10) == 10  # exactly the limit is fine
    with pytest.raises(ObjectTooLarge):
        storage.put(KEY, io.BytesIO(b"y" * 11), max_bytes=10)
    assert b"".join(storage.iter_chunks(KEY)) == b"x" * 10

    with pytest.raises(ObjectTooLarge):
        storage.put("other/key", io.BytesIO(b"y" * 11), max_bytes=10)
    assert storage.head("other/key") is None
    if backend.name == "local":
        assert backend.stored_files() == [KEY]  # no temporary file left behind


def test_move_renames_an_object_within_the_store(backend):
    storage = backend.storage
    data = sample(MiB + 7)
    storage.put("staging/a/1", io.BytesIO(data), max_bytes=2 * MiB)
    storage.put("final/a/1", io.BytesIO(b"older"), max_bytes=MiB)

    storage.move("staging/a/1", "final/a/1")

    assert storage.head("staging/a/1") is None
    assert b"".join(storage.iter_chunks("final/a/1")) == data  # replaced whole
    with pytest.raises(ObjectNotFound):
        storage.move("staging/a/1", "final/a/2")
    assert storage.head("final/a/2") is None
    with pytest.raises(ValueError):
        storage.move("final/a/1", "../escape")
    # What is written to the old key later is a new object; the moved one does not change.
    storage.put("staging/a/1", io.BytesIO(b"late"), max_bytes=MiB)
    assert b"".join(storage.iter_chunks("final/a/1")) == data


def test_list_keys_under_a_prefix_written_before_a_cutoff(backend):
    storage = backend.storage
    for key in ("staging/p/1", "staging/p/2", "staging2/x", "other/staging/y"):
        storage.put(key, io.BytesIO(b"x"), max_bytes=10)
    if backend.name == "local":  # put()'s temporary files are not objects
        with open(os.path.join(backend.storage.root, "staging", "p", ".3.abc.part"), "wb") as partial:
            partial.write(b"half")

    later = datetime.now(UTC) + timedelta(minutes=1)
    earlier = datetime.now(UTC) - timedelta(minutes=1)

    assert sorted(storage.list_keys("staging/", modified_before=later)) == ["staging/p/1", "staging/p/2"]
    assert list(storage.list_keys("staging/", modified_before=earlier)) == []
    assert list(storage.list_keys("nothing/", modified_before=later)) == []


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../etc/passwd", "/etc/passwd", "a//b", "a/./b", ".hidden", "a/", "", "a b", "a\\b"],
)
def test_unsafe_keys_are_refused(backend, key):
    with pytest.raises(ValueError):
        backend.storage.put(key, io.BytesIO(b"x"), max_bytes=10)
    with pytest.raises(ValueError):
        backend.storage.head(key)
    with pytest.raises(ValueError):
        backend.presign_upload(key)


def test_presigned_upload_round_trip_as_the_posthog_cli_sends_it(backend):
    data = sample(2 * MiB + 3)
    presigned = backend.presign_upload(max_bytes=100 * MiB)

    status, _ = backend.post(presigned.url, *cli_multipart(presigned.fields, data))

    assert status == 204
    assert backend.storage.head(KEY).size == len(data)
    digest = hashlib.sha512()
    for chunk in backend.storage.iter_chunks(KEY):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha512(data).hexdigest()


def test_presigned_download_round_trip(backend):
    data = sample(100_000)
    backend.storage.put(KEY, io.BytesIO(data), max_bytes=MiB)

    status, headers, body = backend.get(backend.presign_download(filename="app.js.symbols"))

    assert status == 200
    assert body == data
    assert headers["Content-Type"] == "application/octet-stream"
    assert parse_options_header(headers["Content-Disposition"]) == (
        "attachment",
        {"filename": "app.js.symbols"},
    )


def test_expired_presigned_upload_is_refused(local):
    # Local only: moto does not check POST policies (S3 does);
    # test_s3_presigned_post_binds_key_size_and_expiry checks the policy S3 is given.
    backend = local
    presigned = backend.expired_presign_upload()

    status, body = backend.post(presigned.url, *cli_multipart(presigned.fields, b"late bytes"))

    assert status == 403
    assert json.loads(body)["code"] == "expired_policy"
    assert "new upload URL" in json.loads(body)["detail"]
    assert backend.storage.head(KEY) is None


# S3 only ---------------------------------------------------------------------------------------------------


def test_s3_presigned_post_binds_key_size_and_expiry(s3):
    before = datetime.now(UTC).replace(microsecond=0)
    presigned = s3.presign_upload(max_bytes=100 * MiB, expires_in=300)

    policy = json.loads(base64.b64decode(presigned.fields["policy"]))
    assert ["content-length-range", 1, 100 * MiB] in policy["conditions"]
    assert {"key": s3.storage.prefix + KEY} in policy["conditions"]
    assert presigned.fields["key"] == s3.storage.prefix + KEY
    assert presigned.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert 0 <= (expires - before).total_seconds() <= 301


def test_s3_large_put_goes_in_parts_and_an_oversize_one_is_aborted(s3):
    storage = S3Storage(S3_BUCKET, prefix=s3.storage.prefix, client=s3.storage.client, part_size=5 * MiB)
    data = sample(11 * MiB)

    assert storage.put(KEY, io.BytesIO(data), max_bytes=12 * MiB) == len(data)
    assert hashlib.sha256(b"".join(storage.iter_chunks(KEY))).digest() == hashlib.sha256(data).digest()

    with pytest.raises(ObjectTooLarge):
        storage.put("too/large", io.BytesIO(data), max_bytes=8 * MiB)
    assert storage.head("too/large") is None
    uploads = storage.client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=storage.prefix)
    assert not uploads.get("Uploads")


def test_s3_unreachable_store_is_a_readable_storage_error(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    storage = S3Storage(S3_BUCKET, endpoint_url="http://127.0.0.1:9")

    with pytest.raises(StorageError, match="S3 could not read s3://test-objects/x"):
        storage.head("x")


def test_s3_presigned_download_names_the_file(s3):
    url = s3.presign_download(filename="ünïcode map.js")
    query = urlsplit(url).query
    assert "response-content-disposition=attachment" in query
    assert "filename%2A%3DUTF-8" in query


# Choosing the store ----------------------------------------------------------------------------------------


def _config_app(**config) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k", **config)
    return app


def test_storage_url_chooses_the_store(s3_endpoint, tmp_path):
    local = build_storage(_config_app(STORAGE_URL=f"file://{tmp_path}/my%20files"))
    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path / "my files"

    s3 = build_storage(_config_app(STORAGE_URL="s3://bucket/some/prefix", S3_ENDPOINT_URL=s3_endpoint))
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix) == ("bucket", "some/prefix/")
    assert s3.client.meta.endpoint_url == s3_endpoint
    assert s3.client.meta.region_name == "us-east-1"
    assert build_storage(_config_app(STORAGE_URL="s3://bucket")).prefix == ""


@pytest.mark.parametrize(
    "url", ["ftp://host/dir", "file://relative/dir", "s3:///no-bucket", "/just/a/path", ""]
)
def test_an_unusable_storage_url_stops_startup(url):
    with pytest.raises(ValueError, match="STORAGE_URL"):
        build_storage(_config_app(STORAGE_URL=url))
    with pytest.raises(ValueError, match="STORAGE_URL"):
        create_app(
            {"TESTING": True, "SECRET_KEY": "k", "DATABASE_URL": "sqlite://", "STORAGE_URL": url or "x:"}
        )


def test_the_store_is_made_once_per_app(app):
    with app.app_context():
        assert get_storage() is get_storage(app) is app.extensions["storage"]
    assert isinstance(app.extensions["storage"], LocalStorage)


# The local store's upload URL ------------------------------------------------------------------------------


def upload(local: Backend, fields: dict, data: bytes | None = b"bytes"):
    """POST the CLI's multipart body to the local upload URL; data=None sends no file part."""
    body, content_type = cli_multipart(fields, data)
    return local.app.test_client().post("/storage/upload", data=body, content_type=content_type)


def post_chunked(local: Backend, body: bytes, content_type: str):
    """POST as a server passes on a Transfer-Encoding: chunked body: no length, an input that ends."""
    return local.app.test_client().post(
        "/storage/upload",
        input_stream=io.BytesIO(body),
        content_type=content_type,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def assert_refused(response, status: int, code: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    # The app's one error shape, as on the API.
    assert set(body) == {"type", "code", "detail", "attr"}
    assert body["type"] == ERROR_TYPES[status]
    assert body["code"] == code
    assert body["detail"]


def test_an_upload_url_takes_one_file_and_never_replaces_it(local):
    presigned = local.presign_upload()
    assert upload(local, presigned.fields, b"first").status_code == 204

    assert_refused(upload(local, presigned.fields, b"second"), 409, "already_uploaded")
    assert b"".join(local.storage.iter_chunks(KEY)) == b"first"


def test_two_racing_uploads_to_one_url_store_exactly_one(local):
    # Both passed the "not written yet" question; the write itself refuses the one that lands second.
    local.storage.create(KEY, io.BytesIO(b"first"), max_bytes=100)
    with pytest.raises(ObjectExists):
        local.storage.create(KEY, io.BytesIO(b"second"), max_bytes=100)
    assert b"".join(local.storage.iter_chunks(KEY)) == b"first"
    assert local.stored_files() == [KEY]  # no temporary file left behind


def test_an_upload_url_whose_upload_ended_is_refused_before_any_byte(local, live_keys):
    presigned = local.presign_upload()
    live_keys.clear()  # finished, superseded or deleted: the services no longer call the key live

    assert_refused(upload(local, presigned.fields, sample(MiB)), 410, "upload_closed")
    assert local.stored_files() == []


def test_without_an_upload_check_every_upload_is_refused(local, app):
    set_upload_check(app, None)
    presigned = local.presign_upload()

    assert_refused(upload(local, presigned.fields), 410, "upload_closed")
    assert local.stored_files() == []


def test_upload_url_is_the_app_own(local):
    presigned = local.presign_upload()
    assert presigned.url == "http://localhost/storage/upload"
    assert set(presigned.fields) == {"key", "policy"}
    assert presigned.fields["key"] == KEY


def tampered(token: str) -> str:
    """The token with one payload character changed.

    Not its last characters: the final base64 character of a signature carries unused bits, so
    replacing it (and the one before) is sometimes no change at all (about one run in a thousand).
    """
    changed = "B" if token[1] == "A" else "A"
    return token[:1] + changed + token[2:]


def test_forged_policy_is_refused(local):
    fields = local.presign_upload().fields
    forged = LocalStorage(local.storage.root, secret_key="someone else's key")

    assert_refused(upload(local, {**fields, "policy": tampered(fields["policy"])}), 403, "invalid_policy")
    assert_refused(upload(local, local.presign_upload(storage=forged).fields), 403, "invalid_policy")
    assert_refused(upload(local, {**fields, "policy": "not-a-token"}), 403, "invalid_policy")
    # A download token is no upload permission.
    token = local.presign_download().split("token=")[1]
    assert_refused(upload(local, {**fields, "policy": token}), 403, "invalid_policy")
    assert local.stored_files() == []


def test_key_that_does_not_match_the_policy_is_refused(local):
    fields = local.presign_upload().fields
    assert_refused(upload(local, {**fields, "key": "symbol_sets/1/someone-else"}), 403, "key_mismatch")
    assert local.stored_files() == []


def test_oversize_upload_is_refused_and_stores_nothing(local):
    fields = local.presign_upload(max_bytes=1000).fields

    assert_refused(upload(local, fields, b"x" * 1001), 413, "file_too_large")
    # A body far past the limit is refused from its Content-Length, before the file is read.
    assert_refused(upload(local, fields, b"x" * (200 * 1024)), 413, "file_too_large")

    assert local.stored_files() == []
    assert upload(local, fields, b"x" * 1000).status_code == 204  # exactly the limit (the URL is unused)
    assert local.storage.head(KEY).size == 1000


def test_chunked_upload_without_content_length_is_capped(local):
    fields = local.presign_upload(max_bytes=100 * 1024).fields

    assert_refused(post_chunked(local, *cli_multipart(fields, sample(MiB))), 413, "file_too_large")
    assert local.stored_files() == []

    assert post_chunked(local, *cli_multipart(fields, sample(100 * 1024))).status_code == 204
    assert local.storage.head(KEY).size == 100 * 1024


def test_uploads_above_the_app_wide_body_limit_are_taken(local):
    assert local.app.config["MAX_CONTENT_LENGTH"] < 3 * MiB
    data = sample(3 * MiB)
    presigned = local.presign_upload(max_bytes=100 * MiB)
    status, _ = local.post(presigned.url, *cli_multipart(presigned.fields, data))
    assert status == 204
    assert local.storage.head(KEY).size == len(data)


def test_upload_streams_instead_of_holding_the_file_in_memory(local):
    data = sample(16 * MiB)
    presigned = local.presign_upload(max_bytes=100 * MiB)
    body, content_type = cli_multipart(presigned.fields, data)
    client = local.app.test_client()
    stream = io.BytesIO(body)

    tracemalloc.start()
    try:
        response = client.post(
            "/storage/upload", input_stream=stream, content_length=len(body), content_type=content_type
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 204
    assert local.storage.head(KEY).size == len(data)
    assert peak < 4 * MiB


@pytest.mark.parametrize(
    "fields, data, code",
    [
        ({"key": KEY}, b"bytes", "missing_field"),
        ({"policy": "x"}, b"bytes", "missing_field"),
        (None, None, "missing_file"),
        (None, b"", "file_too_small"),
    ],
)
def test_incomplete_upload_forms_are_bad_requests(local, fields, data, code):
    fields = fields if fields is not None else local.presign_upload().fields
    assert_refused(upload(local, fields, data), 400, code)
    assert local.stored_files() == []


def test_file_before_the_fields_and_broken_bodies_are_bad_requests(local):
    fields = local.presign_upload().fields
    client = local.app.test_client()
    file_first = multipart([("file", "file", b"bytes")] + [(k, None, v.encode()) for k, v in fields.items()])
    body, content_type = file_first
    assert_refused(client.post("/storage/upload", data=body, content_type=content_type), 400, "missing_field")

    body, content_type = cli_multipart(fields, b"bytes")
    assert_refused(
        client.post("/storage/upload", data=body[:-40], content_type=content_type), 400, "invalid_form"
    )
    assert_refused(client.post("/storage/upload", data={"key": KEY}), 400, "invalid_form")
    assert_refused(client.post("/storage/upload", json={"key": KEY}), 400, "invalid_form")
    assert local.stored_files() == []


def test_upload_over_real_http_with_and_without_content_length(local):
    server = make_server("127.0.0.1", 0, local.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/storage/upload"
        data = sample(2 * MiB + 1)
        fields = local.presign_upload(max_bytes=100 * MiB).fields
        body, content_type = cli_multipart(fields, data)
        headers = {"Content-Type": content_type}
        with requests.Session() as http:  # one kept-alive connection, as the CLI's HTTP client has
            response = http.post(url, data=body, headers=headers, timeout=30)
            assert response.status_code == 204, response.text
            local.storage.delete(KEY)

            chunks = (body[i : i + 100_000] for i in range(0, len(body), 100_000))  # sent chunked
            response = http.post(url, data=chunks, headers=headers, timeout=30)
            assert response.status_code == 204, response.text
            assert b"".join(local.storage.iter_chunks(KEY)) == data

            response = http.post(url, data=b"not multipart", headers=headers, timeout=30)
            assert response.status_code == 400
    finally:
        server.shutdown()
        thread.join()


def test_parts_after_the_file_are_ignored_as_s3_does(local):
    fields = local.presign_upload().fields
    body, content_type = multipart(
        [(k, None, v.encode()) for k, v in fields.items()]
        + [("file", "file", b"the bytes"), ("key", None, b"other/key"), ("extra", "x", b"more")]
    )
    response = local.app.test_client().post("/storage/upload", data=body, content_type=content_type)
    assert response.status_code == 204
    assert local.stored_files() == [KEY]
    assert b"".join(local.storage.iter_chunks(KEY)) == b"the bytes"


def test_trailing_parts_count_towards_the_size_limit(local):
    fields = local.presign_upload(max_bytes=1000).fields
    body, content_type = multipart(
        [(k, None, v.encode()) for k, v in fields.items()]
        + [("file", "file", b"small"), ("padding", None, b"p" * (100 * 1024))]
    )
    response = post_chunked(local, body, content_type)
    assert_refused(response, 413, "file_too_large")
    assert local.stored_files() == []


# The local store's download URL ----------------------------------------------------------------------------


def test_download_without_filename_is_not_an_attachment(local):
    local.storage.put(KEY, io.BytesIO(b"bytes"), max_bytes=100)
    response = local.app.test_client().get(local.presign_download())
    assert response.status_code == 200
    assert response.get_data() == b"bytes"
    assert response.content_length == 5
    assert "Content-Disposition" not in response.headers


def test_download_with_expired_or_forged_token_is_forbidden(local):
    local.storage.put(KEY, io.BytesIO(b"bytes"), max_bytes=100)
    client = local.app.test_client()
    past = LocalStorage(local.storage.root, local.app.config["SECRET_KEY"], clock=lambda: time.time() - 3600)
    with local.app.test_request_context(base_url="http://localhost"):
        expired = past.presign_download(KEY, 300)
    upload_token = local.presign_upload().fields["policy"]

    assert_refused(client.get(expired), 403, "expired_token")
    assert_refused(client.get(local.presign_download()[:-3] + "abc"), 403, "invalid_token")
    assert_refused(client.get(f"/storage/download?token={upload_token}"), 403, "invalid_token")
    assert_refused(client.get("/storage/download"), 403, "invalid_token")


def test_download_of_a_deleted_object_is_not_found(local):
    local.storage.put(KEY, io.BytesIO(b"bytes"), max_bytes=100)
    url = local.presign_download()
    local.storage.delete(KEY)
    assert_refused(local.app.test_client().get(url), 404, "not_found")


def test_local_urls_are_not_served_when_the_store_is_s3(s3):
    client = s3.app.test_client()
    assert_refused(upload(s3, {"key": KEY, "policy": "x"}), 404, "not_found")
    assert_refused(client.get("/storage/download?token=x"), 404, "not_found")


def _leave_a_partial_write(backend) -> None:
    """What a process killed in the middle of put() leaves behind."""
    if backend.name == "local":
        folder = os.path.join(backend.storage.root, "crashed")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, ".object.abc123.part"), "wb") as partial:
            partial.write(b"half a file")
    else:
        storage = backend.storage
        storage.client.create_multipart_upload(Bucket=S3_BUCKET, Key=storage.prefix + "crashed/object")


def _partial_writes(backend) -> int:
    if backend.name == "local":
        return sum(name.endswith(".part") for _, _, names in os.walk(backend.storage.root) for name in names)
    storage = backend.storage
    return len(
        storage.client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=storage.prefix).get("Uploads", [])
    )


def test_remove_abandoned_clears_partial_writes_and_keeps_objects(backend):
    backend.storage.put(KEY, io.BytesIO(b"kept"), max_bytes=MiB)
    _leave_a_partial_write(backend)

    assert backend.storage.remove_abandoned(datetime.now(UTC) + timedelta(minutes=1)) == 1
    assert _partial_writes(backend) == 0
    assert b"".join(backend.storage.iter_chunks(KEY)) == b"kept"


def test_remove_abandoned_keeps_recent_partial_writes(local):
    # Local only: moto reports a fixed 2010 start date for every multipart upload.
    _leave_a_partial_write(local)

    assert local.storage.remove_abandoned(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert _partial_writes(local) == 1
