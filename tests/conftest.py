"""Fixtures: one migrated database per run (SQLite, or PostgreSQL via TEST_DATABASE_URL), emptied per test."""

import os
import re
import threading
import uuid
from contextlib import contextmanager
from functools import cache

import pytest
from flask import session
from flask_migrate import upgrade
from flask_wtf.csrf import generate_csrf
from sqlalchemy import event, text

from webapp import create_app
from webapp.auth import begin_session
from webapp.extensions import db
from webapp.models import Project, User
from webapp.services import accounts, api_keys
from webapp.storage.s3 import S3Storage

from .smtp_inbox import smtp_inbox

# An unknown id made with uuid4() as a test parameter differs in every xdist worker, and so would the test's
# id: such ids name the value's kind instead, so every worker collects the same tests (each keeps its value).
RANDOM_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def pytest_make_parametrize_id(config, val, argname):
    if isinstance(val, uuid.UUID):
        return "uuid"
    if isinstance(val, str) and RANDOM_UUID.search(val):
        return RANDOM_UUID.sub("uuid", val)
    return None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@contextmanager
def unmigrated_app(database_url, instance):
    """An app on an empty database of its own: the SQLite file given, or a new PostgreSQL schema."""
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "STORAGE_URL": "file://" + str(instance / "storage"),
        # scrypt costs ~0.1 s a hash and almost every test makes a user; production keeps it.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
    }
    schema = None
    if database_url.startswith(("postgres://", "postgresql")):
        # A schema of its own per run, so concurrent runs on one server cannot collide.
        schema = f"test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"options": f"-csearch_path={schema},public"}}
    app = create_app(config)
    app.instance_path = str(instance)
    if schema:
        with app.app_context(), db.engine.begin() as connection:
            # Extensions are database-wide: keep pg_trgm in public, shared by every run. Two runs (or two
            # xdist workers) creating it at once would collide on the catalog: take turns.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('tests: pg_trgm'))"))
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        # public stays on the search path for pg_trgm's operators; the version table must not
        # be found there, or a database someone migrated by hand would skip our migrations.
        app.extensions["migrate"].configure_args["version_table_schema"] = schema
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
            if schema:
                with db.engine.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    with unmigrated_app(database_url, tmp_path_factory.mktemp("instance")) as app:
        with app.app_context():
            upgrade()
            db.session.remove()
        yield app


@pytest.fixture(autouse=True)
def _empty_database(request):
    """Every test starts from empty tables (the schema is migrated once per run)."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    # Ids restart in every test, so a user's (and an address's) rate-limit counters would carry over.
    app.extensions["rate_limiter"].reset()
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for statement in emptying_statements(connection.dialect.name):
                connection.exec_driver_sql(statement)


@cache
def emptying_statements(dialect: str) -> list[str]:
    """What deletes every row, children first, and restarts the ids: one round trip on PostgreSQL.

    DELETE, not TRUNCATE: a test leaves a handful of rows, and PostgreSQL's TRUNCATE makes new files for
    every table and index (tens of milliseconds a test, far more than deleting a few rows). SQLite's
    ids restart by themselves (rowid tables without AUTOINCREMENT); PostgreSQL's sequences are set back
    to their start, as TRUNCATE ... RESTART IDENTITY did (this run's schema only: current_schema()).
    """
    deletes = [f"DELETE FROM {table.name}" for table in reversed(db.metadata.sorted_tables)]
    if dialect != "postgresql":
        return deletes  # SQLite runs one statement per call
    restart = (
        "SELECT setval(sequence.seqrelid, sequence.seqstart, false) FROM pg_sequence sequence"
        " JOIN pg_class class ON class.oid = sequence.seqrelid"
        " WHERE class.relnamespace = current_schema()::regnamespace"
    )
    return ["; ".join([*deletes, restart])]


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(app):
    def make(email="ada@example.com", organization="Analytical Engines", **kwargs):
        with app.app_context():
            user = accounts.create_user(email, PASSWORD, organization, **kwargs)
            user_id = user.id
            db.session.remove()
        return user_id

    return make


@pytest.fixture
def user_id(make_user):
    return make_user()


@pytest.fixture
def project_id(app, user_id):
    with app.app_context():
        project = accounts.resolve_project(accounts.get_user(user_id), "@current")
        return project.id


@pytest.fixture
def project(app_context, project_id):
    """The user's current project, loaded in the test's app context (for service-level tests)."""
    return db.session.get(Project, project_id)


@pytest.fixture
def actor(app_context, user_id):
    """The user acting in service-level tests."""
    return db.session.get(User, user_id)


@pytest.fixture
def make_key(app):
    def make(user_id, scopes="*", scoped_teams=None, label=None):
        with app.app_context():
            user = accounts.get_user(user_id)
            _, raw = api_keys.create_key(
                user, label or api_keys.unused_label(user, "test key"), scopes, scoped_teams
            )
            db.session.remove()
        return raw

    return make


@pytest.fixture
def api_key(make_key, user_id):
    return make_key(user_id)


@pytest.fixture
def auth(api_key):
    return {"Authorization": f"Bearer {api_key}"}


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


def log_in(client, user_id: int) -> str:
    """Put a logged-in session for the user into the client's cookie; return its CSRF token.

    Skips the login form (tests of the form itself post /login): the app's own begin_session starts
    a server-side session and writes the session keys, exactly as a real login does.
    """
    app = client.application
    with app.test_request_context(environ_base=client.environ_base):
        begin_session(accounts.get_user(user_id))
        token = generate_csrf()
        values = dict(session)
        db.session.remove()
    with client.session_transaction() as client_session:
        client_session.clear()
        client_session.update(values)
    return token


@pytest.fixture
def logged_in(client, user_id):
    """Log the client in as the default user; return the CSRF token for later requests."""
    return log_in(client, user_id)


@pytest.fixture
def smtp_server(app):
    """A real SMTP server on 127.0.0.1 that the app sends through; its Inbox keeps what arrives."""
    with smtp_inbox(app) as inbox:
        yield inbox


@pytest.fixture
def run(app):
    """Invoke a flask command: run("keys", "create", ...)."""
    runner = app.test_cli_runner()

    def invoke(*args, input=None):
        return runner.invoke(args=list(args), input=input)

    return invoke


def assert_clean_error(result, message, exit_code=1):
    """A failed command exits non-zero with a readable message and no traceback."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert message in result.stderr
    assert "Traceback" not in result.output


def queries(statements: list[str]) -> list[str]:
    """The statements that read or write, without transaction control (SQLite's explicit BEGIN)."""
    return [s for s in statements if s.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]


def stored_json_texts(connection, table: str, key: str, column: str) -> dict:
    """key -> a JSON column's stored text (PostgreSQL's json cast to text; SQLite's as stored)."""
    read = f"CAST({column} AS TEXT)" if connection.dialect.name == "postgresql" else column
    return dict(connection.execute(text(f"SELECT {key}, {read} FROM {table}")).all())


def assert_api_list_queries(statements: list[str], table: str, full_page: bool) -> None:
    """An API-key list request's whole SQL, whatever the page size: the key with its user and the project
    with the caller's membership in one statement, then the page, then the count only when the page is full
    (a page with room to spare holds every row: its length is the count)."""
    key, page, *count = queries(statements)
    assert "FROM personal_api_keys JOIN users" in key, key
    assert "JOIN projects" in key and "FROM memberships" in key, key
    assert f"FROM {table}" in page and "LIMIT" in page, page
    assert len(count) == full_page, statements
    assert all(text.startswith("SELECT count(*)") and f"FROM {table} " in text for text in count), count


def race(app, user_id, project_id, count, action) -> list:
    """Run action(number, project, user) in `count` threads released together; return the errors."""
    errors = []
    start = threading.Barrier(count, timeout=30)

    def run(number):
        # A request context: starting uploads signs URLs for the current host.
        with app.test_request_context():
            user = accounts.get_user(user_id)
            project = accounts.resolve_project(user, project_id)
            start.wait()
            try:
                action(number, project, user)
            except Exception as error:  # noqa: BLE001 - collected and asserted by the caller
                errors.append(repr(error))
            db.session.remove()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racer never finished"
    return errors


@contextmanager
def count_statements(app):
    """Collect the SQL statements run inside the block (for N+1 checks)."""
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


S3_BUCKET = "test-objects"


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-compatible HTTP server on localhost (moto's server mode) with one bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", os.devnull)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=S3_BUCKET)
        yield endpoint
        server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint):
    """One client for the whole run (making one loads botocore's models: a third of a second)."""
    return S3Storage(S3_BUCKET, endpoint_url=s3_endpoint).client


def s3_storage(client) -> S3Storage:
    """A store in the test bucket under a prefix of its own."""
    return S3Storage(S3_BUCKET, prefix=f"test-{uuid.uuid4().hex}", client=client)


@contextmanager
def installed_storage(app, storage):
    """Make `storage` the app's store for the block."""
    previous = app.extensions["storage"]
    app.extensions["storage"] = storage
    try:
        yield storage
    finally:
        app.extensions["storage"] = previous
