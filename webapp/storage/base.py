"""The object-storage interface: local folder and S3-compatible stores implement it alike."""

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO


class StorageError(Exception):
    """The store failed or could not be reached."""


class ObjectNotFound(StorageError):
    """No object under that key."""


class ObjectTooLarge(StorageError):
    """A stream was larger than the limit given to put()."""


class ObjectExists(StorageError):
    """An object is already stored under a key that may be written only once."""


# Relative paths of plain segments: no leading slash, no empty, "." or ".." segments, no dot-files (the
# local store keeps its temporary files as dot-files next to the objects).
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*")
MAX_KEY_LENGTH = 1024  # S3's limit


def validate_key(key: str) -> str:
    """Return the key unchanged, or raise ValueError when it is not a safe relative object path."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY_RE.fullmatch(key):
        raise ValueError(
            f"Invalid storage key {key!r}: use letters, digits, '.', '_', '-' and '/' separators."
        )
    return key


@dataclass(frozen=True)
class PresignedPost:
    """What a client needs to upload without credentials: POST multipart to url, every field, then `file`."""

    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class ObjectInfo:
    size: int


class Storage(ABC):
    """put/open/head/delete plus presigned upload and download URLs."""

    @abstractmethod
    def presign_upload(self, key: str, max_bytes: int, expires_in: int) -> PresignedPost:
        """A URL + fields that accept one multipart POST of at most max_bytes to `key`, until expiry."""

    @abstractmethod
    def presign_download(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """An absolute URL that serves the object's bytes to anyone holding it, until expiry."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's size, or None when there is no object."""

    @abstractmethod
    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A readable binary stream of the object (raise ObjectNotFound)."""

    @abstractmethod
    def put(self, key: str, stream: BinaryIO, max_bytes: int) -> int:
        """Store the stream's bytes under key, in chunks, all or nothing; return the size.

        Raise ObjectTooLarge (and store nothing) past max_bytes.
        """

    @abstractmethod
    def move(self, source: str, target: str) -> None:
        """Move an object to another key inside the store, replacing any object there (raise ObjectNotFound).

        Afterwards `source` holds nothing; what is written to it later is a new, unrelated object.
        """

    @abstractmethod
    def list_keys(self, prefix: str, modified_before: datetime) -> Iterator[str]:
        """The keys under `prefix` (a folder path ending in "/") last written before the cutoff."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    @abstractmethod
    def remove_abandoned(self, started_before: datetime) -> int:
        """Remove partial writes a crashed process left behind before the cutoff; return how many."""

    def iter_chunks(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """The object's bytes in chunks (for hashing without holding the whole object)."""
        with self.open(key) as stream:
            while chunk := stream.read(chunk_size):
                yield chunk
