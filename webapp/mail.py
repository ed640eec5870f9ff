"""Outgoing email over SMTP (stdlib smtplib), configured by the usual MAIL_* settings.

MAIL_SERVER unset means no mail: callers show what they would have sent (an invite link) instead.
"""

import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app


class MailError(Exception):
    """The message could not be handed to the SMTP server."""


def is_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def send(to: str, subject: str, body: str) -> None:
    """Send a plain-text message; MailError when the server cannot be reached or refuses it."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    # A header is one line: a name with a line break in it (an organization's, say) must not end it early.
    message["Subject"] = " ".join(subject.split())
    message.set_content(body)
    host, port, timeout = config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_TIMEOUT"]
    try:
        if config["MAIL_USE_SSL"]:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if config["MAIL_USE_TLS"] and not config["MAIL_USE_SSL"]:
                client.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME"):
                client.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        # The message (which may hold a secret link) is never part of the error.
        raise MailError(f"{type(error).__name__}: {error}") from None
