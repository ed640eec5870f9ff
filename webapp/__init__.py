"""Application factory."""

import inspect
import os
import weakref

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .body_timeout import BodyTimeoutMiddleware
from .config import configure
from .database import configure_engine
from .extensions import csrf, db, login_manager, migrate
from .json_provider import JSONProvider
from .request_gate import RequestGate, configured_slots
from .security_headers import SecurityHeadersMiddleware


class App(Flask):
    """Flask, remembering which hooks and views are plain functions: Flask asks `inspect` whether each is a
    coroutine function every time it calls one (about eight times per API request)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Keyed weakly by the underlying function, so a bound method made per call (a view instance's
        # dispatch_request) neither misses every time nor keeps its instance alive.
        self._synchronous: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def ensure_sync(self, func):
        plain = getattr(func, "__func__", func)
        try:
            synchronous = self._synchronous.get(plain)
            if synchronous is None:
                synchronous = self._synchronous[plain] = not inspect.iscoroutinefunction(func)
        except TypeError:  # a callable that cannot be weakly referenced or hashed: asked every time
            return super().ensure_sync(func)
        return func if synchronous else self.async_to_sync(func)


def create_app(config: dict | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, error handlers, CLI."""
    app = App(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    configure(app, config)
    app.json = JSONProvider(app)
    # The PostHog CLI calls API routes without a trailing slash; accept both everywhere.
    app.url_map.strict_slashes = False

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        configure_engine(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])

    from . import api, auth, cli, driver_reads, errors, log_redaction, models, ratelimit, storage, web  # noqa: F401 (models)

    log_redaction.init_app(app)
    auth.init_app(app)
    driver_reads.init_app(app)
    errors.init_app(app)
    ratelimit.init_app(app)
    storage.init_app(app)
    from .services import symbol_upload_checks

    storage.set_upload_check(app, symbol_upload_checks.upload_is_live)
    api.init_app(app)
    web.init_app(app)
    cli.init_app(app)
    _add_middleware(app)
    return app


def _add_middleware(app: Flask) -> None:
    """Wrap Flask's own WSGI callable, innermost first."""
    from .api.fast_reads import FastReads

    app.wsgi_app = FastReads(app, app.wsgi_app)  # unless API_FAST_READS is off
    app.wsgi_app = SecurityHeadersMiddleware(app.wsgi_app)
    if app.config.get("TRUSTED_PROXY_COUNT"):
        # Behind a reverse proxy: take the client address (login throttling) and scheme from it.
        count = int(app.config["TRUSTED_PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    app.wsgi_app = BodyTimeoutMiddleware(app.wsgi_app, app.config)
    app.wsgi_app = RequestGate(app.wsgi_app, configured_slots(app.config))
