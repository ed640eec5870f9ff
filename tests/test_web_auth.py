"""Login throttling and password hashing."""

import re

from tests.conftest import PASSWORD
from webapp.config import DefaultConfig
from webapp.services import accounts, login_throttle


def _token(client):
    return re.search(
        r'name="csrf-token" content="([^"]+)"', client.get("/login").get_data(as_text=True)
    ).group(1)


def test_too_many_failures_block_even_the_right_password_then_success_clears(client, user_id, app):
    token = _token(client)
    for _ in range(login_throttle.MAX_FAILURES_PER_EMAIL):
        response = client.post(
            "/login", data={"email": "ada@example.com", "password": "wrong", "csrf_token": token}
        )
        assert response.status_code == 400
    response = client.post(
        "/login", data={"email": "ADA@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in response.get_data(as_text=True)
    other = app.test_client()
    response = other.post(
        "/login",
        data={"email": "someone@example.com", "password": "wrong", "csrf_token": _token(other)},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert response.status_code == 400  # another account from another address is not blocked


def test_success_clears_earlier_failures(client, user_id, app):
    token = _token(client)
    for _ in range(login_throttle.MAX_FAILURES_PER_EMAIL - 1):
        client.post("/login", data={"email": "ada@example.com", "password": "wrong", "csrf_token": token})
    response = client.post(
        "/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    with app.app_context():
        assert login_throttle.retry_after("ada@example.com", "127.0.0.1") is None


def test_new_passwords_get_scrypt_by_default_and_old_hashes_survive_a_method_change(app, monkeypatch):
    """The suite hashes cheaply; production must not, and changing the method locks nobody out."""
    assert DefaultConfig.PASSWORD_HASH_METHOD == "scrypt"
    monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", DefaultConfig.PASSWORD_HASH_METHOD)
    with app.app_context():
        assert accounts.create_user("grace@example.com", PASSWORD, "Navy Labs").password_hash.startswith(
            "scrypt:"
        )
    monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", "pbkdf2:sha256:1")
    with app.app_context():
        assert accounts.authenticate("grace@example.com", PASSWORD) is not None
        assert accounts.authenticate("grace@example.com", "not the password") is None
        assert accounts.create_user("ada@example.com", PASSWORD, "Navy Labs").password_hash.startswith(
            "pbkdf2:"
        )
