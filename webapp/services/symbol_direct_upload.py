"""The deprecated direct upload, `POST symbol_sets/?chunk_id=&release_id=`: the request carries the bytes.

As PostHog's `create` did: the chunk's set is created, or its file replaced. The bytes stream to a staging
key first, so a body that is too large or cut off leaves nothing behind; then the set is found or created
under start's rules, and the bytes are checked at a fresh final key and swapped in like a browser
replacement (check_and_swap): a file that fails never replaces one that passed.
"""

from typing import Any, BinaryIO

from ..models import Project, User
from ..storage import ObjectTooLarge, get_storage
from .errors import Conflict, NotFound, TooLarge
from .symbol_sets import delete_objects, new_object_key, new_staging_key, validate_ref
from .symbol_upload_checks import check_and_swap
from .symbol_uploads import MAX_UPLOAD_BYTES, StartRequest, check_start, open_set, parse_start_request

TOO_LARGE = f"The upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB."


def parse_direct_upload(project: Project, chunk_id: Any, release_id: Any) -> StartRequest:
    """Validate the query before any byte is read: the chunk id, and the release as start checks it."""
    validate_ref(chunk_id, "chunk_id")  # name the query parameter, not the legacy body's list
    # A replacing start (force): an uploaded chunk gets the new file once it passes, as PostHog's did.
    request = parse_start_request({"chunk_ids": [chunk_id], "release_id": release_id, "force": True})
    check_start(project, request)
    return request


def direct_upload(project: Project, actor: User | None, request: StartRequest, stream: BinaryIO) -> None:
    """Store the stream's bytes for the request's chunk, check them, and make them its file if they pass.

    Raise TooLarge past MAX_UPLOAD_BYTES (nothing kept), and the check's ValidationError for bytes that fail
    (recorded on the set, as a finished upload's failure is).
    """
    storage = get_storage()
    staging = new_staging_key(project.id, "direct")
    try:
        size = storage.put(staging, stream, MAX_UPLOAD_BYTES)
    except ObjectTooLarge as error:
        raise TooLarge(TOO_LARGE) from error
    try:
        symbol_set_id, ref = open_set(project, request)
        key = new_object_key(project.id, symbol_set_id)
        storage.move(staging, key)
    except BaseException:
        delete_objects([staging])
        raise
    try:
        check_and_swap(project, actor, symbol_set_id, ref, key, size)
    except NotFound:
        raise Conflict(
            f"The symbol set {ref} was deleted while its upload was checked; upload it again.",
            code="symbol_set_deleted",
        ) from None
