"""Cut request bodies that stall or trickle: the view gets a 408, and the server stops reading that client.

With gunicorn's threaded workers a slow upload holds one thread, not the server; this bounds how long.
Like Apache's `RequestReadTimeout body=20,MinRate=500`, a body is cut when

- no byte arrives for `UPLOAD_STALL_TIMEOUT_SECONDS` (a timeout on the client socket, so it holds for
  every read the server makes, however it buffers), or
- it arrives slower than `UPLOAD_MIN_RATE_BYTES_PER_SECOND`: each body may take the stall timeout plus one
  second per that many bytes received. A watchdog thread checks that deadline, because a trickle of a byte a
  second never makes a single socket read time out.

Either way the read side of the connection is shut, so no server waits on that client again; the store's
`put()` sees the exception and leaves nothing behind. Works under gunicorn (`gunicorn.socket`) and
Werkzeug's server (`werkzeug.socket`); without a socket in the environ (the test client) bodies pass as is.
"""

import socket
import threading
import time
from contextlib import suppress

from werkzeug.exceptions import RequestTimeout

from .services import validation
from .services.errors import ValidationError

# Progress is counted per step, so the deadline follows bytes as they arrive rather than per large read.
READ_STEP = 8 * 1024


class GuardedBody:
    """`wsgi.input` with the stall timeout and the minimum rate applied."""

    def __init__(
        self, stream, sock: socket.socket, stall_seconds: float, min_rate: float, length: int | None
    ):
        self._stream = stream
        self._length = length
        self._sock = sock
        self._stall_seconds = stall_seconds
        self._min_rate = min_rate
        self._started = time.monotonic()
        self._cut_reason: str | None = None
        self.received = 0
        self.complete = False
        self._previous_timeout = sock.gettimeout()
        sock.settimeout(stall_seconds)

    def deadline(self) -> float:
        """When the body must be complete, given what has arrived so far (min-rate rule)."""
        if self.complete:
            return float("inf")  # the view may take its time; the client has done its part
        return self._started + self._stall_seconds + self.received / self._min_rate

    def cut_as_too_slow(self) -> None:
        self.cut(f"The request body arrived too slowly (under {self._min_rate:g} bytes a second).")

    def cut(self, reason: str) -> None:
        """Stop the body: a read blocked on the socket returns at once, and every later read fails."""
        self._cut_reason = reason
        with suppress(OSError):  # the client is gone already
            self._sock.shutdown(socket.SHUT_RD)

    def close(self) -> None:
        with suppress(OSError):
            self._sock.settimeout(self._previous_timeout)

    def _timed_out(self) -> RequestTimeout:
        return RequestTimeout(self._cut_reason)

    def _guarded(self, read, size: int):
        if self._cut_reason:
            raise self._timed_out()
        try:
            data = read(size)
        except TimeoutError as error:
            self.cut(f"The request body stalled: nothing arrived for {self._stall_seconds:g} seconds.")
            raise self._timed_out() from error
        except OSError:
            if self._cut_reason:
                raise self._timed_out() from None
            raise
        if self._cut_reason:
            raise self._timed_out()
        self.received += len(data)
        if not data or (self._length is not None and self.received >= self._length):
            self.complete = True
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = float("inf")
        chunks = []
        while size > 0:
            data = self._guarded(self._stream.read, min(size, READ_STEP))
            if not data:
                break
            chunks.append(data)
            size -= len(data)
        return b"".join(chunks)

    def readline(self, size: int | None = -1) -> bytes:
        return self._guarded(self._stream.readline, -1 if size is None else size)

    def __iter__(self):
        return iter(self.readline, b"")


class Watchdog:
    """One thread per process that cuts the bodies whose min-rate deadline has passed."""

    def __init__(self):
        self._bodies: set[GuardedBody] = set()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, body: GuardedBody) -> None:
        with self._changed:
            self._bodies.add(body)
            # Started on first use, and again in a forked worker (threads do not survive a fork).
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="body-timeout", daemon=True)
                self._thread.start()
            self._changed.notify()

    def forget(self, body: GuardedBody) -> None:
        with self._changed:
            self._bodies.discard(body)

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for body in [body for body in self._bodies if body.deadline() <= now]:
                    self._bodies.discard(body)
                    body.cut_as_too_slow()
                deadlines = [body.deadline() for body in self._bodies if not body.complete]
                self._changed.wait(min(deadlines) - now if deadlines else None)


WATCHDOG = Watchdog()


def body_length(environ) -> int | None:
    """The announced body length: None for a chunked body, 0 for none."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    text = environ.get("CONTENT_LENGTH", "")
    if not text:
        return 0  # no body (every GET): no ValidationError raised and caught per request
    try:
        # Not isdigit()/int(): a Latin-1 header may say "²", or more digits than int() reads.
        return validation.integer(text, None, minimum=0)
    except ValidationError:
        return 0


class BodyTimeoutMiddleware:
    """Wrap each request body that comes from a real socket in a GuardedBody."""

    def __init__(self, wsgi_app, config):
        self.wsgi_app = wsgi_app
        self.config = config  # read per request, so tests can shorten the limits

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
        stall_seconds = float(self.config["UPLOAD_STALL_TIMEOUT_SECONDS"] or 0)
        length = body_length(environ)
        if sock is None or stall_seconds <= 0 or length == 0:
            return self.wsgi_app(environ, start_response)
        min_rate = float(self.config["UPLOAD_MIN_RATE_BYTES_PER_SECOND"] or 0)
        # Without a minimum rate the deadline never comes (and the watchdog is not asked).
        body = GuardedBody(environ["wsgi.input"], sock, stall_seconds, min_rate or float("inf"), length)
        environ["wsgi.input"] = body
        if min_rate > 0:
            WATCHDOG.watch(body)
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            WATCHDOG.forget(body)
            body.close()
