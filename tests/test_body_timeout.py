"""Slow clients against real servers (gunicorn gthread, Werkzeug): a 408, and nothing left behind."""

import json
import os
import select
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from webapp.storage.local import LocalStorage

from .conftest import installed_storage
from .gunicorn_server import run_gunicorn
from .symbol_blobs import cli_blob, sha512

# Long enough that a client descheduled on a loaded machine (parallel test workers) does not look stalled.
STALL_SECONDS = 2.0
# Far above any wait in these tests: a bound, never a pause.
GIVE_UP_SECONDS = 15


LIMITS = {"UPLOAD_STALL_TIMEOUT_SECONDS": STALL_SECONDS, "UPLOAD_MIN_RATE_BYTES_PER_SECOND": 2000.0}


@pytest.fixture(scope="module")
def gunicorn_server(app, tmp_path_factory):
    """`make run`'s worker model, with the short limits."""
    environment = {name: str(value) for name, value in LIMITS.items()}
    with run_gunicorn(app, tmp_path_factory.mktemp("gunicorn"), environment=environment) as server:
        yield server.base, server.objects


@pytest.fixture
def werkzeug_server(app, tmp_path, monkeypatch):
    objects = tmp_path / "objects"
    for name, value in LIMITS.items():
        monkeypatch.setitem(app.config, name, value)
    with installed_storage(app, LocalStorage(objects, secret_key=app.config["SECRET_KEY"])):
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{httpd.server_port}", objects
        httpd.shutdown()
        thread.join()


@pytest.fixture(params=["gunicorn", "werkzeug"])
def server(request):
    """The app on a real socket with a short stall timeout: (base URL, the store's folder)."""
    return request.getfixturevalue(f"{request.param}_server")


def stored_files(objects: Path) -> list[str]:
    """Every file in the store, temporary `.part` files included."""
    return sorted(os.path.join(folder, name) for folder, _, names in os.walk(objects) for name in names)


def start_upload(base_url, api_key, project_id) -> tuple[str, dict, str]:
    """Ask for an upload URL as the PostHog CLI does; return the URL, its fields and the set's id."""
    chunk_id = str(uuid.uuid4())
    response = requests.post(
        f"{base_url}/api/environments/{project_id}/error_tracking/symbol_sets/bulk_start_upload/",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"chunk_ids": [chunk_id]},
        timeout=GIVE_UP_SECONDS,
    )
    assert response.status_code == 201, response.text
    issued = response.json()["id_map"][chunk_id]
    return issued["presigned_url"]["url"], issued["presigned_url"]["fields"], issued["symbol_set_id"]


def multipart_request(url: str, fields: dict, file_size: int) -> tuple[bytes, int]:
    """The request head and form fields, and how many file bytes the announced length still expects."""
    boundary = "slowclientboundary"
    form = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    form += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    length = len(form) + file_size + len(f"\r\n--{boundary}--\r\n")
    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {length}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    return head + form, file_size


def read_response(connection: socket.socket) -> tuple[int, dict]:
    connection.settimeout(GIVE_UP_SECONDS)
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def assert_nothing_stored(base_url, api_key, project_id, set_id, objects: Path, before: list[str]) -> None:
    assert stored_files(objects) == before  # neither the object nor a temporary .part file
    response = requests.get(
        f"{base_url}/api/environments/{project_id}/error_tracking/symbol_sets/{set_id}/",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=GIVE_UP_SECONDS,
    )
    assert response.json()["status"] == "pending"


def test_an_upload_that_stops_sending_is_cut_with_408(server, api_key, project_id):
    base_url, objects = server
    url, fields, set_id = start_upload(base_url, api_key, project_id)
    before = stored_files(objects)
    head, _ = multipart_request(url, fields, file_size=100_000)
    with socket.create_connection((urlsplit(url).hostname, urlsplit(url).port)) as connection:
        started = time.monotonic()
        connection.sendall(head + b"x" * 30_000)  # part of the file, then nothing more
        status, body = read_response(connection)
        elapsed = time.monotonic() - started
    assert status == 408, body
    assert body["code"] == "request_timeout"
    assert f"nothing arrived for {STALL_SECONDS:g} seconds" in body["detail"]
    assert STALL_SECONDS <= elapsed < GIVE_UP_SECONDS
    assert_nothing_stored(base_url, api_key, project_id, set_id, objects, before)


def test_an_upload_trickling_below_the_minimum_rate_is_cut_with_408(server, api_key, project_id):
    base_url, objects = server
    url, fields, set_id = start_upload(base_url, api_key, project_id)
    before = stored_files(objects)
    head, file_size = multipart_request(url, fields, file_size=100_000)
    with socket.create_connection((urlsplit(url).hostname, urlsplit(url).port)) as connection:
        connection.sendall(head)
        started = time.monotonic()
        sent = 0
        # 20 bytes every 50 ms (400 B/s, under the 2000 B/s minimum), never pausing as long as the
        # stall timeout, until the server answers.
        while sent < file_size and time.monotonic() - started < GIVE_UP_SECONDS:
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                break
            connection.sendall(b"x" * 20)
            sent += 20
        status, body = read_response(connection)
    assert status == 408, body
    assert body["code"] == "request_timeout"
    assert "too slowly" in body["detail"]
    assert sent < file_size
    assert_nothing_stored(base_url, api_key, project_id, set_id, objects, before)


def test_a_steady_upload_through_the_guard_is_stored(server, api_key, project_id):
    base_url, _ = server
    chunk_id = str(uuid.uuid4())
    blob = cli_blob(chunk_id)
    response = requests.post(
        f"{base_url}/api/environments/{project_id}/error_tracking/symbol_sets/bulk_start_upload/",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"symbol_sets": [{"chunk_id": chunk_id, "content_hash": sha512(blob)}]},
        timeout=GIVE_UP_SECONDS,
    )
    issued = response.json()["id_map"][chunk_id]
    presigned = issued["presigned_url"]
    stored = requests.post(
        presigned["url"], data=presigned["fields"], files={"file": ("file", blob)}, timeout=GIVE_UP_SECONDS
    )
    assert stored.status_code == 204, stored.text
    finished = requests.post(
        f"{base_url}/api/environments/{project_id}/error_tracking/symbol_sets/bulk_finish_upload/",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"content_hashes": {issued["symbol_set_id"]: sha512(blob)}},
        timeout=GIVE_UP_SECONDS,
    )
    assert finished.status_code == 201, finished.text


def test_an_api_call_whose_body_stalls_is_cut_with_408_in_the_api_shape(server, api_key, project_id):
    base_url, _ = server
    url = urlsplit(base_url)
    body = b'{"name": "Never finished", "prompt": "'
    head = (
        f"POST /api/environments/{project_id}/evaluations/ HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port)) as connection:
        connection.sendall(head + body)
        status, answer = read_response(connection)
    assert status == 408, answer
    # A body that stopped within its first few KiB meets both limits at once; either reason is right.
    assert answer.pop("detail").startswith("The request body")
    assert answer == {"type": "invalid_request", "code": "request_timeout", "attr": None}
    listed = requests.get(
        f"{base_url}/api/environments/{project_id}/evaluations/",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=GIVE_UP_SECONDS,
    )
    assert listed.json()["count"] == 0
