"""API rate limits like PostHog's, counted per personal API key (or per logged-in user) with Flask-Limiter.

Two budgets: every API call draws on `API_RATE_LIMITS` (burst and sustained), except the upload steps
(views marked counts_as_upload: `bulk_start_upload`, `bulk_finish_upload`, direct uploads, the local store's
upload URL, ...), which draw on `UPLOAD_RATE_LIMITS` instead. The counters live in `RATELIMIT_STORAGE_URI`
(Redis, so they hold across workers and machines) or, without it, in each worker's memory.
"""

import hashlib
import math
import time

from flask import Flask, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from flask_login import current_user
from limits import parse_many
from limits.storage import MemoryStorage

from .api.auth import raw_key
from .api.errors import ApiError, error_response
from .availability import is_unavailable

API = "api"
UPLOADS = "uploads"


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


def _scope() -> str | None:
    """Which budget this request draws on; None when it is not rate limited (pages, static files)."""
    view = current_app.view_functions.get(request.endpoint or "")
    scope = getattr(view, "rate_limit_scope", None)
    if scope is None and request.path.startswith("/api/"):
        return API
    return scope


def _caller() -> str:
    """Whom to count the request against; "" for a caller without credentials.

    Both budgets ask, for exemption and for the counter's key: work it out once per request.
    """
    if "rate_limit_caller" not in g:
        g.rate_limit_caller = _identify()
    return g.rate_limit_caller


def _identify() -> str:
    if request.blueprint == "storage":
        # A presigned upload URL names no key: count the uploads per client address.
        return f"address:{request.remote_addr}"
    try:
        presented = raw_key()
    except ApiError:
        return ""  # an unreadable body; the view answers it with a 400/415
    if presented:
        # A digest, never the key itself: the counters' store is not a place for secrets.
        # surrogatepass: a JSON body may carry a lone surrogate ("\ud800"); the API answers it 401.
        return "key:" + hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    try:
        signed_in = current_user.is_authenticated
    except Exception as error:
        if not is_unavailable(error):
            raise
        # The database is down: the view answers 503. Raising here would tell Flask-Limiter that
        # its own storage failed.
        return ""
    return f"user:{current_user.id}" if signed_in else ""


def _budget(scope: str) -> ApplicationLimit:
    setting = {API: "API_RATE_LIMITS", UPLOADS: "UPLOAD_RATE_LIMITS"}[scope]
    return ApplicationLimit(
        # Read per request, so operators (and tests) can change a limit without a new app.
        lambda: current_app.config[setting],
        scope=scope,
        key_function=_caller,
        # Callers without credentials are answered 401 by the API; nothing to count them against.
        exempt_when=lambda: _scope() != scope or not _caller(),
    )


def _seconds_until_available() -> int:
    limit = current_app.extensions["rate_limiter"].current_limit
    return max(1, math.ceil(limit.window.reset_time - time.time())) if limit else 1


def throttled(_error: RateLimitExceeded):
    """Answer like PostHog (Django REST framework's throttling): 429 throttled_error with Retry-After."""
    wait = _seconds_until_available()
    unit = "second" if wait == 1 else "seconds"
    detail = f"Request was throttled. Expected available in {wait} {unit}."
    return error_response(ApiError(429, "throttled", detail, retry_after=wait))


def init_app(app: Flask) -> None:
    """Give this app a limiter of its own (several apps may share a process: tests, benchmarks)."""
    for setting in ("API_RATE_LIMITS", "UPLOAD_RATE_LIMITS"):
        try:
            parse_many(app.config[setting])  # a typo stops startup, not every API call
        except ValueError as error:
            raise ValueError(f"{setting}: {error} (write e.g. 480/minute;4800/hour)") from None
    limiter = Limiter(
        key_func=_caller,
        application_limits=[_budget(API), _budget(UPLOADS)],
        storage_uri=app.config["RATELIMIT_STORAGE_URI"] or "worker-memory://",
        strategy=app.config["RATELIMIT_STRATEGY"],
        key_prefix=app.config["RATELIMIT_KEY_PREFIX"],
        # Redis down: count in this worker's memory until it is back, never fail the request.
        in_memory_fallback_enabled=True,
    )
    limiter.init_app(app)
    app.extensions["rate_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, throttled)
