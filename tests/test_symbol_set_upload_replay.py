"""Replay, request by request, what `posthog-cli sourcemap upload` sends (cli/src/api/symbol_sets.rs,
releases.rs and client.rs in PostHog/posthog), on local storage and on S3 (moto's server on localhost).

The CLI: `/api/projects/<id>/...` URLs without trailing slashes; `Authorization: Bearer`, `Content-Type:
application/json` and `User-Agent: posthog-cli` on every API call; release lookup by hash then create;
bulk_start_upload with a sha512 per chunk; a multipart POST of every presigned field then the bytes as
part `file` (filename "file", no auth) to each URL; bulk_finish_upload, even when nothing was uploaded.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import SymbolSet
from webapp.storage.local import LocalStorage
from webapp.storage.s3 import S3Storage

from .conftest import installed_storage, s3_storage
from .symbol_blobs import cli_blob, source_map

CLI_HEADERS = {"Content-Type": "application/json", "User-Agent": "posthog-cli"}


@pytest.fixture(params=["local", "s3"])
def storage(request, app, tmp_path):
    """The app's store for this test: a fresh local folder, or a fresh prefix in the moto bucket."""
    if request.param == "local":
        store = LocalStorage(tmp_path / "objects", secret_key=app.config["SECRET_KEY"])
    else:
        store = s3_storage(request.getfixturevalue("s3_client"))
    with installed_storage(app, store):
        yield store


def content_hash(*parts: bytes) -> str:
    """The CLI's utils::files::content_hash: sha512 hex over the parts in order."""
    digest = hashlib.sha512()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def cli_multipart(fields: dict[str, str], data: bytes) -> tuple[bytes, str]:
    """reqwest's multipart Form: every field a text part, then the bytes as `file` (filename "file")."""
    boundary = uuid.uuid4().hex
    body = bytearray()
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n\r\n'.encode()
    body += data + b"\r\n" + f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


@dataclass
class Cli:
    """One `posthog-cli` invocation against this server (host + env id + personal API key)."""

    client: object
    project_id: int
    api_key: str
    storage: LocalStorage | S3Storage

    def request(self, method: str, path: str, body: dict | None = None):
        url = f"/api/projects/{self.project_id}/{path}"
        headers = {**CLI_HEADERS, "Authorization": f"Bearer {self.api_key}"}
        data = json.dumps(body) if body is not None else None
        return self.client.open(url, method=method, headers=headers, data=data)

    def upload_to_presigned(self, presigned: dict, data: bytes) -> int:
        body, content_type = cli_multipart(presigned["fields"], data)
        if isinstance(self.storage, LocalStorage):
            # The server's own upload URL: through the app, at the URL's path, without credentials.
            response = self.client.post(
                urlsplit(presigned["url"]).path, data=body, headers={"Content-Type": content_type}
            )
            return response.status_code
        response = requests.post(
            presigned["url"], data=body, headers={"Content-Type": content_type}, timeout=30
        )
        return response.status_code

    def fetch_or_create_release(self, project: str, version: str) -> dict:
        """ReleaseBuilder::fetch_or_create: GET releases/hash/<sha512(project+version)>, else POST."""
        hash_id = content_hash(project.encode(), version.encode())
        found = self.request("GET", f"error_tracking/releases/hash/{hash_id}")
        if found.status_code == 200:
            return found.get_json()
        assert found.status_code == 404, found.get_data(as_text=True)
        created = self.request(
            "POST",
            "error_tracking/releases",
            {
                "metadata": {"git": {"repo_name": project, "branch": "main", "commit_id": version}},
                "hash_id": hash_id,
                "version": version,
                "project": project,
            },
        )
        assert created.status_code == 201, created.get_data(as_text=True)
        return created.get_json()

    def upload(self, sets: list[tuple[str, str | None, bytes]], force=False, skip_on_conflict=False) -> dict:
        """upload_inner for one batch; return the id_map the server answered."""
        hashes = [content_hash(data) for _, _, data in sets]
        start = self.request(
            "POST",
            "error_tracking/symbol_sets/bulk_start_upload",
            {
                "symbol_sets": [
                    {"chunk_id": chunk_id, "release_id": release_id, "content_hash": digest}
                    for (chunk_id, release_id, _), digest in zip(sets, hashes, strict=True)
                ],
                "force": force,
                "skip_on_conflict": skip_on_conflict,
            },
        )
        assert start.status_code == 201, start.get_data(as_text=True)
        id_map = start.get_json()["id_map"]
        by_chunk = {
            chunk_id: (data, digest) for (chunk_id, _, data), digest in zip(sets, hashes, strict=True)
        }
        content_hashes = {}
        for chunk_id, issued in id_map.items():
            data, digest = by_chunk[chunk_id]
            assert self.upload_to_presigned(issued["presigned_url"], data) == 204
            content_hashes[issued["symbol_set_id"]] = digest
        finish = self.request(
            "POST", "error_tracking/symbol_sets/bulk_finish_upload", {"content_hashes": content_hashes}
        )
        assert finish.status_code == 201, finish.get_data(as_text=True)
        assert finish.get_json() == {"success": True}
        return id_map


def stored_bytes(app, storage, symbol_set_id: str) -> bytes:
    with app.app_context():
        item = db.session.scalar(select(SymbolSet).where(SymbolSet.id == uuid.UUID(symbol_set_id)))
        with storage.open(item.storage_ptr) as stream:
            return stream.read()


def test_the_cli_upload_round_trip_and_its_rerun(app, client, project_id, make_key, user_id, storage):
    api_key = make_key(user_id, scopes="error_tracking:write")
    cli = Cli(client, project_id, api_key, storage)

    release = cli.fetch_or_create_release("my-org/web-app", "4f1c2d9e8b7a")
    assert release["version"] == "4f1c2d9e8b7a" and release["project"] == "my-org/web-app"
    assert cli.fetch_or_create_release("my-org/web-app", "4f1c2d9e8b7a")["id"] == release["id"]

    chunk_v2, chunk_v1, chunk_map = (str(uuid.uuid4()) for _ in range(3))
    uploads = [
        (chunk_v2, release["id"], cli_blob(chunk_v2, release["id"])),  # the CLI's default: v2, zstd
        (chunk_v1, release["id"], cli_blob(chunk_v1, release["id"], version=1)),  # older CLIs
        (chunk_map, None, source_map(chunk_map)),  # a bare source map
    ]

    id_map = cli.upload(uploads)

    assert set(id_map) == {chunk_v2, chunk_v1, chunk_map}
    for chunk_id, _, data in uploads:
        assert stored_bytes(app, storage, id_map[chunk_id]["symbol_set_id"]) == data

    listed = cli.request("GET", "error_tracking/symbol_sets")
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["count"] == 3
    rows = {row["ref"]: row for row in body["results"]}
    assert set(rows) == {chunk_v2, chunk_v1, chunk_map}
    for chunk_id, release_id, data in uploads:
        row = rows[chunk_id]
        assert row["id"] == id_map[chunk_id]["symbol_set_id"]
        assert row["status"] == "uploaded"
        assert row["has_uploaded_file"] is True
        assert row["failure_reason"] is None
        assert row["content_hash"] == content_hash(data)
        assert row["size_bytes"] == len(data)
        assert row["team_id"] == project_id
        if release_id:
            assert row["release"]["id"] == release["id"]
            assert row["release"]["version"] == "4f1c2d9e8b7a"
            assert row["release"]["project"] == "my-org/web-app"
        else:
            assert row["release"] is None

    # The same build uploaded again: every chunk is already present; the CLI still finishes (with {}).
    assert cli.upload(uploads) == {}
    again = cli.request("GET", "error_tracking/symbol_sets").get_json()
    assert {row["ref"]: row["id"] for row in again["results"]} == {
        chunk_id: issued["symbol_set_id"] for chunk_id, issued in id_map.items()
    }
    assert all(row["status"] == "uploaded" for row in again["results"])


def test_the_cli_force_reupload_replaces_changed_content(app, client, project_id, api_key, storage):
    cli = Cli(client, project_id, api_key, storage)
    chunk_id = str(uuid.uuid4())
    first = cli_blob(chunk_id)
    [issued] = cli.upload([(chunk_id, None, first)]).values()

    rebuilt = cli_blob(chunk_id, version=2, compression=0)  # same chunk, different bytes
    conflict = cli.request(
        "POST",
        "error_tracking/symbol_sets/bulk_start_upload",
        {
            "symbol_sets": [
                {"chunk_id": chunk_id, "release_id": None, "content_hash": content_hash(rebuilt)}
            ],
            "force": False,
            "skip_on_conflict": False,
        },
    )
    assert conflict.status_code == 400
    assert (
        conflict.get_json()["code"] == "content_hash_mismatch"
    )  # the CLI: "use --skip-on-conflict or --force"

    assert cli.upload([(chunk_id, None, rebuilt)], skip_on_conflict=True) == {}
    assert stored_bytes(app, storage, issued["symbol_set_id"]) == first

    [replaced] = cli.upload([(chunk_id, None, rebuilt)], force=True).values()
    assert replaced["symbol_set_id"] == issued["symbol_set_id"]
    assert stored_bytes(app, storage, issued["symbol_set_id"]) == rebuilt
    row = cli.request("GET", f"error_tracking/symbol_sets/{issued['symbol_set_id']}").get_json()
    assert (row["status"], row["content_hash"]) == ("uploaded", content_hash(rebuilt))
