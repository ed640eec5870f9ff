"""Mail over TLS (MAIL_USE_TLS: STARTTLS; MAIL_USE_SSL: SMTPS) to a real server, its certificate checked."""

import ssl

import pytest
import trustme

from webapp import mail

from .smtp_inbox import smtp_inbox

MESSAGE = ("new.person@example.com", "You are invited", "Open the link to join.")


@pytest.fixture
def certificate_authority(tmp_path):
    """A CA that issued the test server's certificate for 127.0.0.1; the server's SSL context."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return authority, context


@pytest.fixture
def trusted(certificate_authority, tmp_path, monkeypatch):
    """The client trusts the test CA (as a system CA file would make it), and only it."""
    authority, _ = certificate_authority
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-ca-folder"))


@pytest.fixture
def send(app, monkeypatch):
    """Send MESSAGE with these mail settings (restored after the test); each message's error or None."""

    def send_with(**settings) -> list:
        for name, value in settings.items():
            monkeypatch.setitem(app.config, name, value)
        with app.app_context():
            return mail.send_all([MESSAGE])

    return send_with


@pytest.mark.parametrize("setting, server", [("MAIL_USE_TLS", "starttls"), ("MAIL_USE_SSL", "implicit_tls")])
def test_mail_goes_over_tls_with_the_server_certificate_checked(
    app, send, certificate_authority, trusted, setting, server
):
    _, context = certificate_authority
    with smtp_inbox(app, **{server: context}) as inbox:
        errors = send(**{setting: True}, MAIL_USERNAME="console", MAIL_PASSWORD="right")
    assert errors == [None]
    assert [recipients for recipients, _ in inbox.messages] == [[MESSAGE[0]]]
    assert inbox.encrypted == [True]
    assert inbox.logins == [("console", "right")]


@pytest.mark.parametrize("setting, server", [("MAIL_USE_TLS", "starttls"), ("MAIL_USE_SSL", "implicit_tls")])
def test_a_server_certificate_nobody_vouches_for_sends_nothing(
    app, send, certificate_authority, tmp_path, monkeypatch, setting, server
):
    _, context = certificate_authority
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-ca-folder"))
    with smtp_inbox(app, **{server: context}) as inbox:
        errors = send(**{setting: True}, MAIL_USERNAME="console", MAIL_PASSWORD="right")
    assert len(errors) == 1 and "CERTIFICATE_VERIFY_FAILED" in str(errors[0])
    assert inbox.messages == [] and inbox.logins == []  # the password never went out either


def test_a_server_requiring_starttls_gets_no_mail_from_a_client_without_it(app, send, certificate_authority):
    _, context = certificate_authority
    with smtp_inbox(app, starttls=context) as inbox:
        errors = send(MAIL_USE_TLS=False)
    assert len(errors) == 1 and inbox.messages == []
