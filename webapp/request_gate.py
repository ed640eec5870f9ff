"""At most a few body-less requests run the app's code at once in each worker process.

gunicorn's gthread worker (`make run`: 8 threads a worker, so a slow uploader holds one thread, not the
worker) lets up to 8 requests run at once in one process, and they share one interpreter lock. Each time a
thread gives the lock up (a database call, a socket read) another takes it, and the first then waits for it
back behind the others: with four busy connections per worker, a small API read took up to 1.8 times the
CPU of its steady state, and its throughput swung between runs (bench/README.md, "After the fourth
session's changes"). Requests queued at this gate wait without taking part in that contest, at no cost:
they would have waited for the lock anyway.

Only requests without a body are gated: one with a body spends its time receiving it (a slow uploader must
hold a thread, never a slot). A slot is waited for at most `WAIT_SECONDS`; after that the request runs anyway,
so a slow request (a long database wait, a large page) delays the others by at most that, never stalls them.
The slot is given back when the app has built its response: sending a streamed body happens outside.

By default the gate is on only with SQLite, whose statements run in the worker's own process: there a request
holding a slot is busy on the worker's cores. With a database server (PostgreSQL) a request spends most of its
time waiting for the server's answer, holding its slot but not the interpreter lock: two slots would cap the
server's work at two statements per worker however many cores it has, and on this 2-core machine the gate only
added CPU per request (the threads' hand-offs at the semaphore) for no steadier throughput (bench/README.md,
"After the sixth session's changes"). `WORKER_ACTIVE_REQUESTS` set to a number applies to either database.
"""

import threading

from sqlalchemy.engine import make_url

from .body_timeout import body_length

# How long a request waits for a slot before it runs anyway.
WAIT_SECONDS = 0.05
# Slots per worker when WORKER_ACTIVE_REQUESTS is not set and the database is SQLite.
SQLITE_SLOTS = 2


def configured_slots(config) -> int:
    """WORKER_ACTIVE_REQUESTS when set; otherwise SQLITE_SLOTS with SQLite and 0 (no gate) with a server."""
    slots = config["WORKER_ACTIVE_REQUESTS"]
    if slots is not None:
        return int(slots)
    in_process = make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite"
    return SQLITE_SLOTS if in_process else 0


class RequestGate:
    """WSGI middleware: at most `slots` body-less requests in `wsgi_app` at once (0: no gate)."""

    def __init__(self, wsgi_app, slots: int, wait_seconds: float = WAIT_SECONDS):
        self.wsgi_app = wsgi_app
        self.wait_seconds = wait_seconds
        self.slots = threading.BoundedSemaphore(slots) if slots > 0 else None

    def __call__(self, environ, start_response):
        slots = self.slots
        if slots is None or body_length(environ) != 0:  # a body, announced or chunked
            return self.wsgi_app(environ, start_response)
        held = slots.acquire(timeout=self.wait_seconds)
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            if held:
                slots.release()
