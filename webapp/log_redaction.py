"""Keep invite tokens out of the logs: access-log lines name `/invite/[redacted]` instead.

An invite link is a capability: anyone who reads it in a log could join the organization. The
request line reaches the logs of Werkzeug's development server and gunicorn's access log; both pass
through the filter installed here (also inside `?next=%2Finvite%2F...`, as the login link sends it).
"""

import logging
import re

INVITE_PATH = re.compile(r"(/|%2F)invite(/|%2F)[A-Za-z0-9_\-]+", re.IGNORECASE)
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


def redact(text: str) -> str:
    return INVITE_PATH.sub(lambda m: f"{m.group(1)}invite{m.group(2)}[redacted]", text)


class RedactInviteTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            # gunicorn's access log formats from a dict of request atoms (r: request line, U: path, q: query).
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


_FILTER = RedactInviteTokens()


def init_app(_app) -> None:
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
