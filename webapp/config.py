"""Configuration: defaults <- instance/config.py <- environment <- explicit overrides."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from . import json_columns
from .services import validation
from .services.errors import ValidationError


def parse_boolean(name: str, text: str) -> bool:
    """Read an environment boolean; a typo must stop the app, not quietly mean False."""
    try:
        return validation.boolean(text, name)
    except ValidationError:
        raise RuntimeError(
            f"{name} must be one of 1, true, yes, on, 0, false, no, off; not {text!r}"
        ) from None


def parse_count(name: str, text: str) -> int:
    """Read a small non-negative integer from the environment."""
    try:
        return validation.integer(text.strip(), name, minimum=0, maximum=999)
    except ValidationError:
        raise RuntimeError(f"{name} must be a whole number such as 0 or 1, not {text!r}") from None


def parse_port(name: str, text: str) -> int:
    try:
        return validation.integer(text.strip(), name, minimum=1, maximum=65535)
    except ValidationError:
        raise RuntimeError(f"{name} must be a port number (1 to 65535), not {text!r}") from None


def parse_number(name: str, text: str) -> float:
    """Read a finite non-negative number from the environment."""
    number = validation.number_from_text(text)
    if number is None or number < 0:
        raise RuntimeError(f"{name} must be a number such as 20 or 0.5, not {text!r}")
    return number


# Environment variables that override the config files, each with its parser.
ENVIRONMENT_KEYS = {
    "DATABASE_URL": None,
    "SECRET_KEY": None,
    "STORAGE_URL": None,
    "S3_ENDPOINT_URL": None,
    "RATELIMIT_STORAGE_URI": None,
    "API_RATE_LIMITS": None,
    "UPLOAD_RATE_LIMITS": None,
    "UPLOAD_STALL_TIMEOUT_SECONDS": parse_number,
    "UPLOAD_MIN_RATE_BYTES_PER_SECOND": parse_number,
    "WORKER_ACTIVE_REQUESTS": parse_count,
    "SESSION_COOKIE_SECURE": parse_boolean,
    "TRUSTED_PROXY_COUNT": parse_count,
    "PUBLIC_URL": None,
    "MAIL_SERVER": None,
    "MAIL_PORT": parse_port,
    "MAIL_USE_TLS": parse_boolean,
    "MAIL_USE_SSL": parse_boolean,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": None,
    "SYMBOL_CACHE_DIR": None,
    "SYMBOL_CACHE_MAX_BYTES": parse_number,
    "SYMBOL_CACHE_MEMORY_BYTES": parse_number,
}


class DefaultConfig:
    """Values used when nothing else sets them."""

    # SQLAlchemy's create_engine options, over engine_options()'s defaults.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a SQLite writer waits for another's lock before a 503
    DATABASE_CONNECT_TIMEOUT = 5  # seconds to reach PostgreSQL before a 503
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    # Secure is also set per request when the request came over HTTPS (directly or via the trusted proxy).
    SESSION_COOKIE_SECURE = False
    # A browser session unused this long is ended on the server.
    SESSION_IDLE_LIFETIME = timedelta(days=14)
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    MAX_CONTENT_LENGTH = 1024 * 1024  # JSON and form bodies; uploads have their own limit
    API_MAX_LIMIT = 1000
    API_DEFAULT_LIMIT = 100
    # Key-authenticated list reads answered without Flask's request machinery (api/fast_reads.py).
    API_FAST_READS = True
    UI_PAGE_SIZE = 20
    # The most rows a list page shows for ?limit= (and a bulk confirmation page lists).
    UI_MAX_PAGE_SIZE = 100
    # Touching last_used_at on every request would turn every read into a write.
    API_KEY_TOUCH_INTERVAL_SECONDS = 3600
    # werkzeug's generate_password_hash method; slow on purpose (tests set a cheap one).
    PASSWORD_HASH_METHOD = "scrypt"
    # PostHog's limits per personal API key (or logged-in user); uploads have a budget of their own.
    API_RATE_LIMITS = "480/minute;4800/hour"
    UPLOAD_RATE_LIMITS = "1200/minute"
    RATELIMIT_STORAGE_URI = ""  # e.g. redis://127.0.0.1:6379; empty: each worker counts on its own
    # Like Django REST framework's throttles: no double burst at a window's boundary.
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_KEY_PREFIX = "webapp"
    # A request body that sends nothing for this long, or arrives slower than the minimum rate (after
    # that same allowance), is cut with a 408, like Apache's `RequestReadTimeout body=20,MinRate=500`.
    UPLOAD_STALL_TIMEOUT_SECONDS = 20.0
    UPLOAD_MIN_RATE_BYTES_PER_SECOND = 500.0
    # Body-less requests running the app's code at once per worker process (request_gate.py); 0: no limit;
    # None: 2 with SQLite, no limit with a database server (request_gate.configured_slots).
    WORKER_ACTIVE_REQUESTS = None
    # The site's address for links made outside a request (`invites create` on the command line).
    PUBLIC_URL = "http://127.0.0.1:5000"
    # Invitations are emailed when MAIL_SERVER is set (Flask-Mail's names).
    MAIL_SERVER = ""
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    MAIL_DEFAULT_SENDER = "console@localhost"
    MAIL_TIMEOUT = 10
    # Parsed symbol files for symbolication (services/symbol_cache): the folder of symbolic's cache files
    # (default: the instance folder's symbol-cache), its size limit, and the per-process limit of open ones.
    SYMBOL_CACHE_DIR = ""
    SYMBOL_CACHE_MAX_BYTES = 2 * 1024**3
    SYMBOL_CACHE_MEMORY_BYTES = 512 * 1024**2


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgres URLs (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine_options(config) -> dict:
    """The configured engine options over the defaults, with a connect timeout for PostgreSQL."""
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    options = {
        "json_serializer": json_columns.dump,
        "json_deserializer": json_columns.load,
        # Test each pooled connection before use: after a database restart a stale one is replaced instead
        # of failing the request that drew it. A SQLite file has no connection to lose: there the ping
        # would only run a SELECT 1 on every request.
        "pool_pre_ping": url.get_backend_name() != "sqlite",
        **config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        # A host that drops packets would hold the request until the worker is killed: answer 503 sooner.
        connect_args = options.get("connect_args", {})
        options["connect_args"] = {"connect_timeout": config["DATABASE_CONNECT_TIMEOUT"], **connect_args}
    return options


def load_secret_key(instance_path: str) -> str:
    """Return the instance's secret key, creating it once so every worker shares it."""
    path = Path(instance_path) / "secret_key"
    try:
        # O_EXCL: when several gunicorn workers start at once only one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if key:
            return key
        raise RuntimeError(f"{path} is empty; delete it or set SECRET_KEY") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def configure(app, overrides: dict | None) -> None:
    """Fill app.config from every source, later sources winning."""
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    for key, parse in ENVIRONMENT_KEYS.items():
        if os.environ.get(key):
            app.config[key] = parse(key, os.environ[key]) if parse else os.environ[key]
    app.config.update(overrides or {})

    database_url = app.config.get("DATABASE_URL") or (
        "sqlite:///" + os.path.join(app.instance_path, "webapp.sqlite3")
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(database_url)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(app.instance_path)
    if not app.config.get("STORAGE_URL"):
        app.config["STORAGE_URL"] = "file://" + os.path.join(app.instance_path, "storage")
