"""Login throttling."""

import re

from tests.conftest import PASSWORD
from webapp.services import login_throttle


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
