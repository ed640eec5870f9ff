"""Object storage chosen by STORAGE_URL: `file:///abs/dir` (local folder) or `s3://bucket/prefix`."""

from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app

from .base import (
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    ObjectTooLarge,
    PresignedPost,
    Storage,
    StorageError,
)

__all__ = [
    "ObjectExists",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectTooLarge",
    "PresignedPost",
    "Storage",
    "StorageError",
    "build_storage",
    "get_storage",
    "init_app",
    "set_upload_check",
    "upload_check",
]

UploadCheck = Callable[[str], bool]


def build_storage(app: Flask) -> Storage:
    """Make the store STORAGE_URL names; raise ValueError for a URL no store understands."""
    url = app.config.get("STORAGE_URL") or ""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ValueError(
                f"STORAGE_URL {url!r}: a local folder must be an absolute path, file:///abs/dir."
            )
        from .local import LocalStorage

        return LocalStorage(path, secret_key=app.config["SECRET_KEY"])
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"STORAGE_URL {url!r}: name the bucket, s3://bucket/prefix.")
        from .s3 import S3Storage

        return S3Storage(
            parts.netloc, prefix=unquote(parts.path), endpoint_url=app.config.get("S3_ENDPOINT_URL") or None
        )
    raise ValueError(
        f"STORAGE_URL {url!r} is not supported: use file:///absolute/folder or s3://bucket/prefix "
        "(with S3_ENDPOINT_URL for S3-compatible stores)."
    )


def get_storage(app: Flask | None = None) -> Storage:
    """The app's store, made once and kept in app.extensions["storage"] (tests may replace it there)."""
    app = app or current_app._get_current_object()
    storage = app.extensions.get("storage")
    if storage is None:
        storage = app.extensions["storage"] = build_storage(app)
    return storage


def set_upload_check(app: Flask, check: UploadCheck | None) -> None:
    """Install the question the local upload URL asks before it takes a file: is this key's upload live?

    The services answer it (the storage layer knows nothing of symbol sets): only the key of an upload
    that was started, and not finished, deleted or superseded since, may be written.
    """
    app.extensions["storage.upload_check"] = check


def upload_check(app: Flask | None = None) -> UploadCheck | None:
    return (app or current_app).extensions.get("storage.upload_check")


def init_app(app: Flask) -> None:
    """Make the store now, so a bad STORAGE_URL stops startup, and serve the local upload/download URLs."""
    from .endpoints import bp

    get_storage(app)
    app.register_blueprint(bp)
