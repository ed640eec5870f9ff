"""The invite page: a clear page for a dead link, accept by POST with CSRF, the token kept out of logs."""

import html as html_module
import logging
import re
from datetime import timedelta

import pytest

from webapp.database import write_transaction
from webapp.extensions import db
from webapp.log_redaction import RedactInviteTokens, redact
from webapp.models import Invitation
from webapp.models.types import utcnow
from webapp.services import accounts, invites, organizations

from .conftest import PASSWORD, csrf_token_from, log_in


@pytest.fixture
def invite(app, user_id):
    """An invite link's token for new@example.com to the default user's organization."""

    def make(email="new@example.com", level=1):
        with app.app_context():
            caller = organizations.current(accounts.get_user(user_id))
            [(_, token, _)] = invites.create_invites(caller, email, level)
            db.session.remove()
        return token

    return make


def test_a_new_person_sets_a_password_joins_and_the_link_dies(client, invite, app):
    token = invite()
    page = client.get(f"/invite/{token}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    html = page.get_data(as_text=True)
    assert "Join Analytical Engines" in html and "new@example.com" in html
    form = {"csrf_token": csrf_token_from(html), "first_name": "Nia", "password": "long enough pw"}
    mismatch = client.post(f"/invite/{token}", data={**form, "confirm_password": "other password"})
    assert mismatch.status_code == 422 and "not the same" in mismatch.get_data(as_text=True)
    accepted = client.post(f"/invite/{token}", data={**form, "confirm_password": "long enough pw"})
    assert accepted.status_code == 303
    assert accepted.headers["Location"].endswith("/evaluations/")
    assert client.get(accepted.headers["Location"]).status_code == 200  # signed in, in the project
    used = client.get(f"/invite/{token}")
    assert used.status_code == 409 and "already been used" in used.get_data(as_text=True)


def test_a_new_person_hears_every_problem_at_once_and_keeps_their_names(client, invite):
    token = invite()
    token_field = csrf_token_from(client.get(f"/invite/{token}").get_data(as_text=True))
    long_name = "N" * 151
    form = {"csrf_token": token_field, "first_name": long_name, "last_name": "Okafor", "password": "short"}
    page = client.post(f"/invite/{token}", data={**form, "confirm_password": "other"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    summary = html[html.index('id="error-summary"') : html.index("</div>", html.index('id="error-summary"'))]
    assert re.findall(r'<a href="#(\w+)">', summary) == ["first_name", "password", "confirm_password"]
    assert (
        "characters or fewer" in summary and "at least 8 characters" in summary and "not the same" in summary
    )
    assert f'value="{long_name}"' in html and 'value="Okafor"' in html
    assert 'value="short"' not in html and 'value="other"' not in html
    assert client.get(f"/invite/{token}").status_code == 200  # the link still works


def test_accepting_needs_the_csrf_token(client, invite):
    token = invite()
    response = client.post(
        f"/invite/{token}", data={"password": "long enough pw", "confirm_password": "long enough pw"}
    )
    assert response.status_code == 403  # the app's CSRF answer
    assert client.get(f"/invite/{token}").status_code == 200  # still unused


def test_a_signed_in_person_with_the_invited_email_joins(client, invite, make_user, app):
    other = make_user("new@example.com", organization="Elsewhere")
    token = invite()
    csrf = log_in(client, other)
    html = client.get(f"/invite/{token}").get_data(as_text=True)
    assert "Join Analytical Engines</button>" in html
    response = client.post(f"/invite/{token}", data={"csrf_token": csrf})
    assert response.status_code == 303
    with app.app_context():
        user = accounts.get_user(other)
        assert sorted(m.organization.name for m in user.memberships) == ["Analytical Engines", "Elsewhere"]
        db.session.remove()


def test_an_existing_account_is_asked_to_log_in(client, invite, make_user):
    make_user("new@example.com", organization="Elsewhere")
    html = client.get(f"/invite/{invite()}").get_data(as_text=True)
    assert (
        "Log in</a> to accept" in html
        and "password" not in html.split("<main")[1].lower().split("log in</a>")[0]
    )


def test_someone_else_signed_in_is_told_whose_invite_it_is(client, invite, make_user):
    token = invite()
    csrf = log_in(client, make_user("wrong@example.com", organization="Elsewhere"))
    assert "log out, then open the link again" in client.get(f"/invite/{token}").get_data(as_text=True)
    response = client.post(f"/invite/{token}", data={"csrf_token": csrf})
    assert response.status_code == 403 and "This invitation is for new@example.com" in response.get_data(
        as_text=True
    )


@pytest.mark.parametrize("token", ["x" * 43, "short", "%00" * 30])
def test_unknown_links_get_a_clear_page(client, user_id, token):
    response = client.get(f"/invite/{token}")
    assert response.status_code == 404
    assert "This invite link is not valid" in response.get_data(as_text=True)


def test_access_logs_never_show_an_invite_token():
    token = "AbC_d-123456789012345678901234567890"
    assert redact(f"GET /invite/{token} HTTP/1.1") == "GET /invite/[redacted] HTTP/1.1"
    assert token not in redact(f"GET /login?next=%2Finvite%2F{token} HTTP/1.1")
    record = logging.LogRecord(
        "werkzeug", logging.INFO, "", 0, '%s - "%s" %s', ("127.0.0.1", f"GET /invite/{token}", 200), None
    )
    RedactInviteTokens().filter(record)
    assert token not in record.getMessage()
    # gunicorn's access log passes a dict of atoms.
    record = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, '"%(r)s"', (), None)
    record.args = {"r": f"GET /invite/{token} HTTP/1.1"}
    RedactInviteTokens().filter(record)
    assert token not in record.getMessage()
    assert any(isinstance(f, RedactInviteTokens) for f in logging.getLogger("werkzeug").filters)


def test_an_existing_account_logs_in_from_the_link_and_joins(client, invite, make_user, app):
    other = make_user("new@example.com", organization="Elsewhere")
    token = invite(level=8)
    html = client.get(f"/invite/{token}").get_data(as_text=True)
    login_url = html_module.unescape(re.search(r'href="([^"]*/login\?next=[^"]+)"', html).group(1))
    form = client.get(login_url).get_data(as_text=True)
    logged_in = client.post(
        login_url,
        data={"csrf_token": csrf_token_from(form), "email": "new@example.com", "password": PASSWORD},
    )
    assert logged_in.status_code == 303 and logged_in.headers["Location"] == f"/invite/{token}"
    page = client.get(f"/invite/{token}").get_data(as_text=True)
    assert "Join Analytical Engines</button>" in page
    joined = client.post(f"/invite/{token}", data={"csrf_token": csrf_token_from(page)})
    assert joined.status_code == 303
    assert client.get(joined.headers["Location"]).status_code == 200
    with app.app_context():
        user = accounts.get_user(other)
        levels = {m.organization.name: m.level for m in user.memberships}
        assert levels == {"Analytical Engines": 8, "Elsewhere": 15}
        assert accounts.resolve_project(user, "@current").organization.name == "Analytical Engines"
        db.session.remove()


@pytest.mark.parametrize(
    ("dead", "words"),
    [("revoked", "This invite link was revoked."), ("expired", "This invite link has expired.")],
)
def test_revoked_and_expired_links_get_a_clear_page(client, invite, app, user_id, dead, words):
    token = invite()
    with app.app_context():
        invitation = invites.find_usable(token)
        if dead == "revoked":
            invites.revoke(organizations.current(accounts.get_user(user_id)), invitation.id)
        else:
            with write_transaction():
                db.session.get(Invitation, invitation.id).expires_at = utcnow() - timedelta(minutes=1)
        db.session.remove()
    for response in (
        client.get(f"/invite/{token}"),
        client.post(
            f"/invite/{token}",
            data={
                "csrf_token": csrf_token_from(client.get("/login").get_data(as_text=True)),
                "password": "long enough pw",
                "confirm_password": "long enough pw",
            },
        ),
    ):
        assert response.status_code == 410
        html = response.get_data(as_text=True)
        assert "This invite link cannot be used" in html and words in html
        assert "Ask an admin for a new one." in html
    with app.app_context():
        assert not accounts.user_exists("new@example.com")
        db.session.remove()
