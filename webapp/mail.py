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


def _message(to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    # A header is one line: a name with a line break in it (an organization's, say) must not end it early.
    message["Subject"] = " ".join(subject.split())
    message.set_content(body)
    return message


def _described(error: Exception) -> MailError:
    # The message (which may hold a secret link) is never part of the error.
    return MailError(f"{type(error).__name__}: {error}")


def send_all(messages: list[tuple[str, str, str]]) -> list[MailError | None]:
    """Send plain-text (to, subject, body) messages over one connection; each one's error, or None.

    One connection for all: a server that cannot be reached costs one timeout, not one per message.
    """
    config = current_app.config
    host, port, timeout = config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_TIMEOUT"]
    errors: list[MailError | None] = []
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
            for to, subject, body in messages:
                try:
                    client.send_message(_message(to, subject, body))
                    errors.append(None)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
                    errors.append(_described(error))  # this message only: the connection still works
    except (OSError, smtplib.SMTPException) as error:
        failed = _described(error)  # the connection: every message not sent yet
        errors += [failed] * (len(messages) - len(errors))
    return errors
