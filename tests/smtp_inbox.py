"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the app to send through, and a port nothing listens on."""

import socket
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class Inbox:
    """aiosmtpd handler: keeps every message it receives as (recipients, text)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


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
def smtp_inbox(app):
    """A running SMTP server the app sends through; yields its Inbox."""
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with mail_through(app, port):
            yield inbox
    finally:
        controller.stop()
