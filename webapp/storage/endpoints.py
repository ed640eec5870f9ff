"""The local store's presigned URLs: a multipart POST upload like S3's, and a signed download.

No login: the signed token is the authorization. The upload body is parsed as it arrives, so the token is
checked before any file byte is accepted, the file streams straight into the store, and a body larger than
the token allows is refused (413) whether or not it declared a Content-Length.
"""

import os
import sys

from flask import Blueprint, current_app, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_options_header

from ..api.errors import ApiError, error_response
from ..availability import is_unavailable
from ..errors import unavailable_response
from ..extensions import csrf
from ..multipart_stream import FORM_OVERHEAD, FilePart, MultipartBody, UploadRefused, too_large
from ..ratelimit import counts_as_upload
from . import get_storage, upload_check
from .base import ObjectExists, ObjectNotFound, ObjectTooLarge
from .local import ExpiredGrant, InvalidGrant, LocalStorage

bp = Blueprint("storage", __name__, url_prefix="/storage")
csrf.exempt(bp)


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


def _local_storage() -> LocalStorage:
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        # With S3 the store itself takes uploads and serves downloads.
        raise UploadRefused(404, "not_found", "This server does not take uploads itself.")
    return storage


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

    body = MultipartBody(request.stream, boundary.encode())
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
        raise too_large(grant.max_bytes)
    body.limit, body.max_bytes = limit, grant.max_bytes
    stream = FilePart(body)
    if stream.is_empty():
        raise UploadRefused(400, "file_too_small", "The file is empty.")
    try:
        storage.create(grant.key, stream, grant.max_bytes)
    except ObjectTooLarge as error:
        raise too_large(grant.max_bytes) from error
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
