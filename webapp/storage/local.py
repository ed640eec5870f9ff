"""Objects as files under one folder; the app itself serves the presigned upload and download URLs."""

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from flask import url_for
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from .base import (
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    ObjectTooLarge,
    PresignedPost,
    Storage,
    StorageError,
    validate_key,
)

CHUNK_SIZE = 1024 * 1024
UPLOAD_SALT = "webapp.storage.upload"
DOWNLOAD_SALT = "webapp.storage.download"


class InvalidGrant(Exception):
    """A presigned token that is forged, damaged or for something else."""


class ExpiredGrant(InvalidGrant):
    """A genuine presigned token whose lifetime is over."""


@dataclass(frozen=True)
class UploadGrant:
    key: str
    max_bytes: int


@dataclass(frozen=True)
class DownloadGrant:
    key: str
    filename: str | None


class LocalStorage(Storage):
    """Files under root; writes go to a temporary file beside the target and are renamed into place.

    `clock` is the time source for signing and checking tokens (tests move it to make expired tokens).
    """

    def __init__(self, root: str | os.PathLike, secret_key: str, clock: Callable[[], float] = time.time):
        self.root = Path(root).resolve()
        self._secret_key = secret_key
        self._clock = clock

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    # Tokens ------------------------------------------------------------------------------------------

    def _serializer(self, salt: str) -> URLSafeTimedSerializer:
        clock = self._clock

        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        return URLSafeTimedSerializer(self._secret_key, salt=salt, signer=Signer)

    def _sign(self, salt: str, payload: dict) -> str:
        return self._serializer(salt).dumps(payload)

    def _verify(self, salt: str, token: str) -> dict:
        try:
            payload, signed_at = self._serializer(salt).loads(token, return_timestamp=True)
        except BadSignature as error:
            raise InvalidGrant("The token is invalid.") from error
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            raise InvalidGrant("The token is invalid.")
        if self._clock() - signed_at.timestamp() > payload["exp"]:
            raise ExpiredGrant("The token has expired.")
        return payload

    def verify_upload(self, token: str) -> UploadGrant:
        """The key and size limit a presigned upload token grants (raise InvalidGrant / ExpiredGrant)."""
        payload = self._verify(UPLOAD_SALT, token)
        try:
            return UploadGrant(key=validate_key(payload["key"]), max_bytes=int(payload["max"]))
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidGrant("The token is invalid.") from error

    def verify_download(self, token: str) -> DownloadGrant:
        """The key (and attachment filename) a presigned download token grants."""
        payload = self._verify(DOWNLOAD_SALT, token)
        try:
            return DownloadGrant(key=validate_key(payload["key"]), filename=payload.get("filename"))
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidGrant("The token is invalid.") from error

    @staticmethod
    def _external_url(endpoint: str, **values) -> str:
        try:
            return url_for(endpoint, _external=True, **values)
        except RuntimeError as error:
            raise StorageError(
                "Local storage builds its upload and download URLs from the current request; "
                "outside a request set SERVER_NAME (and PREFERRED_URL_SCHEME) in the app config."
            ) from error

    def presign_upload(self, key: str, max_bytes: int, expires_in: int) -> PresignedPost:
        token = self._sign(
            UPLOAD_SALT, {"key": validate_key(key), "max": int(max_bytes), "exp": int(expires_in)}
        )
        return PresignedPost(url=self._external_url("storage.upload"), fields={"key": key, "policy": token})

    def presign_download(self, key: str, expires_in: int, filename: str | None = None) -> str:
        payload = {"key": validate_key(key), "exp": int(expires_in)}
        if filename:
            payload["filename"] = filename
        return self._external_url("storage.download", token=self._sign(DOWNLOAD_SALT, payload))

    # Objects -----------------------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            self._require_folder()
            return None
        except OSError as error:
            raise StorageError(f"Cannot read {path}: {error.strerror}") from error
        if not path.is_file():
            return None
        return ObjectInfo(size=info.st_size)

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")  # a file is its own context manager
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
            self._require_folder()
            raise ObjectNotFound(key) from error
        except OSError as error:
            raise StorageError(f"Cannot read {path}: {error.strerror}") from error

    def _require_folder(self) -> None:
        """Raise StorageError when a file stands where the store's folder should be: no object is readable."""
        if self.root.exists() and not self.root.is_dir():
            raise StorageError(f"Cannot read {self.root}: it is not a folder.")

    def put(self, key: str, stream: BinaryIO, max_bytes: int) -> int:
        return self._write(key, stream, max_bytes, replace=True)

    def create(self, key: str, stream: BinaryIO, max_bytes: int) -> int:
        """Like put(), but only when no object is stored under key yet (raise ObjectExists, store nothing).

        Presigned uploads write with this, so an upload URL can be used once: two racing uploads to the
        same URL cannot both land, and a finished object can never be overwritten through it.
        """
        return self._write(key, stream, max_bytes, replace=False)

    def _write(self, key: str, stream: BinaryIO, max_bytes: int, *, replace: bool) -> int:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Same folder as the target, so the rename is atomic; a dot-file no key can name.
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        except OSError as error:
            raise StorageError(f"Cannot write {path}: {error.strerror}") from error
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ObjectTooLarge(f"{key} is larger than {max_bytes} bytes.")
                    with _writing(path):
                        out.write(chunk)
                with _writing(path):
                    out.flush()
                    os.fsync(out.fileno())  # the bytes are on disk before the name points at them
            with _writing(path):
                if replace:
                    os.replace(temporary, path)
                else:
                    _link_new(temporary, path, key)
        except BaseException:
            # Whatever went wrong (too large, the client went away, a full disk): leave nothing behind.
            with suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        if not replace:
            with suppress(FileNotFoundError):
                os.unlink(temporary)  # the object is the hard link now
        return size

    def move(self, source: str, target: str) -> None:
        source_path, target_path = self._path(source), self._path(target)
        try:
            target_path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source_path, target_path)  # atomic within one file system, as the root is
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
            self._require_folder()
            raise ObjectNotFound(source) from error
        except OSError as error:
            raise StorageError(f"Cannot move {source_path} to {target_path}: {error.strerror}") from error

    def list_keys(self, prefix: str, modified_before: datetime) -> Iterator[str]:
        folder = self._path(prefix.rstrip("/"))
        cutoff = modified_before.timestamp()
        for parent, _, names in os.walk(folder):
            for name in names:
                if name.startswith("."):
                    continue  # put()'s temporary files: remove_abandoned() owns them
                path = os.path.join(parent, name)
                with suppress(FileNotFoundError):
                    if os.stat(path).st_mtime < cutoff:
                        yield Path(path).relative_to(self.root).as_posix()

    def remove_abandoned(self, started_before: datetime) -> int:
        """Delete `put()`'s temporary files (`.<name>.<random>.part`) last written before the cutoff."""
        cutoff = started_before.timestamp()
        removed = 0
        for folder, _, names in os.walk(self.root):
            for name in names:
                if not (name.startswith(".") and name.endswith(".part")):
                    continue
                path = os.path.join(folder, name)
                with suppress(FileNotFoundError):
                    if os.stat(path).st_mtime < cutoff:
                        os.unlink(path)
                        removed += 1
        return removed

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass  # already gone, or a folder (a prefix of other keys), not an object
        except OSError as error:
            raise StorageError(f"Cannot delete {path}: {error.strerror}") from error


def _link_new(temporary: str, path: Path, key: str) -> None:
    """Give the written file its name only if the name is free: link() never replaces, rename() does."""
    try:
        os.link(temporary, path)
    except FileExistsError as error:
        raise ObjectExists(f"{key} has been written already.") from error


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write (full disk, permissions) into a StorageError; other errors pass through."""
    try:
        yield
    except OSError as error:
        raise StorageError(f"Cannot write {path}: {error.strerror}") from error
