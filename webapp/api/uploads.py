"""Upload bodies the API reads itself (views marked reads_own_body): one file streamed, or a few files.

The app-wide body limit is sized for JSON and forms; these bodies are measured against their own limit,
from Content-Length up front and again as they arrive.
"""

import io
import sys
from typing import BinaryIO

from flask import request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import File

from ..multipart_stream import FORM_OVERHEAD, FilePart, MultipartBody, UploadRefused
from ..services.errors import ValidationError
from .errors import ApiError


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "file_too_large", f"The upload is larger than {max_bytes // (1024 * 1024)} MiB.")


def _refuse_declared_length(limit: int, max_bytes: int) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(max_bytes)


def streamed_file(name: str, max_bytes: int) -> BinaryIO:
    """The uploaded bytes as a stream read as they arrive: the multipart part `name`, else the raw body.

    Nothing is read yet: a missing part is a 400 naming it on the first read, and a file longer than
    `max_bytes` is for the reader to refuse (the store's put() does).
    """
    request.max_content_length = sys.maxsize  # measured here and while streaming, not by Flask
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    if mimetype != "multipart/form-data":
        _refuse_declared_length(max_bytes, max_bytes)
        return request.stream
    boundary = options.get("boundary", "")
    if not boundary or not boundary.isascii():
        raise ApiError(400, "parse_error", "Multipart form parse error - Invalid boundary in multipart: None")
    _refuse_declared_length(max_bytes + FORM_OVERHEAD, max_bytes)
    return _NamedPart(MultipartBody(request.stream, boundary.encode()), name, max_bytes)


class _NamedPart(io.RawIOBase):
    """One file part of a multipart body, found on the first read; the text fields before it are skipped."""

    def __init__(self, body: MultipartBody, name: str, max_bytes: int):
        self._body = body
        self._name = name
        self._max_bytes = max_bytes
        self._part: FilePart | None = None

    def readable(self) -> bool:
        return True

    def _open(self) -> FilePart:
        _, part = self._body.read_fields()
        if not isinstance(part, File) or part.name != self._name:
            raise ValidationError(
                self._name, "required", f"Send the file as the multipart part `{self._name}`."
            )
        self._body.limit = self._max_bytes + FORM_OVERHEAD
        self._body.max_bytes = self._max_bytes
        return FilePart(self._body)

    def readinto(self, buffer) -> int:
        try:
            if self._part is None:
                self._part = self._open()
            return self._part.readinto(buffer)
        except UploadRefused as error:
            if error.status == 413:
                raise _too_large(self._max_bytes) from None
            raise ApiError(error.status, error.code, error.detail) from None


def form_files(names: dict[str, str], limit: int, too_large_detail: str) -> list[FileStorage]:
    """The multipart file parts `names` ({part: what it holds}), spooled by Werkzeug (to disk past a size).

    A missing part is a 400 whose attr names it; a body over `limit` a 413.
    """
    request.max_content_length = limit
    try:
        files = request.files
    except RequestEntityTooLarge:
        raise ApiError(413, "file_too_large", too_large_detail) from None
    for name, what in names.items():
        if name not in files:
            raise ValidationError(name, "required", f"Send {what} as the multipart part `{name}`.")
    return [files[name] for name in names]
