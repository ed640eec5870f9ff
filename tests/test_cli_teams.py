"""`projects create/list` and `invites create`, and the invite email over a real SMTP server."""

from webapp.extensions import db
from webapp.services import accounts, invites

from .conftest import assert_clean_error
from .smtp_inbox import free_port, mail_through


def test_projects_create_prints_the_id_last_and_list_shows_it(run, user_id, app):
    result = run("projects", "create", "Mobile app", "--organization", "Analytical Engines")
    assert result.exit_code == 0, result.output
    project_id = int(result.output.strip().splitlines()[-1])
    with app.app_context():
        assert accounts.get_project(project_id).name == "Mobile app"
        db.session.remove()
    listed = run("projects", "list")
    assert f"{project_id}\tAnalytical Engines\tMobile app" in listed.output.splitlines()


def test_projects_create_refuses_an_unknown_organization_and_a_blank_name(run, user_id):
    assert_clean_error(
        run("projects", "create", "X", "--organization", "Nobody"), "No organization named 'Nobody'"
    )
    assert_clean_error(
        run("projects", "create", "  ", "--organization", "Analytical Engines"), "may not be blank"
    )


def test_invites_create_prints_a_working_link_last(run, user_id, app):
    result = run(
        "invites", "create", "new@example.com", "--organization", "Analytical Engines", "--level", "admin"
    )
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:5000/invite/")
    with app.app_context():
        invitation = invites.find_usable(link.rsplit("/", 1)[1])
        assert invitation.level == 8 and invitation.reveal_sealed is None
        db.session.remove()
    assert "also emailed" not in result.output


def test_invites_create_refuses_a_bad_email_and_level(run, user_id):
    assert_clean_error(
        run("invites", "create", "nope", "--organization", "Analytical Engines"), "not a valid email"
    )
    bad_level = run(
        "invites", "create", "a@example.com", "--organization", "Analytical Engines", "--level", "boss"
    )
    assert bad_level.exit_code == 2


def test_the_invite_is_emailed_when_mail_is_configured(run, user_id, smtp_server):
    result = run("invites", "create", "new@example.com", "--organization", "Analytical Engines")
    assert result.exit_code == 0, result.output
    assert "also emailed" in result.output
    link = result.output.strip().splitlines()[-1]
    [(recipients, message)] = smtp_server.messages
    assert recipients == ["new@example.com"]
    assert "Subject: Join Analytical Engines" in message
    assert link in message


def test_an_unreachable_mail_server_still_gives_the_link(run, user_id, app):
    with mail_through(app, free_port()):
        result = run("invites", "create", "new@example.com", "--organization", "Analytical Engines")
    assert result.exit_code == 0, result.output
    assert "/invite/" in result.stdout.strip().splitlines()[-1]
    assert "also emailed" not in result.output and "could not be sent" in result.stderr


def test_the_mail_server_login_is_used_and_a_refused_one_still_gives_the_link(run, user_id, app, smtp_server):
    app.config.update(MAIL_USERNAME="console", MAIL_PASSWORD="right")
    try:
        sent = run("invites", "create", "a@example.com", "--organization", "Analytical Engines")
        app.config.update(MAIL_PASSWORD="wrong")
        refused = run("invites", "create", "b@example.com", "--organization", "Analytical Engines")
    finally:
        app.config.update(MAIL_USERNAME="", MAIL_PASSWORD="")
    assert smtp_server.logins == [("console", "right"), ("console", "wrong")]
    assert "also emailed" in sent.output and [r for r, _ in smtp_server.messages] == [["a@example.com"]]
    assert refused.exit_code == 0 and "also emailed" not in refused.output
    assert "The email could not be sent (the log says why): send the link yourself." in refused.stderr
    assert "/invite/" in refused.output.strip().splitlines()[-1]
