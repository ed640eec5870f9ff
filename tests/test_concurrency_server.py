"""Sixteen build machines at once against a real gunicorn (4 workers): never a 500, one set per chunk id.

The server runs on the test database (on PostgreSQL: this run's own schema), so every race here is a race
between processes and connections, as in production.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Release, SymbolSet

from .gunicorn_server import GunicornServer, run_gunicorn
from .symbol_blobs import cli_blob, sha512

WORKERS = 4
CALLERS = 16
# Bounds every wait: server start, each request, each race.
TIMEOUT = 30


@pytest.fixture(scope="module")
def server(app, tmp_path_factory):
    """`gunicorn -w 4` (gthread) against the test database."""
    with run_gunicorn(app, tmp_path_factory.mktemp("gunicorn"), workers=WORKERS) as running:
        yield running


class Api:
    """One project's error_tracking routes on the server, with one API key."""

    def __init__(self, server: GunicornServer, project_id: int, key: str):
        self.server = server
        self.prefix = f"{server.base}/api/projects/{project_id}/error_tracking/"
        self.headers = {"Authorization": f"Bearer {key}"}

    def request(self, method: str, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
        headers = {**self.headers, **(headers or {})}
        return requests.request(method, self.prefix + path, headers=headers, timeout=TIMEOUT, **kwargs)

    def start(self, items: list[dict], **flags) -> requests.Response:
        return self.request("POST", "symbol_sets/bulk_start_upload/", json={"symbol_sets": items, **flags})

    def finish(self, hashes: dict) -> requests.Response:
        return self.request("POST", "symbol_sets/bulk_finish_upload/", json={"content_hashes": hashes})

    def upload(self, presigned: dict, data: bytes) -> requests.Response:
        """The multipart POST to the presigned URL, with no credentials."""
        return requests.post(
            presigned["url"], data=presigned["fields"], files={"file": ("file", data)}, timeout=TIMEOUT
        )

    def upload_set(self, ref: str, data: bytes, *, force: bool = False) -> str:
        """Start, upload and finish one chunk, one step after another; return the set's id.

        force: replace what is stored, even the same bytes (a forced start without a content hash).
        """
        item = {"chunk_id": ref} if force else {"chunk_id": ref, "content_hash": sha512(data)}
        started = self.start([item], force=force)
        assert started.status_code == 201, started.text
        issued = started.json()["id_map"][ref]
        assert self.upload(issued["presigned_url"], data).status_code == 204
        finished = self.finish({issued["symbol_set_id"]: sha512(data)})
        assert finished.status_code == 201, finished.text
        return issued["symbol_set_id"]

    def stored_bytes(self, symbol_set_id: str) -> bytes:
        link = self.request("GET", f"symbol_sets/{symbol_set_id}/download/")
        assert link.status_code == 200, link.text
        return requests.get(link.json()["url"], timeout=TIMEOUT).content


@pytest.fixture
def api(server, project_id, api_key):
    return Api(server, project_id, api_key)


def race(count: int, action) -> list:
    """Run action(0..count-1) in threads released together; return the results in order."""
    barrier = threading.Barrier(count, timeout=TIMEOUT)

    def run(number):
        barrier.wait()
        return action(number)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run, number) for number in range(count)]
        return [future.result(timeout=TIMEOUT * 2) for future in futures]


def assert_answered(server: GunicornServer, response: requests.Response, *allowed: int) -> None:
    """No server error; an error says what went wrong; a contended write also says when to retry."""
    assert response.status_code < 500, f"{response.status_code} {response.text}\n{server.log()}"
    assert response.status_code in allowed, f"{response.status_code} {response.text}"
    if response.status_code >= 400:
        assert_error_shape(response)
    if response.status_code == 409:
        assert response.json()["code"] == "contended", response.text
        assert int(response.headers["Retry-After"]) >= 1


def assert_error_shape(response: requests.Response) -> None:
    """PostHog's error shape, on the API and the local store's URLs alike."""
    assert set(response.json()) == {"type", "code", "detail", "attr"}, response.text


def rows_per_ref(app, project_id) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(SymbolSet.ref, func.count())
            .where(SymbolSet.project_id == project_id)
            .group_by(SymbolSet.ref)
        )
        counts = dict(rows.all())
        db.session.remove()
    return counts


def test_callers_starting_the_same_new_chunks_in_different_orders_get_one_set_each(app, api, project_id):
    refs = [f"race-{number}" for number in range(8)]
    blobs = {ref: cli_blob(ref) for ref in refs}

    def start(number):
        order = refs[number % len(refs) :] + refs[: number % len(refs)]
        if number % 2:
            order.reverse()
        return api.start([{"chunk_id": ref, "content_hash": sha512(blobs[ref])} for ref in order])

    started = race(CALLERS, start)

    for response in started:
        assert_answered(api.server, response, 201, 409)
    winners = [response.json()["id_map"] for response in started if response.status_code == 201]
    assert winners
    assert rows_per_ref(app, project_id) == {ref: 1 for ref in refs}
    for ref in refs:
        assert len({id_map[ref]["symbol_set_id"] for id_map in winners}) == 1

    # Every caller uploads to the URLs it got and finishes, all at once again: the URL issued last
    # for a chunk works; an earlier one, replaced meanwhile, is refused clearly or changes nothing.
    def upload_and_finish(number):
        id_map = winners[number % len(winners)]
        uploads = [api.upload(issued["presigned_url"], blobs[ref]) for ref, issued in id_map.items()]
        hashes = {issued["symbol_set_id"]: sha512(blobs[ref]) for ref, issued in id_map.items()}
        return uploads, api.finish(hashes)

    for uploads, finished in race(len(winners), upload_and_finish):
        for response in uploads:
            assert_answered(api.server, response, 204, 400, 403, 404, 409, 410)
        assert_answered(api.server, finished, 201, 400, 409)

    # A batch finish changes nothing when one of its files is missing (its URL's owner had not uploaded
    # yet, or a racing finish of the same set holds it), so a set may still be pending here: each caller
    # was told why above. A set never holds other bytes, and a plain retry completes it.
    for ref, symbol_set_id in ((ref, winners[0][ref]["symbol_set_id"]) for ref in refs):
        symbol_set = api.request("GET", f"symbol_sets/{symbol_set_id}/").json()
        if symbol_set["status"] != "uploaded":
            assert (symbol_set["status"], symbol_set["content_hash"]) == ("pending", None)
            assert api.upload_set(ref, blobs[ref]) == symbol_set_id
            symbol_set = api.request("GET", f"symbol_sets/{symbol_set_id}/").json()
        assert (symbol_set["status"], symbol_set["content_hash"]) == ("uploaded", sha512(blobs[ref]))
        assert api.stored_bytes(symbol_set_id) == blobs[ref]


def test_forced_starts_racing_deletes_and_finishes_never_fail_the_server(app, api, project_id):
    refs = [f"forced-{number}" for number in range(6)]
    blobs = {ref: cli_blob(ref) for ref in refs}
    ids = {ref: api.upload_set(ref, blobs[ref]) for ref in refs}
    shuffled = random.Random(6)

    def act(number):
        order = shuffled.sample(refs, len(refs))
        kind = number % 5
        if kind == 0:
            return "start", api.start([{"chunk_id": ref} for ref in order], force=True)
        if kind == 1:
            return "bulk_delete", api.request(
                "POST", "symbol_sets/bulk_delete/", json={"ids": [ids[ref] for ref in order]}
            )
        if kind == 2:
            return "delete", api.request("DELETE", f"symbol_sets/{ids[order[0]]}/")
        if kind == 3:
            return "finish", api.finish({ids[ref]: sha512(blobs[ref]) for ref in order})
        return "download", api.request("GET", f"symbol_sets/{ids[order[0]]}/download/")

    allowed = {
        "start": (201, 409),
        "bulk_delete": (200, 409),
        "delete": (204, 404, 409),
        "finish": (201, 400, 409),
        "download": (200, 404, 409),
    }
    results = race(CALLERS, act)
    for kind, response in results:
        assert_answered(api.server, response, *allowed[kind])
    assert set(rows_per_ref(app, project_id).values()) <= {1}

    # The URLs the forced starts got: each works, or is refused clearly (its set was deleted meanwhile).
    for kind, response in results:
        if kind == "start" and response.status_code == 201:
            for ref, issued in response.json()["id_map"].items():
                assert_answered(
                    api.server, api.upload(issued["presigned_url"], blobs[ref]), 204, 400, 403, 404, 410
                )
                finished = api.finish({issued["symbol_set_id"]: sha512(blobs[ref])})
                assert_answered(api.server, finished, 201, 400)

    # Nothing is left stuck: every chunk can be uploaded again, and there is still one set per chunk.
    for ref in refs:
        symbol_set_id = api.upload_set(ref, blobs[ref], force=True)
        assert api.stored_bytes(symbol_set_id) == blobs[ref]
    assert rows_per_ref(app, project_id) == {ref: 1 for ref in refs}


def test_callers_creating_the_same_release_get_one_release_and_clear_duplicates(app, api, project_id):
    body = {"version": "2.0.0", "project": "web", "hash_id": "build-2.0.0"}

    created = race(CALLERS, lambda _number: api.request("POST", "releases/", json=body))

    for response in created:
        assert_answered(api.server, response, 201, 400)
    assert sorted(response.status_code for response in created) == [201] + [400] * (CALLERS - 1)
    for response in created:
        if response.status_code == 400:
            assert_error_shape(response)
            assert (response.json()["code"], response.json()["attr"]) == ("unique", "hash_id")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Release)) == 1
        db.session.remove()


def test_old_clis_uploading_the_same_chunks_directly_at_once_all_land(app, api, project_id):
    """The deprecated direct upload, raced: every file is valid, so each lands (or is told to retry)."""
    refs = ["direct-a", "direct-b"]
    blobs = {ref: [cli_blob(ref), cli_blob(ref, version=1), cli_blob(ref, compression=0)] for ref in refs}
    api.upload_set("direct-b", blobs["direct-b"][0])  # one chunk exists already: its file is replaced

    def upload(number):
        ref, data = refs[number % 2], blobs[refs[number % 2]][number % 3]
        if number % 4 < 2:  # the old CLI's multipart form, and the older one's raw body
            return api.request(
                "POST", "symbol_sets", params={"chunk_id": ref}, files={"file": ("file", data)}
            )
        return api.request(
            "POST",
            "symbol_sets/",
            params={"chunk_id": ref},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    for response in race(CALLERS, upload):
        assert_answered(api.server, response, 201, 409)
        if response.status_code == 201:
            assert response.json() == {"ok": True}
    assert rows_per_ref(app, project_id) == {ref: 1 for ref in refs}
    for ref in refs:
        (symbol_set,) = api.request("GET", "symbol_sets/", params={"ref": ref}).json()["results"]
        assert symbol_set["status"] == "uploaded"
        assert symbol_set["content_hash"] in {sha512(blob) for blob in blobs[ref]}
        assert sha512(api.stored_bytes(symbol_set["id"])) == symbol_set["content_hash"]
