"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the app to send through, and a port nothing listens on."""

import socket
import threading
from contextlib import contextmanager

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Inbox:
    """aiosmtpd handler: keeps every message it receives as (recipients, text)."""

    def __init__(self):
        self.messages = []
        self.logins = []
        self.refused = set()  # addresses this server answers 550 for
        self.encrypted = []  # per message: whether its connection was TLS

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        # session.ssl is set by STARTTLS; a connection that was TLS from the start shows on its transport.
        self.encrypted.append(
            session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        )
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        """aiosmtpd authenticator: remembers each login; the password 'right' is the only one accepted."""
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"right")


def free_port() -> int:
    """A port nothing listens on once this returns."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def mail_through(app, port: int):
    """The app's MAIL_SERVER is 127.0.0.1:port for the block."""
    saved = {key: app.config[key] for key in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    try:
        yield
    finally:
        app.config.update(saved)


@contextmanager
def smtp_inbox(app, *, starttls=None, implicit_tls=None):
    """A running SMTP server the app sends through; yields its Inbox.

    starttls: a server SSL context; the server then refuses mail until the client has said STARTTLS.
    implicit_tls: a server SSL context for the whole connection (SMTPS). Without either, AUTH is offered in
    the clear (the client's TLS is smtplib's own).
    """
    port = free_port()
    inbox = Inbox()
    tls = {"tls_context": starttls, "require_starttls": True} if starttls else {}
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        ssl_context=implicit_tls,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
        **tls,
    )
    controller.start()
    try:
        with mail_through(app, port):
            yield inbox
    finally:
        controller.stop()


@contextmanager
def silent_server():
    """A server that accepts connections and never says a word (a hung mail server); yields the port and the
    list of connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return  # closed

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        listener.close()
        for connection in accepted:
            connection.close()
        thread.join(5)
