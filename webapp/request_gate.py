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
"""

import threading

from .body_timeout import body_length

# How long a request waits for a slot before it runs anyway.
WAIT_SECONDS = 0.05


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
