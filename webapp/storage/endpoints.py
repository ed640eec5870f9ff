"""The local store's presigned URLs: a multipart POST upload like S3's, and a signed download.

No login: the signed token is the authorization. The upload body is parsed as it arrives, so the token is
checked before any file byte is accepted, the file streams straight into the store, and a body larger than
the token allows is refused (413) whether or not it declared a Content-Length.
"""

import io
import os
import sys

from flask import Blueprint, current_app, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from ..api.errors import ApiError, error_response
from ..availability import is_unavailable
from ..errors import unavailable_response
from ..extensions import csrf
from ..ratelimit import counts_as_upload
from . import get_storage, upload_check
from .base import ObjectExists, ObjectNotFound, ObjectTooLarge
from .local import ExpiredGrant, InvalidGrant, LocalStorage

READ_SIZE = 64 * 1024
# Room for the form's text fields and part headers, before and around the file's bytes.
FORM_OVERHEAD = 64 * 1024
MAX_PARTS = 50

bp = Blueprint("storage", __name__, url_prefix="/storage")
csrf.exempt(bp)


class UploadRefused(Exception):
    """An upload answered with a 4xx and a short JSON body."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def _error(status: int, code: str, detail: str):
    """The app's one error shape (PostHog's), never cached: build tools read `code` and `detail`."""
    response = error_response(ApiError(status, code, detail))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(UploadRefused)
def _refused(error: UploadRefused):
    return _error(error.status, error.code, error.detail)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return _error(error.code or 400, error.name.lower().replace(" ", "_"), error.description or error.name)


@bp.errorhandler(Exception)
def _unexpected_error(error: Exception):
    if is_unavailable(error):  # a full disk, an unwritable folder, the database down
        return unavailable_response(error)
    # Clients of these URLs are build tools and scripts: JSON, even for a bug.
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    return _error(500, "error", "A server error occurred.")


def _too_large(limit: int) -> UploadRefused:
    return UploadRefused(
        413, "file_too_large", f"The upload is larger than the {limit} bytes this URL allows."
    )


def _local_storage() -> LocalStorage:
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        # With S3 the store itself takes uploads and serves downloads.
        raise UploadRefused(404, "not_found", "This server does not take uploads itself.")
    return storage


class _MultipartBody:
    """Read a multipart body event by event, never more than `limit` bytes of it."""

    def __init__(self, stream, boundary: bytes):
        self._stream = stream
        self._decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
        self.received = 0
        # Until the token is checked only the text fields may come: FORM_OVERHEAD bytes at most.
        self.limit = FORM_OVERHEAD
        self.max_bytes: int | None = None

    def next_event(self):
        while True:
            try:
                event = self._decoder.next_event()
            except ValueError as error:  # the body ended in the middle of a part
                raise UploadRefused(400, "invalid_form", "The multipart body is incomplete.") from error
            if not isinstance(event, NeedData):
                return event
            chunk = self._stream.read(READ_SIZE)
            self.received += len(chunk)
            if self.received > self.limit:
                if self.max_bytes is None:
                    raise UploadRefused(
                        413, "fields_too_large", "The form fields before `file` are too large."
                    )
                raise _too_large(self.max_bytes)
            self._decoder.receive_data(chunk or None)

    def skip_to_end(self) -> None:
        """Read (and ignore, as S3 does) whatever follows the file part, so the connection can be reused."""
        while not isinstance(self.next_event(), Epilogue):
            pass

    def read_fields(self) -> tuple[dict[str, str], File | None]:
        """The text fields up to the file part, and that part's header (None when there is none)."""
        fields: dict[str, str] = {}
        name, value = None, []
        while True:
            event = self.next_event()
            if isinstance(event, File):
                return fields, event
            if isinstance(event, Epilogue):
                return fields, None
            if isinstance(event, Field):
                name, value = event.name, []
            elif isinstance(event, Data) and name is not None:
                value.append(event.data)
                if not event.more_data:
                    fields[name] = b"".join(value).decode("utf-8", "replace")
                    name = None


class _FilePart(io.RawIOBase):
    """The current file part's bytes as a readable stream, pulled from the body as they arrive."""

    def __init__(self, body: _MultipartBody):
        self._body = body
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._pending and not self._done:
            event = self._body.next_event()
            if isinstance(event, Data):
                self._pending = event.data
                if not event.more_data:
                    self._done = True
                    # Still inside put(): a body that turns out too long stores nothing.
                    self._body.skip_to_end()

    def is_empty(self) -> bool:
        self._fill()
        return not self._pending

    def readinto(self, buffer) -> int:
        self._fill()
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


@bp.post("/upload")
@counts_as_upload
def upload():
    """Store one file under the key a presigned upload token grants (answers 204, like S3)."""
    storage = _local_storage()
    # The body is measured below against the token's own limit, byte by byte; the app-wide
    # MAX_CONTENT_LENGTH (sized for JSON and forms) must not refuse it first. (None would mean "use
    # the app's limit" to Flask.)
    request.max_content_length = sys.maxsize
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary or not boundary.isascii():
        raise UploadRefused(
            400, "invalid_form", "Send multipart/form-data: every presigned field, then `file`."
        )

    body = _MultipartBody(request.stream, boundary.encode())
    fields, file_part = body.read_fields()
    missing = [name for name in ("key", "policy") if not fields.get(name)]
    if missing:
        raise UploadRefused(
            400,
            "missing_field",
            f"Missing form field(s) {', '.join(missing)}: send every presigned field before `file`.",
        )
    try:
        grant = storage.verify_upload(fields["policy"])
    except ExpiredGrant as error:
        raise UploadRefused(
            403, "expired_policy", "This upload URL has expired; request a new upload URL and upload again."
        ) from error
    except InvalidGrant as error:
        raise UploadRefused(403, "invalid_policy", "The upload policy is invalid.") from error
    if fields["key"] != grant.key:
        raise UploadRefused(403, "key_mismatch", "The key field does not match the upload policy.")
    _refuse_dead_upload(storage, grant.key)
    if file_part is None or file_part.name != "file":
        raise UploadRefused(
            400, "missing_file", "Send the file's bytes as the form part `file`, after the fields."
        )

    limit = grant.max_bytes + FORM_OVERHEAD
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(grant.max_bytes)
    body.limit, body.max_bytes = limit, grant.max_bytes
    stream = _FilePart(body)
    if stream.is_empty():
        raise UploadRefused(400, "file_too_small", "The file is empty.")
    try:
        storage.create(grant.key, stream, grant.max_bytes)
    except ObjectTooLarge as error:
        raise _too_large(grant.max_bytes) from error
    except ObjectExists as error:
        raise _already_used() from error  # a second upload raced this one and landed first
    return "", 204


def _already_used() -> UploadRefused:
    return UploadRefused(
        409,
        "already_uploaded",
        "A file was already uploaded to this URL, and an upload URL takes one file; "
        "request a new upload URL to upload again.",
    )


def _refuse_dead_upload(storage: LocalStorage, key: str) -> None:
    """Refuse, before any file byte is read, a URL whose upload is over or was already used."""
    check = upload_check()
    if check is None or not check(key):
        raise UploadRefused(
            410,
            "upload_closed",
            "This upload URL is no longer valid: its upload was finished, replaced by a newer one, or its "
            "symbol set was deleted. Request a new upload URL.",
        )
    if storage.head(key) is not None:
        raise _already_used()


@bp.get("/download")
def download():
    """Serve the object a presigned download token names."""
    storage = _local_storage()
    try:
        grant = storage.verify_download(request.args.get("token", ""))
    except ExpiredGrant as error:
        raise UploadRefused(
            403, "expired_token", "This download link has expired; request a new one."
        ) from error
    except InvalidGrant as error:
        raise UploadRefused(403, "invalid_token", "The download link is invalid.") from error
    try:
        stream = storage.open(grant.key)
    except ObjectNotFound as error:
        raise UploadRefused(404, "not_found", "The file no longer exists.") from error
    response = send_file(
        stream,
        mimetype="application/octet-stream",
        as_attachment=bool(grant.filename),
        download_name=grant.filename,
        conditional=False,
    )
    response.content_length = os.fstat(stream.fileno()).st_size
    response.headers["Cache-Control"] = "private, no-store"
    return response
