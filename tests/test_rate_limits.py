"""API rate limits: 429 throttled_error with Retry-After, per key and per user, uploads apart, in Redis."""

import logging
import re
import socket
import uuid
from contextlib import contextmanager

import pytest

from webapp import create_app
from webapp.extensions import db

from .tcp_proxy import TcpProxy

PROJECTS = "/api/projects/"


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def limits(app, monkeypatch):
    """Set the API and upload budgets for this test (the limits are read per request)."""

    def set_limits(api="480/minute;4800/hour", uploads="1200/minute"):
        monkeypatch.setitem(app.config, "API_RATE_LIMITS", api)
        monkeypatch.setitem(app.config, "UPLOAD_RATE_LIMITS", uploads)

    return set_limits


def assert_throttled(response, most_seconds: int) -> int:
    """A PostHog throttle answer; return the advertised wait."""
    assert response.status_code == 429, response.get_data(as_text=True)
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= most_seconds
    unit = "second" if wait == 1 else "seconds"
    assert response.get_json() == {
        "type": "throttled_error",
        "code": "throttled",
        "detail": f"Request was throttled. Expected available in {wait} {unit}.",
        "attr": None,
    }
    return wait


def test_a_key_is_throttled_after_its_burst_and_others_are_not(client, limits, make_key, user_id):
    limits(api="3/minute;100/hour")
    first, second = make_key(user_id, label="one"), make_key(user_id, label="two")
    for _ in range(3):
        assert client.get(PROJECTS, headers=bearer(first)).status_code == 200
    assert_throttled(client.get(PROJECTS, headers=bearer(first)), 60)
    # Every way of presenting the key counts against the same budget.
    assert_throttled(client.get(PROJECTS, query_string={"personal_api_key": first}), 60)
    # The budget is the key's, not the user's or the server's.
    assert client.get(PROJECTS, headers=bearer(second)).status_code == 200


def test_the_sustained_limit_holds_after_the_burst_allows_more(client, limits, api_key):
    limits(api="100/minute;2/hour")
    for _ in range(2):
        assert client.get(PROJECTS, headers=bearer(api_key)).status_code == 200
    wait = assert_throttled(client.get(PROJECTS, headers=bearer(api_key)), 3600)
    assert wait > 60  # the hour's window, not the minute's


def test_browser_session_calls_count_per_user(client, logged_in, limits, make_user, make_key):
    limits(api="2/minute")
    for _ in range(2):
        assert client.get(PROJECTS).status_code == 200
    assert_throttled(client.get(PROJECTS), 60)
    # Writes through the session are throttled before anything is written.
    created = client.post(
        "/api/environments/@current/evaluations/",
        json={"name": "Blocked", "prompt": "Is it?"},
        headers={"X-CSRFToken": logged_in},
    )
    assert_throttled(created, 60)
    assert client.get("/project/1/evaluations").status_code == 200  # pages are not API calls
    other_key = make_key(make_user("grace@example.com"))
    assert client.get(PROJECTS, headers=bearer(other_key)).status_code == 200


def test_a_session_call_with_the_database_down_is_503_and_the_limiter_keeps_its_storage(
    app, client, logged_in, caplog
):
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))  # bound, never listening: the database refuses every connection
        down = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{reserved.getsockname()[1]}/webapp"}
        with app_instance(app, SQLALCHEMY_ENGINE_OPTIONS={}, **down) as down_app:
            browser = down_app.test_client()
            browser.set_cookie("session", client.get_cookie("session").value)
            response = browser.get(PROJECTS)
    assert response.status_code == 503
    assert response.get_json()["code"] == "service_unavailable"
    assert not [record for record in caplog.records if "Rate limit storage" in record.message]


def test_callers_without_credentials_get_401_and_a_wrong_key_is_counted_like_any(client, limits, caplog):
    limits(api="1/minute")
    for _ in range(3):
        assert client.get(PROJECTS).status_code == 401
    # A script looping with a revoked key is slowed down like any other caller.
    assert client.get(PROJECTS, headers=bearer("phx_revoked")).status_code == 401
    assert_throttled(client.get(PROJECTS, headers=bearer("phx_revoked")), 60)
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def start_upload(client, key, project_id):
    return client.post(
        f"/api/environments/{project_id}/error_tracking/symbol_sets/bulk_start_upload/",
        headers=bearer(key),
        json={"chunk_ids": [str(uuid.uuid4())]},
    )


def test_upload_steps_have_their_own_budget(client, limits, api_key, project_id):
    limits(api="2/minute", uploads="3/minute")
    for _ in range(2):
        assert client.get(PROJECTS, headers=bearer(api_key)).status_code == 200
    assert_throttled(client.get(PROJECTS, headers=bearer(api_key)), 60)
    # The burst is spent, but a build can still upload: its steps draw on the upload budget.
    for _ in range(3):
        assert start_upload(client, api_key, project_id).status_code == 201
    assert_throttled(start_upload(client, api_key, project_id), 60)
    finish = client.post(
        f"/api/environments/{project_id}/error_tracking/symbol_sets/bulk_finish_upload/",
        headers=bearer(api_key),
        json={"content_hashes": {}},
    )
    assert_throttled(finish, 60)


def test_the_local_upload_url_is_throttled_per_client_address(client, limits):
    limits(uploads="2/minute")
    for _ in range(2):
        # No form at all: refused by the endpoint, but counted (the limit comes before the body).
        assert client.post("/storage/upload").status_code == 400
    assert_throttled(client.post("/storage/upload"), 60)
    other = client.post("/storage/upload", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 400


@contextmanager
def app_instance(app, **config):
    """Another app on the same database, as a second gunicorn worker or machine would run it."""
    same = ("TESTING", "DATABASE_URL", "SECRET_KEY", "STORAGE_URL", "SQLALCHEMY_ENGINE_OPTIONS")
    other = create_app({name: app.config[name] for name in same} | config)
    try:
        yield other
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_limits_hold_across_app_instances_sharing_redis(app, api_key):
    shared = {
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        # Other test runs may share the Redis server: counters of this test's own.
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "API_RATE_LIMITS": "3/minute",
    }
    with app_instance(app, **shared) as first, app_instance(app, **shared) as second:
        assert first.test_client().get(PROJECTS, headers=bearer(api_key)).status_code == 200
        assert second.test_client().get(PROJECTS, headers=bearer(api_key)).status_code == 200
        assert first.test_client().get(PROJECTS, headers=bearer(api_key)).status_code == 200
        assert_throttled(second.test_client().get(PROJECTS, headers=bearer(api_key)), 60)
        assert_throttled(first.test_client().get(PROJECTS, headers=bearer(api_key)), 60)


def test_an_unreachable_redis_falls_back_to_counting_in_the_worker(app, api_key, caplog):
    unreachable = {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1", "API_RATE_LIMITS": "2/minute"}
    with app_instance(app, **unreachable) as worker:
        client = worker.test_client()
        for _ in range(2):
            assert client.get(PROJECTS, headers=bearer(api_key)).status_code == 200
        assert_throttled(client.get(PROJECTS, headers=bearer(api_key)), 60)
    assert any(re.search("falling back to in-memory", record.message) for record in caplog.records)


def test_counting_returns_to_redis_when_it_is_back(app, api_key, caplog, monkeypatch):
    monkeypatch.setattr("webapp.ratelimit.RECHECK_SECONDS", 0)  # look for Redis again at the next request
    caplog.set_level(logging.INFO, logger="webapp.ratelimit")
    redis = TcpProxy("127.0.0.1", 6379)
    shared = {
        "RATELIMIT_STORAGE_URI": redis.url("redis"),
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "API_RATE_LIMITS": "3/minute",
    }
    try:
        with app_instance(app, **shared) as first, app_instance(app, **shared) as second:
            assert first.test_client().get(PROJECTS, headers=bearer(api_key)).status_code == 200
            redis.down()
            # Counted in the first worker's memory meanwhile, not in Redis.
            assert first.test_client().get(PROJECTS, headers=bearer(api_key)).status_code == 200
            redis.up()
            assert second.test_client().get(PROJECTS, headers=bearer(api_key)).status_code == 200
            assert first.test_client().get(PROJECTS, headers=bearer(api_key)).status_code == 200
            # Redis holds three calls again: the burst is spent for both workers.
            assert_throttled(second.test_client().get(PROJECTS, headers=bearer(api_key)), 60)
    finally:
        redis.down()
    messages = [record.message for record in caplog.records]
    assert any("falling back to in-memory" in message for message in messages)
    assert "Rate limit storage recovered" in messages


def test_a_limit_that_does_not_parse_stops_startup(app):
    config = {name: app.config[name] for name in ("TESTING", "DATABASE_URL", "SECRET_KEY", "STORAGE_URL")}
    with pytest.raises(ValueError, match="API_RATE_LIMITS: .*'480 a minute'"):
        create_app(config | {"API_RATE_LIMITS": "480 a minute"})
