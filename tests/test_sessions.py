"""Browser sessions: logout ends them on the server, login starts afresh, cookies are Secure over HTTPS."""

from contextlib import contextmanager

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from tests.conftest import PASSWORD, csrf_token_from
from webapp import create_app
from webapp.extensions import db
from webapp.models import User, UserSession
from webapp.services import sessions


def log_in(client, email="ada@example.com", password=PASSWORD, **kwargs):
    token = csrf_token_from(client.get("/login", **kwargs).get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs)


def copy_of(client, app):
    """A second browser holding a copy of the client's session cookie (what a thief would have)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def signed_in(client) -> bool:
    response = client.get("/settings/profile")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_a_copied_session_cookie_is_dead_after_logout(client, logged_in, app):
    thief = copy_of(client, app)
    assert signed_in(thief)
    assert thief.get("/api/projects/").status_code == 200  # the API accepts the browser session too

    response = client.post("/logout", data={"csrf_token": logged_in})
    assert response.status_code == 303
    assert not signed_in(client)
    assert not signed_in(thief)
    assert thief.get("/api/projects/").status_code == 401
    # A forged request from the copy cannot log out or act either: it is simply a logged-out browser.
    assert thief.get("/settings/api-keys").headers["Location"].startswith("/login")


def test_logout_ends_only_that_browsers_session(client, logged_in, app):
    laptop = app.test_client()
    assert log_in(laptop).status_code == 303
    client.post("/logout", data={"csrf_token": logged_in})
    assert not signed_in(client)
    assert signed_in(laptop)


def test_logout_still_clears_a_remember_cookie_the_browser_sends(client, logged_in):
    # Flask-Login's after-request hook runs its remember operation (here: clear the cookie logout_user asked
    # to clear), though it returns at once on requests without one (extensions.LoginManager).
    client.set_cookie("remember_token", "1|stale")
    response = client.post("/logout", data={"csrf_token": logged_in})
    assert response.status_code == 303
    cleared = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token=")]
    assert cleared and "Expires=Thu, 01 Jan 1970" in cleared[0]


def test_an_api_key_call_neither_reads_nor_sends_a_session(client, auth):
    response = client.get("/api/projects/", headers=auth)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_a_browser_session_is_still_saved_and_varies_on_cookie(client, logged_in):
    response = client.get("/settings/profile")
    assert response.status_code == 200
    assert "Cookie" in response.headers["Vary"]


def test_login_starts_a_fresh_session_with_a_new_csrf_token(client, user_id, app):
    before = csrf_token_from(client.get("/login").get_data(as_text=True))
    pre_login_copy = copy_of(client, app)
    response = client.post(
        "/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": before}
    )
    assert response.status_code == 303
    after = csrf_token_from(client.get("/settings/profile").get_data(as_text=True))
    assert after != before
    # The token from before login is refused, the new one works.
    stale = client.post("/settings/profile", data={"csrf_token": before, "first_name": "Eve"})
    assert stale.status_code == 403
    fresh = client.post("/settings/profile", data={"csrf_token": after, "first_name": "Ada"})
    assert fresh.status_code == 303
    # A cookie planted before login (session fixation) does not become signed in.
    assert not signed_in(pre_login_copy)


def test_a_session_idle_too_long_ends_and_a_used_one_is_kept_alive(client, logged_in, app):
    lifetime = app.config["SESSION_IDLE_LIFETIME"]
    with app.app_context():
        last_seen = db.session.scalar(db.select(UserSession.last_seen_at))
        db.session.execute(update(UserSession).values(last_seen_at=last_seen - sessions.TOUCH_INTERVAL))
        db.session.commit()
    assert signed_in(client)
    with app.app_context():
        touched = db.session.scalar(db.select(UserSession.last_seen_at))
        assert touched > last_seen - sessions.TOUCH_INTERVAL

        db.session.execute(update(UserSession).values(last_seen_at=touched - lifetime))
        db.session.commit()
    assert not signed_in(client)


def test_a_database_refusing_the_touch_does_not_refuse_the_page(client, logged_in, app, monkeypatch):
    with app.app_context():
        last_seen = db.session.scalar(db.select(UserSession.last_seen_at))
        db.session.execute(update(UserSession).values(last_seen_at=last_seen - sessions.TOUCH_INTERVAL))
        db.session.commit()

    @contextmanager
    def disk_full():
        raise OperationalError("UPDATE user_sessions", {}, Exception("database or disk is full"))
        yield

    monkeypatch.setattr(sessions, "write_transaction", disk_full)
    assert signed_in(client)


def test_logging_in_removes_other_sessions_gone_idle(client, logged_in, app, make_user):
    lifetime = app.config["SESSION_IDLE_LIFETIME"]
    with app.app_context():
        last_seen = db.session.scalar(db.select(UserSession.last_seen_at))
        db.session.execute(update(UserSession).values(last_seen_at=last_seen - lifetime))
        db.session.commit()
    make_user("grace@example.com")
    assert log_in(app.test_client(), "grace@example.com").status_code == 303
    with app.app_context():
        rows = db.session.scalars(db.select(UserSession.user_id)).all()
        grace = db.session.scalar(db.select(User.id).where(User.email == "grace@example.com"))
    assert rows == [grace]


def test_a_deactivated_user_is_signed_out(client, logged_in, app, user_id):
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(is_active=False))
        db.session.commit()
    assert not signed_in(client)


@pytest.mark.parametrize("value", ["1:old-per-user-token", "", "x" * 40, "9" * 30])
def test_a_cookie_without_a_live_server_session_is_logged_out_not_an_error(client, user_id, value):
    with client.session_transaction() as session:
        session["_user_id"] = value
        session["_fresh"] = True
    assert not signed_in(client)
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["session_id"] = "a guess"
    assert not signed_in(client)


# Secure cookies and HTTPS ----------------------------------------------------------------------------------


@pytest.fixture
def proxied_app(app):
    """The same app and database, deployed behind one trusted reverse proxy."""
    shared = ("DATABASE_URL", "SECRET_KEY", "STORAGE_URL", "SQLALCHEMY_ENGINE_OPTIONS")
    proxied = create_app(
        {"TESTING": True, "TRUSTED_PROXY_COUNT": 1, **{key: app.config[key] for key in shared}}
    )
    yield proxied
    with proxied.app_context():
        db.engine.dispose()


def session_cookie_header(response) -> str:
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    return header


# Over HTTPS Flask-WTF also wants a same-site Referer, which the Referrer-Policy lets browsers send.
HTTPS_VIA_PROXY = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
    "Referer": "https://localhost/login",
}


def test_over_https_behind_the_trusted_proxy_the_cookie_is_secure_and_hsts_is_sent(proxied_app, user_id):
    client = proxied_app.test_client()
    response = log_in(client, headers=HTTPS_VIA_PROXY)
    assert response.status_code == 303
    assert "; Secure" in session_cookie_header(response)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")

    plain = proxied_app.test_client().get("/login", headers={"X-Forwarded-For": "203.0.113.7"})
    assert "; Secure" not in session_cookie_header(plain)
    assert "Strict-Transport-Security" not in plain.headers


def test_without_a_trusted_proxy_a_forwarded_https_header_is_ignored(client, user_id):
    response = log_in(client, headers=HTTPS_VIA_PROXY)
    assert response.status_code == 303
    assert "; Secure" not in session_cookie_header(response)
    assert "Strict-Transport-Security" not in response.headers


def test_session_cookie_secure_from_the_environment(app, monkeypatch):
    shared = ("DATABASE_URL", "SECRET_KEY", "STORAGE_URL", "SQLALCHEMY_ENGINE_OPTIONS")
    config = {"TESTING": True, **{key: app.config[key] for key in shared}}
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "yes")
    secure = create_app(config)
    response = secure.test_client().get("/login")
    assert "; Secure" in session_cookie_header(response)
    with secure.app_context():
        db.engine.dispose()

    monkeypatch.setenv("SESSION_COOKIE_SECURE", "ture")
    with pytest.raises(RuntimeError, match="SESSION_COOKIE_SECURE must be one of"):
        create_app(config)
