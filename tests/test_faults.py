"""Outages answer 503 and pass by themselves: the database down, restarted, locked or full; the store down.

Every fault is real: a port where nothing listens, a TCP proxy the test cuts (PostgreSQL, S3), backends
terminated by the server, another SQLite writer holding the lock, SQLite's page limit, a file where the
storage folder should be.
"""

import io
import os
import socket
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from flask_migrate import upgrade
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from webapp import create_app, database
from webapp.extensions import db
from webapp.models import ActivityLog, SymbolSet
from webapp.services import accounts, api_keys
from webapp.storage.local import LocalStorage
from webapp.storage.s3 import S3Storage

from .conftest import PASSWORD, S3_BUCKET, assert_clean_error, csrf_token_from, installed_storage
from .symbol_blobs import cli_blob, sha512
from .tcp_proxy import TcpProxy

HX = {"HX-Request": "true"}


def assert_unavailable_json(response):
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {
        "type": "server_error",
        "code": "service_unavailable",
        "detail": body["detail"],
        "attr": None,
    }
    assert "try again" in body["detail"]
    assert int(response.headers["Retry-After"]) > 0


def assert_unavailable_page(response):
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html
    assert response.mimetype == "text/html" and int(response.headers["Retry-After"]) > 0
    assert "Unavailable for a moment" in html and "nothing was changed" in html
    # The page stands alone: no layout that needs the signed-in user, nothing inline for the CSP to block.
    assert "Log out" not in html and "<script" not in html and "<style" not in html and "style=" not in html
    assert "HX-Redirect" not in response.headers


@pytest.fixture
def make_app(app):
    """Another app on the test database, with an engine and pool of its own; config overrides apply."""
    made = []

    def make(**overrides):
        keys = (
            "TESTING",
            "SECRET_KEY",
            "STORAGE_URL",
            "DATABASE_URL",
            "SQLALCHEMY_ENGINE_OPTIONS",
            "PASSWORD_HASH_METHOD",
        )
        other = create_app({**{key: app.config[key] for key in keys}, **overrides})
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


def session_of(client, app):
    """A test client of `app` carrying the session cookie `client` logged in with."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def evaluations_url(project_id):
    return f"/api/projects/{project_id}/evaluations/"


# --- the database is down ----------------------------------------------------------------------


@pytest.fixture
def down_app(make_app):
    """An app whose database is a PostgreSQL address where nothing listens (on either run)."""
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))  # bound and never listening: every connection is refused
        port = reserved.getsockname()[1]
        yield make_app(
            DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/webapp", SQLALCHEMY_ENGINE_OPTIONS={}
        )


def test_the_api_with_the_database_down_is_503_in_the_error_shape(down_app, auth, project_id):
    client = down_app.test_client()
    assert_unavailable_json(client.get("/api/users/@me/", headers=auth))
    assert_unavailable_json(client.get(evaluations_url(project_id), headers=auth))  # driver_reads.py
    assert_unavailable_json(client.post(evaluations_url(project_id), json={"name": "n"}, headers=auth))


def test_a_database_host_that_never_answers_is_503_after_the_connect_timeout(make_app, auth):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never accepts, never answers
        port = silent.getsockname()[1]
        app = make_app(
            DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/webapp",
            SQLALCHEMY_ENGINE_OPTIONS={},
            DATABASE_CONNECT_TIMEOUT=2,
        )
        answers = []
        request = threading.Thread(
            target=lambda: answers.append(app.test_client().get("/api/users/@me/", headers=auth))
        )
        request.start()
        request.join(timeout=60)  # without a connect timeout the request would wait for minutes
        assert answers, "the request still waits for the database"
    assert_unavailable_json(answers[0])


def test_logging_in_with_the_database_down_is_the_plain_503_page(down_app, user_id):
    client = down_app.test_client()
    form = client.get("/login")  # the form itself needs no database
    assert form.status_code == 200
    response = client.post(
        "/login",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf_token_from(form.text)},
    )
    assert_unavailable_page(response)


@pytest.mark.parametrize(
    "method, path, headers",
    [
        ("get", "/", {}),
        ("get", "/project/{project_id}/evaluations/", {}),
        ("get", "/project/{project_id}/evaluations/?search=abc", HX),
        ("get", "/project/{project_id}/symbol-sets/", HX),
        ("post", "/project/{project_id}/evaluations/" + str(uuid.uuid4()) + "/enabled", HX),
        ("get", "/no-such-page", {}),  # the 404 page's layout needs the signed-in user
    ],
)
def test_signed_in_pages_and_partials_with_the_database_down_are_the_plain_503_page(
    client, logged_in, down_app, project_id, method, path, headers
):
    browser = session_of(client, down_app)
    response = getattr(browser, method)(
        path.format(project_id=project_id), headers={**headers, "X-CSRFToken": logged_in}
    )
    assert_unavailable_page(response)


# --- the database goes away and comes back ------------------------------------------------------


class ProxiedDatabase:
    """PostgreSQL behind a proxy: down() refuses new connections and cuts the pooled ones."""

    def __init__(self, make_app, database_url):
        url = make_url(database_url)
        self.proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        proxied = url.set(host="127.0.0.1", port=self.proxy.port)
        self.app = make_app(DATABASE_URL=proxied.render_as_string(hide_password=False))

    @contextmanager
    def down(self):
        self.proxy.down()
        try:
            yield
        finally:
            self.proxy.up()

    def close(self):
        if self.proxy.is_up:
            self.proxy.down()


class LockedDatabase:
    """SQLite while another process holds the write lock past the busy timeout."""

    def __init__(self, make_app, database_url):
        self.path = make_url(database_url).database
        self.app = make_app(SQLITE_BUSY_TIMEOUT_MS=100)

    @contextmanager
    def down(self):
        holder = sqlite3.connect(self.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    def close(self):
        pass


@pytest.fixture
def outage(make_app, database_url):
    kind = ProxiedDatabase if make_url(database_url).get_backend_name() == "postgresql" else LockedDatabase
    database = kind(make_app, database_url)
    yield database
    database.close()


def test_an_outage_is_503_and_the_same_app_recovers(outage, auth, project_id):
    client = outage.app.test_client()
    url = evaluations_url(project_id)
    assert client.post(url, json={"name": "before", "prompt": "p"}, headers=auth).status_code == 201
    with outage.down():
        assert_unavailable_json(client.post(url, json={"name": "during", "prompt": "p"}, headers=auth))
    assert client.post(url, json={"name": "after", "prompt": "p"}, headers=auth).status_code == 201
    listed = client.get(url, headers=auth)
    assert sorted(item["name"] for item in listed.get_json()["results"]) == ["after", "before"]


def kill(app, connections) -> None:
    """What a database restart does to a pool: every connection in it is dead."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            pids = [connection.info.backend_pid for connection in connections]
            with db.engine.begin() as admin:
                # The timeout makes it wait until each backend has really exited.
                killed = admin.scalar(
                    text("SELECT count(*) FROM unnest(:pids) AS pid WHERE pg_terminate_backend(pid, 5000)"),
                    {"pids": pids},
                )
            assert killed == len(pids)
        else:
            for connection in connections:
                connection.close()
                with pytest.raises(sqlite3.ProgrammingError):
                    connection.execute("SELECT 1")


def test_a_database_restart_costs_no_request(app, make_app, client, logged_in, auth, project_id):
    other = make_app()
    opened = []
    with other.app_context():
        event.listen(db.engine, "connect", lambda connection, _record: opened.append(connection))
    api, browser = other.test_client(), session_of(client, other)
    page = f"/project/{project_id}/evaluations/"
    assert api.get("/api/users/@me/", headers=auth).status_code == 200
    assert browser.get(page).status_code == 200
    assert opened

    kill(app, opened)

    assert api.get(evaluations_url(project_id), headers=auth).status_code == 200  # driver_reads.py
    assert api.get("/api/users/@me/", headers=auth).status_code == 200
    assert browser.get(page).status_code == 200


def test_the_pre_ping_of_a_live_postgresql_connection_sends_nothing(app):
    """database._ping_by_socket: the SELECT 1 goes out only once the server has ended the connection."""
    with app.app_context():
        installed = "do_ping" in vars(db.engine.dialect)
        if db.engine.dialect.name != "postgresql":
            # A SQLite file has no connection to lose: its pool does not ping at all.
            assert not installed and not db.engine.pool._pre_ping
            return
        assert installed
        pinged = []

        class Dialect:
            def do_ping(self, connection):
                pinged.append(connection)
                return True

        dialect = Dialect()
        database._ping_by_socket(dialect)
        pooled = db.engine.raw_connection()
        try:
            connection = pooled.driver_connection
            assert dialect.do_ping(connection) and pinged == []
            kill(app, [connection])
            assert dialect.do_ping(connection) and pinged == [connection]
        finally:
            pooled.invalidate()
            pooled.close()


# --- SQLite's disk is full ----------------------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path):
    """An app on a SQLite file of its own: the full disk is SQLite's fault, tested on either run."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'full.sqlite3'}",
            "SECRET_KEY": "test-secret-key",
            "STORAGE_URL": f"file://{tmp_path / 'storage'}",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
        }
    )
    with app.app_context():
        upgrade()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_a_full_disk_under_sqlite_is_503_and_writes_nothing(sqlite_app, tmp_path):
    with sqlite_app.app_context():
        user = accounts.create_user("ada@example.com", PASSWORD, "Analytical Engines")
        project_id = accounts.resolve_project(user, "@current").id
        _, key = api_keys.create_key(user, "ci", "*", None)
        engine = db.engine
        db.session.remove()
    auth = {"Authorization": f"Bearer {key}"}
    unlimited = sqlite3.connect(":memory:").execute("PRAGMA max_page_count").fetchone()[0]
    disk = {"full": False}

    @event.listens_for(engine, "checkout")
    def limit_pages(connection, _record, _proxy):
        # The limit cannot go below the file's size: 1 means "not one page more", as on a full disk.
        connection.execute(f"PRAGMA max_page_count = {1 if disk['full'] else unlimited}")

    client = sqlite_app.test_client()
    url = evaluations_url(project_id)
    big = {"name": "big", "prompt": "x" * 200_000}  # needs new pages
    assert client.post(url, json={"name": "small", "prompt": "p"}, headers=auth).status_code == 201

    disk["full"] = True
    assert_unavailable_json(client.post(url, json=big, headers=auth))

    disk["full"] = False
    with sqlite3.connect(tmp_path / "full.sqlite3") as check:
        assert check.execute("SELECT name FROM evaluations").fetchall() == [("small",)]
        assert check.execute("SELECT count(*) FROM activity_log").fetchone() == (1,)
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert client.post(url, json=big, headers=auth).status_code == 201  # space again: the same app writes


# --- the object store is down --------------------------------------------------------------------


class S3Down:
    """The app's store is S3 behind a proxy the test cuts."""

    name = "s3"

    def __init__(self, app, s3_endpoint):
        target = urlsplit(s3_endpoint)
        self.proxy = TcpProxy(target.hostname, target.port)
        client = boto3.client(
            "s3",
            endpoint_url=self.proxy.url(),
            region_name="us-east-1",
            # One attempt: the outage is immediate, not after botocore's backoff.
            config=Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 1}),
        )
        self.storage = S3Storage(S3_BUCKET, prefix=f"faults-{uuid.uuid4().hex}", client=client)

    def post(self, app, presigned: dict, data: bytes) -> int:
        response = requests.post(presigned["url"], data=presigned["fields"], files={"file": data}, timeout=30)
        return response.status_code

    def get(self, app, url: str) -> bytes:
        response = requests.get(url, timeout=30)
        assert response.status_code == 200
        return response.content

    def down(self):
        self.proxy.down()

    def up(self):
        self.proxy.up()

    def close(self):
        if self.proxy.is_up:
            self.proxy.down()


class LocalFolderGone:
    """The app's store is a local folder, and a file takes the folder's place (a lost mount, a bad deploy)."""

    name = "local"

    def __init__(self, app, tmp_path: Path):
        self.root = tmp_path / "objects"
        self.away = tmp_path / "objects-away"
        self.storage = LocalStorage(self.root, secret_key=app.config["SECRET_KEY"])
        self.root.mkdir()

    def post(self, app, presigned: dict, data: bytes) -> int:
        response = app.test_client().post(
            urlsplit(presigned["url"]).path,
            data={**presigned["fields"], "file": (io.BytesIO(data), "file")},
            content_type="multipart/form-data",
        )
        return response.status_code

    def get(self, app, url: str) -> bytes:
        parts = urlsplit(url)
        response = app.test_client().get(parts.path, query_string=parts.query)
        assert response.status_code == 200
        return response.get_data()

    def down(self):
        os.rename(self.root, self.away)
        self.root.write_bytes(b"")

    def up(self):
        self.root.unlink()
        os.rename(self.away, self.root)

    def close(self):
        if self.away.exists():
            self.up()


@pytest.fixture(params=["s3", "local"])
def store(request, app, tmp_path):
    if request.param == "s3":
        fault = S3Down(app, request.getfixturevalue("s3_endpoint"))
    else:
        fault = LocalFolderGone(app, tmp_path)
    with installed_storage(app, fault.storage):
        yield fault
    fault.close()


def set_row(app, symbol_set_id: str) -> dict:
    with app.app_context():
        row = db.session.scalar(select(SymbolSet).where(SymbolSet.id == uuid.UUID(symbol_set_id)))
        fields = ("content_hash", "size_bytes", "storage_ptr", "failure_reason", "uploaded_at", "last_used")
        state = {"status": row.status, **{field: getattr(row, field) for field in fields}}
        state["events"] = db.session.scalar(
            select(func.count()).select_from(ActivityLog).where(ActivityLog.item_id == str(row.id))
        )
        db.session.remove()
    return state


def symbol_sets_url(project_id: int, path: str) -> str:
    return f"/api/environments/{project_id}/error_tracking/symbol_sets/{path}"


def upload_set(client, auth, project_id, store, app, chunk_id: str, data: bytes, **flags) -> str:
    """Start and upload (not finish) one chunk; return the set's id."""
    started = client.post(
        symbol_sets_url(project_id, "bulk_start_upload"),
        json={"symbol_sets": [{"chunk_id": chunk_id, "content_hash": sha512(data)}], **flags},
        headers=auth,
    )
    assert started.status_code == 201, started.get_json()
    issued = started.get_json()["id_map"][chunk_id]
    assert store.post(app, issued["presigned_url"], data) == 204
    return issued["symbol_set_id"]


def finish(client, auth, project_id, symbol_set_id: str, data: bytes):
    return client.post(
        symbol_sets_url(project_id, "bulk_finish_upload"),
        json={"content_hashes": {symbol_set_id: sha512(data)}},
        headers=auth,
    )


def downloaded(client, auth, project_id, store, app, symbol_set_id: str) -> bytes:
    response = client.get(symbol_sets_url(project_id, f"{symbol_set_id}/download/"), headers=auth)
    assert response.status_code == 200, response.get_json()
    return store.get(app, response.get_json()["url"])


def test_uploading_with_the_store_down_is_503_and_the_upload_can_be_repeated(
    app, client, auth, project_id, store
):
    data = cli_blob("chunk-1")
    started = client.post(
        symbol_sets_url(project_id, "bulk_start_upload"),
        json={"symbol_sets": [{"chunk_id": "chunk-1", "content_hash": sha512(data)}]},
        headers=auth,
    )
    issued = started.get_json()["id_map"]["chunk-1"]

    store.down()
    if store.name == "local":  # the app itself takes the upload, and answers in the error shape
        response = app.test_client().post(
            urlsplit(issued["presigned_url"]["url"]).path,
            data={**issued["presigned_url"]["fields"], "file": (io.BytesIO(data), "file")},
            content_type="multipart/form-data",
        )
        assert_unavailable_json(response)
    else:  # S3 itself is unreachable: the client's upload fails before reaching it
        with pytest.raises(requests.ConnectionError):
            store.post(app, issued["presigned_url"], data)

    store.up()
    assert store.post(app, issued["presigned_url"], data) == 204
    assert finish(client, auth, project_id, issued["symbol_set_id"], data).status_code == 201
    assert downloaded(client, auth, project_id, store, app, issued["symbol_set_id"]) == data


def test_finishing_with_the_store_down_is_503_and_finishes_later(app, client, auth, project_id, store):
    data = cli_blob("chunk-1")
    set_id = upload_set(client, auth, project_id, store, app, "chunk-1", data)
    before = set_row(app, set_id)

    store.down()
    assert_unavailable_json(finish(client, auth, project_id, set_id, data))
    assert set_row(app, set_id) == before and before["status"] == "pending"  # not failed: nothing was checked

    store.up()
    assert finish(client, auth, project_id, set_id, data).status_code == 201
    assert set_row(app, set_id)["content_hash"] == sha512(data)
    assert downloaded(client, auth, project_id, store, app, set_id) == data


def test_replacing_in_the_browser_with_the_store_down_is_503_and_keeps_the_file(
    app, client, logged_in, auth, project_id, store
):
    data = cli_blob("chunk-1")
    set_id = upload_set(client, auth, project_id, store, app, "chunk-1", data)
    assert finish(client, auth, project_id, set_id, data).status_code == 201
    before = set_row(app, set_id)

    store.down()
    response = client.post(
        f"/project/{project_id}/symbol-sets/{set_id}/replace",
        data={
            "confirmed": "1",  # the answer to "This replaces the file in use"
            "source": (io.BytesIO(b"function a(){}\n//# chunkId=chunk-1\n"), "app.min.js"),
            "source_map": (
                io.BytesIO(b'{"version": 3, "sources": [], "names": [], "mappings": ""}'),
                "app.min.js.map",
            ),
        },
        content_type="multipart/form-data",
        headers={**HX, "X-CSRFToken": logged_in},
    )
    assert_unavailable_page(response)
    assert set_row(app, set_id) == before

    store.up()
    assert downloaded(client, auth, project_id, store, app, set_id) == data


def test_commands_with_the_database_down_say_so_in_one_line(down_app):
    runner = down_app.test_cli_runner()
    for args in (
        ["users", "create", "grace@example.com", "--password", PASSWORD, "--organization", "Navy"],
        ["keys", "create", "ada@example.com", "--scopes", "*"],
        ["seed-demo", "--if-empty"],
        ["symbol-sets", "expire-pending"],
        ["symbol-sets", "mark-failed", "1", "app.js", "--reason", "No map"],
    ):
        result = runner.invoke(args=args)
        assert_clean_error(result, "The database or file storage is unavailable")
