"""The request gate: at most a few body-less requests run the app's code at once per worker process."""

import threading
import time

import pytest

from webapp import create_app
from webapp.extensions import db
from webapp.request_gate import SQLITE_SLOTS, RequestGate, configured_slots

LONG_WAIT = 10.0  # seconds: longer than any of these tests waits for anything


class BlockingApp:
    """A WSGI app that records who entered and holds each request until its event is set."""

    def __init__(self):
        self.entered: list[str] = []
        self.release: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        name = environ["PATH_INFO"]
        with self.lock:
            self.entered.append(name)
        if environ.get("test.raise"):
            raise RuntimeError("the view failed")
        self.release.setdefault(name, threading.Event()).wait(LONG_WAIT)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def hold(self, name: str) -> None:
        self.release[name] = threading.Event()

    def wait_until_entered(self, name: str, timeout: float = LONG_WAIT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if name in self.entered:
                return True
            time.sleep(0.005)
        return False


def call_in_thread(app, path: str, **environ) -> threading.Thread:
    def run():
        b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET", **environ}, lambda *args: None))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_body_less_request_waits_for_a_free_slot():
    inner = BlockingApp()
    gate = RequestGate(inner, slots=1, wait_seconds=LONG_WAIT)
    inner.hold("/first")
    first = call_in_thread(gate, "/first")
    assert inner.wait_until_entered("/first")
    second = call_in_thread(gate, "/second")
    assert not inner.wait_until_entered("/second", timeout=0.3)  # the one slot is taken
    inner.release["/first"].set()
    first.join(LONG_WAIT)
    assert inner.wait_until_entered("/second")
    inner.release["/second"].set()
    second.join(LONG_WAIT)
    assert inner.entered == ["/first", "/second"]


def test_requests_with_a_body_are_never_gated():
    """An upload spends its time receiving its body: a slow uploader must never hold a slot."""
    inner = BlockingApp()
    gate = RequestGate(inner, slots=1, wait_seconds=LONG_WAIT)
    for name in ("/held", "/upload", "/chunked"):
        inner.hold(name)
    threads = [call_in_thread(gate, "/held")]
    assert inner.wait_until_entered("/held")
    threads.append(call_in_thread(gate, "/upload", REQUEST_METHOD="POST", CONTENT_LENGTH="10"))
    threads.append(call_in_thread(gate, "/chunked", REQUEST_METHOD="PUT", HTTP_TRANSFER_ENCODING="chunked"))
    assert inner.wait_until_entered("/upload") and inner.wait_until_entered("/chunked")
    for event in inner.release.values():
        event.set()
    for thread in threads:
        thread.join(LONG_WAIT)


def test_a_request_runs_anyway_once_it_has_waited_its_time():
    """A slow request (a long database wait) delays the others by the wait at most, never stalls them."""
    inner = BlockingApp()
    gate = RequestGate(inner, slots=1, wait_seconds=0.1)
    inner.hold("/slow")
    slow = call_in_thread(gate, "/slow")
    assert inner.wait_until_entered("/slow")
    started = time.monotonic()
    inner.release["/next"] = threading.Event()
    inner.release["/next"].set()
    b"".join(gate({"PATH_INFO": "/next", "REQUEST_METHOD": "GET"}, lambda *args: None))
    assert 0.1 <= time.monotonic() - started < 2.0
    assert not inner.release["/slow"].is_set()  # the slow one is still inside
    inner.release["/slow"].set()
    slow.join(LONG_WAIT)
    # The late request held no slot, so it gave none back: one slot, free again.
    assert gate.slots.acquire(blocking=False)
    assert not gate.slots.acquire(blocking=False)


def test_a_failing_request_gives_its_slot_back():
    inner = BlockingApp()
    gate = RequestGate(inner, slots=1, wait_seconds=LONG_WAIT)
    with pytest.raises(RuntimeError, match="the view failed"):
        gate({"PATH_INFO": "/fails", "REQUEST_METHOD": "GET", "test.raise": True}, lambda *args: None)
    assert gate.slots.acquire(blocking=False)


def test_sending_a_streamed_body_holds_no_slot():
    """The slot is given back once the app has built its response; the body is sent outside the gate."""
    sending = threading.Event()

    def streaming(environ, start_response):
        start_response("200 OK", [])

        def body():
            sending.wait(LONG_WAIT)  # a slow client reading a large download
            yield b"done"

        return body()

    gate = RequestGate(streaming, slots=1, wait_seconds=LONG_WAIT)
    response = gate({"PATH_INFO": "/download", "REQUEST_METHOD": "GET"}, lambda *args: None)
    assert gate.slots.acquire(blocking=False)  # free while the body is still unsent
    gate.slots.release()
    sending.set()
    assert b"".join(response) == b"done"


def test_no_slots_means_no_gate():
    inner = BlockingApp()
    gate = RequestGate(inner, slots=0)
    for name in ("/a", "/b", "/c"):
        inner.hold(name)
    threads = [call_in_thread(gate, name) for name in ("/a", "/b", "/c")]
    assert all(inner.wait_until_entered(name) for name in ("/a", "/b", "/c"))
    for event in inner.release.values():
        event.set()
    for thread in threads:
        thread.join(LONG_WAIT)


def test_the_gate_is_on_by_default_only_where_the_database_runs_in_the_worker():
    sqlite = {"WORKER_ACTIVE_REQUESTS": None, "SQLALCHEMY_DATABASE_URI": "sqlite:////srv/app.sqlite3"}
    server = {
        "WORKER_ACTIVE_REQUESTS": None,
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://app@db:5432/app",
    }
    assert configured_slots(sqlite) == SQLITE_SLOTS == 2
    assert configured_slots(server) == 0
    # A configured number holds for either database.
    assert configured_slots({**sqlite, "WORKER_ACTIVE_REQUESTS": 0}) == 0
    assert configured_slots({**server, "WORKER_ACTIVE_REQUESTS": 3}) == 3


def test_the_app_is_gated_as_configured(app, monkeypatch, api_key, project_id):
    shared = ("DATABASE_URL", "SECRET_KEY", "STORAGE_URL", "SQLALCHEMY_ENGINE_OPTIONS")
    config = {"TESTING": True, **{key: app.config[key] for key in shared}}
    on_sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    assert isinstance(app.wsgi_app, RequestGate) and (app.wsgi_app.slots is not None) == on_sqlite

    monkeypatch.setenv("WORKER_ACTIVE_REQUESTS", "3")
    gated = create_app(config)
    assert gated.wsgi_app.slots is not None  # on with either database
    with gated.app_context():
        db.engine.dispose()

    monkeypatch.setenv("WORKER_ACTIVE_REQUESTS", "0")
    ungated = create_app(config)
    assert isinstance(ungated.wsgi_app, RequestGate) and ungated.wsgi_app.slots is None
    # Requests still pass through it unchanged.
    response = ungated.test_client().get(
        f"/api/projects/{project_id}/evaluations/", headers={"Authorization": f"Bearer {api_key}"}
    )
    assert response.status_code == 200
    with ungated.app_context():
        db.engine.dispose()

    monkeypatch.setenv("WORKER_ACTIVE_REQUESTS", "two")
    with pytest.raises(RuntimeError, match="WORKER_ACTIVE_REQUESTS must be a whole number"):
        create_app(config)
