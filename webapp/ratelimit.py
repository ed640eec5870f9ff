"""API rate limits like PostHog's, counted per personal API key (or per logged-in user) with `limits`.

Two budgets: every API call draws on `API_RATE_LIMITS` (burst and sustained), except the upload steps
(views marked counts_as_upload: `bulk_start_upload`, `bulk_finish_upload`, direct uploads, the local store's
upload URL, ...), which draw on `UPLOAD_RATE_LIMITS` instead. The counters live in `RATELIMIT_STORAGE_URI`
(Redis, so they hold across workers and machines) or, without it, in each worker's memory. While Redis
cannot be reached, each worker counts in its own memory; a request never fails for it.

One check before every request, ahead of authentication (a script looping with a revoked key is slowed
down too): the budget's limits, parsed once per setting, shortest window first; the first one spent
answers 429 `throttled_error` with Retry-After, as Django REST framework's throttling does.
"""

import functools
import hashlib
import logging
import math
import time

from flask import Flask, current_app, g, request
from flask_login import current_user
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from .api.auth import raw_key
from .api.errors import ApiError, error_response
from .availability import is_unavailable

API = "api"
UPLOADS = "uploads"
SETTINGS = {API: "API_RATE_LIMITS", UPLOADS: "UPLOAD_RATE_LIMITS"}
STRATEGIES = {
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}
# The environ entry of a request counted before Flask saw it: None (allowed), or the seconds to wait.
COUNTED = "webapp.rate_limit_counted"
# While the shared storage is down, how often to see whether it is back.
RECHECK_SECONDS = 5.0

logger = logging.getLogger(__name__)


class WorkerMemoryStorage(MemoryStorage):
    """limits' in-memory counters, dropping expired entries inline at most once a second.

    Its parent hands that work to a timer thread 10 ms after each hit, and starts a new thread whenever
    the last one has run: under steady traffic, a thread start on about every request.
    """

    STORAGE_SCHEME = ["worker-memory"]
    EXPIRE_EVERY_SECONDS = 1.0
    _next_expiry = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the parent's private scheduler
        now = time.monotonic()
        if now >= self._next_expiry:
            self._next_expiry = now + self.EXPIRE_EVERY_SECONDS
            self._MemoryStorage__expire_events()


def counts_as_upload(view):
    """Mark a view as an upload step: it draws on the upload budget, not the API's."""
    view.rate_limit_scope = UPLOADS
    return view


@functools.lru_cache(maxsize=16)
def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """A setting's limits (`480/minute;4800/hour`), shortest window first. ValueError if it does not parse."""
    return tuple(sorted(parse_many(text)))


def _scope(app: Flask, current) -> str | None:
    """Which budget this request draws on; None when it is not rate limited (pages, static files, 404s)."""
    endpoint = current.endpoint
    if endpoint is None:
        return None
    scope = getattr(app.view_functions.get(endpoint), "rate_limit_scope", None)
    if scope is None and current.path.startswith("/api/"):
        return API
    return scope


def _caller(current) -> str:
    """Whom to count the request against; "" for a caller without credentials (the API answers 401)."""
    found = g._get_current_object()
    if "rate_limit_caller" not in found:
        found.rate_limit_caller = _identify(current)
    return found.rate_limit_caller


def key_caller(presented: str) -> str:
    """Whom a request with this API key is counted against."""
    # A digest, never the key itself: the counters' store is not a place for secrets.
    # surrogatepass: a JSON body may carry a lone surrogate ("\ud800"); the API answers it 401.
    return "key:" + hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _identify(current) -> str:
    if current.blueprint == "storage":
        # A presigned upload URL names no key: count the uploads per client address.
        return f"address:{current.remote_addr}"
    try:
        presented = raw_key()
    except ApiError:
        return ""  # an unreadable body; the view answers it with a 400/415
    if presented:
        return key_caller(presented)
    try:
        signed_in = current_user.is_authenticated
    except Exception as error:
        if not is_unavailable(error):
            raise
        return ""  # the database is down: the view answers 503
    return f"user:{current_user.id}" if signed_in else ""


def throttled(wait: int):
    """Answer like PostHog (Django REST framework's throttling): 429 throttled_error with Retry-After."""
    unit = "second" if wait == 1 else "seconds"
    detail = f"Request was throttled. Expected available in {wait} {unit}."
    return error_response(ApiError(429, "throttled", detail, retry_after=wait))


class Throttle:
    """One app's counters: in RATELIMIT_STORAGE_URI, or in this worker's memory (also while that is down)."""

    def __init__(self, app: Flask):
        strategy = STRATEGIES[app.config["RATELIMIT_STRATEGY"]]
        self.prefix = app.config["RATELIMIT_KEY_PREFIX"]
        self.in_memory = strategy(WorkerMemoryStorage())
        uri = app.config["RATELIMIT_STORAGE_URI"]
        self.shared = strategy(storage_from_string(uri)) if uri else None
        self.shared_down_until: float | None = None  # when to see again whether it is back

    def check(self):
        """Count this request against its caller's budget; a 429 response when a limit is spent."""
        # The app and request themselves, not their proxies: each proxy access costs a context lookup.
        app, current = current_app._get_current_object(), request._get_current_object()
        if COUNTED in current.environ:  # counted by fast_reads.py before it handed the request over
            wait = current.environ[COUNTED]
            return throttled(wait) if wait else None
        scope = _scope(app, current)
        if scope is None:
            return None
        caller = _caller(current)
        if not caller:
            return None
        wait = self.hit(app, caller, scope)
        return throttled(wait) if wait else None

    def hit(self, app: Flask, caller: str, scope: str) -> int | None:
        """Count one request of `caller` against the budget `scope`: None if allowed, else the seconds until
        the first spent limit allows one again."""
        identifiers = (self.prefix, caller, scope)
        for limit in parse_limits(app.config[SETTINGS[scope]]):
            counters = self._counters()
            try:
                allowed = counters.hit(limit, *identifiers)
                if not allowed:
                    reset_time = counters.get_window_stats(limit, *identifiers).reset_time
            except Exception:
                if counters is self.in_memory:
                    raise
                self._shared_failed()
                return self.hit(app, caller, scope)
            if not allowed:
                return max(1, math.ceil(reset_time - time.time()))
        return None

    def reset(self) -> None:
        """Forget every count (tests: ids restart, so a new user would inherit an old one's)."""
        for counters in (self.in_memory, self.shared):
            if counters is not None:
                counters.storage.reset()

    def _counters(self) -> RateLimiter:
        if self.shared is None:
            return self.in_memory
        if self.shared_down_until is not None:
            if time.monotonic() < self.shared_down_until:
                return self.in_memory
            if not self.shared.storage.check():
                self.shared_down_until = time.monotonic() + RECHECK_SECONDS
                return self.in_memory
            logger.info("Rate limit storage recovered")
            self.shared_down_until = None
        return self.shared

    def _shared_failed(self) -> None:
        logger.warning("Rate limit storage unreachable - falling back to in-memory storage", exc_info=True)
        self.shared_down_until = time.monotonic() + RECHECK_SECONDS


def init_app(app: Flask) -> None:
    """Give this app counters of its own (several apps may share a process: tests, benchmarks)."""
    for setting in SETTINGS.values():
        try:
            parse_limits(app.config[setting])  # a typo stops startup, not every API call
        except ValueError as error:
            raise ValueError(f"{setting}: {error} (write e.g. 480/minute;4800/hour)") from None
    throttle = Throttle(app)
    app.extensions["rate_limiter"] = throttle
    app.before_request(throttle.check)
