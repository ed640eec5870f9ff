"""Finishing uploads: check the uploaded bytes, then swap them in (check first, swap after).

Storage calls never happen inside a database transaction: stored bytes are checked before the
results are written, and obsolete objects are deleted after the commit.
"""

import hashlib
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, BinaryIO

from flask import current_app
from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError
from sqlalchemy import select

from ..database import retry_on_contention, write_transaction
from ..extensions import db
from ..models import Project, SymbolSet, User
from ..models.types import utcnow
from ..storage import get_storage
from ..storage.base import ObjectNotFound, Storage, StorageError
from . import activity, inputs, symbol_data, symbol_file_kinds
from .errors import NotFound, ValidationError
from .symbol_sets import SCOPE, delete_objects, get_symbol_set, locking, new_object_key
from .symbol_uploads import (
    CONTENT_HASH_SCHEMA,
    HEX_SHA512,
    MAX_UPLOAD_BYTES,
    ContentHash,
    UploadError,
    parse_content_hash,
)
from .validation import UUID_PATTERN, parse_uuid

# Stored objects checked at once on finish; bounded so a large batch cannot exhaust memory.
CHECK_CONCURRENCY = 4


class _HashingReader:
    """A read-through stream that hashes every byte it passes on."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.digest = hashlib.sha512()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1024 * 1024):
            pass


@dataclass(frozen=True)
class _Target:
    """An upload to check, read off its row before any storage call.

    `key` is a fresh final key that no URL names: the bytes are checked there, so what passes is what
    is served. `staging` is the key the upload URL wrote (None for a browser replacement).
    """

    symbol_set_id: Any
    ref: str
    key: str
    claimed_hash: str | None = None
    staging: str | None = None


@dataclass
class _Checked:
    target: _Target
    actual_hash: str | None
    size: int
    failure: str | None = None
    code: str | None = None
    contents: dict | None = None  # what the file holds (symbol_files.describe), when it passed


def _check_object(storage: Storage, target: _Target, size: int) -> _Checked:
    """Read the stored bytes once: their sha512, and whether they are usable symbols."""
    problem = "The uploaded file is empty." if size == 0 else None
    if size > MAX_UPLOAD_BYTES:
        problem = f"The uploaded file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB."
    if problem:
        return _Checked(target, None, size, problem, "file_too_large")
    failure = code = contents = None
    try:
        with storage.open(target.key) as stream:
            reader = _HashingReader(stream)
            try:
                info = symbol_data.inspect(reader)
                contents = info.contents
                if info.chunk_id and info.chunk_id != target.ref:
                    failure = (
                        f"The minified source is marked chunkId={info.chunk_id}, "
                        f"but this symbol set's ref is {target.ref}."
                    )
                    code = "chunk_id_mismatch"
            except symbol_data.InvalidSymbolData as error:
                failure, code = str(error), "invalid_symbol_data"
            reader.drain()
    except ObjectNotFound:
        raise _file_not_found(target) from None
    actual = reader.digest.hexdigest()
    if failure is None and target.claimed_hash is not None and target.claimed_hash != actual:
        failure = "The uploaded bytes do not match the content hash the client sent."
        code = "content_hash_mismatch"
    return _Checked(target, actual, reader.size, failure, code, contents)


def _file_not_found(target: _Target) -> UploadError:
    return UploadError(
        f"No file was uploaded for {target.ref}; upload it to the presigned URL, then finish again.",
        code="file_not_found",
    )


def _map(function, items: list) -> list:
    """function over items, a few at a time (each is a round trip to S3)."""
    if len(items) == 1:
        return [function(items[0])]
    with ThreadPoolExecutor(max_workers=CHECK_CONCURRENCY) as pool:
        return list(pool.map(function, items))


def _take_uploads(targets: list[_Target]) -> None:
    """Move every staging object to its target key, or none: one missing changes nothing.

    After the move the staging key is empty: a later write to the URL cannot touch what is checked.
    """
    storage = get_storage()

    def move(target: _Target) -> Exception | None:
        try:
            storage.move(target.staging, target.key)
        except StorageError as error:
            return error
        return None

    errors = _map(move, targets)
    failed = [(target, error) for target, error in zip(targets, errors, strict=True) if error]
    if failed:
        _put_back([target for target, error in zip(targets, errors, strict=True) if error is None])
        target, error = failed[0]
        if isinstance(error, ObjectNotFound):
            raise _file_not_found(target) from None
        raise error


def _put_back(targets: list[_Target]) -> None:
    """Undo _take_uploads for these targets, so a retried finish finds the files where it left them."""
    storage = get_storage()
    for target in targets:
        try:
            storage.move(target.key, target.staging)
        except StorageError:
            current_app.logger.exception("Could not move %s back to %s", target.key, target.staging)


def _check_all(targets: list[_Target]) -> list[_Checked]:
    storage = get_storage()

    def check(target: _Target) -> _Checked:
        info = storage.head(target.key)
        if info is None:
            raise _file_not_found(target)
        return _check_object(storage, target, info.size)

    return _map(check, targets)


def _adopt(row: SymbolSet, result: _Checked, now: datetime, obsolete: list[str]) -> str:
    """Make the checked object the set's file (the old one is deleted after commit); return the event."""
    target = result.target
    obsolete.extend(key for key in (row.storage_ptr, row.rejected_key) if key)
    if target.staging is None and row.upload_key:
        obsolete.append(row.upload_key)  # a browser replacement supersedes an unfinished upload
    event = "replaced" if row.uploaded_at is not None else "uploaded"
    row.storage_ptr = target.key
    row.size_bytes = result.size
    row.content_hash = result.actual_hash
    row.contents = result.contents
    row.upload_key = row.upload_started_at = row.rejected_key = None
    row.failure_reason = row.failed_at = None
    row.uploaded_at = now
    return event


def record_failed_attempt(
    session, project: Project, actor: User | None, row: SymbolSet, reason: str, now: datetime
) -> None:
    """Record an upload that failed; the caller has already ended the row's upload URL, if it had one.

    A set with a checked file stays exactly as it was (status, file, size, hash, last used): the attempt
    is only logged. A set without one becomes failed, with the reason, for admins to review.
    """
    if row.content_hash is not None:
        activity.record(session, project, actor, SCOPE, row.id, "upload_failed", row.ref, reason=reason)
        return
    changes = [{"field": "failure_reason", "before": row.failure_reason, "after": reason}]
    row.failure_reason = reason
    row.failed_at = now
    activity.record(session, project, actor, SCOPE, row.id, "failed", row.ref, changes)


@retry_on_contention
def _record(project: Project, actor: User | None, results: list[_Checked]) -> tuple[list[str], set]:
    """Write the checks' outcome in one transaction: swap in what passed, log what failed.

    Return the objects this made obsolete (delete them after the commit) and the ids of sets left alone
    because they were deleted, or given a newer upload, while their bytes were checked.
    """
    now = utcnow()
    obsolete, skipped = [], set()
    with write_transaction() as session:
        ids = [result.target.symbol_set_id for result in results]
        rows = {
            row.id: row for row in session.scalars(locking(select(SymbolSet).where(SymbolSet.id.in_(ids))))
        }
        for result in results:
            target = result.target
            row = rows.get(target.symbol_set_id)
            if row is None or (target.staging is not None and row.upload_key != target.staging):
                obsolete.append(target.key)
                skipped.add(target.symbol_set_id)
                continue
            if target.staging is not None:
                row.upload_key = row.upload_started_at = None  # the URL is used up
            if result.failure is None:
                before = {"content_hash": row.content_hash, "failure_reason": row.failure_reason}
                event = _adopt(row, result, now, obsolete)
                after = {"content_hash": row.content_hash, "failure_reason": row.failure_reason}
                activity.record(
                    session, project, actor, SCOPE, row.id, event, row.ref, activity.diff(before, after)
                )
                continue
            if row.content_hash is None:
                # Keep the rejected bytes for review (replacing older rejected ones); never as the file.
                obsolete.extend([row.rejected_key] if row.rejected_key else [])
                row.rejected_key = target.key
            else:
                obsolete.append(target.key)
            record_failed_attempt(session, project, actor, row, result.failure, now)
    return obsolete, skipped


def _raise_for_failures(results: list[_Checked]) -> None:
    failures = [result for result in results if result.failure]
    if failures:
        first = failures[0]
        others = f" ({len(failures) - 1} more failed)" if len(failures) > 1 else ""
        raise UploadError(f"{first.target.ref}: {first.failure}{others}", code=first.code)


def _hashes_object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise PydanticCustomError("invalid", "content_hashes must be an object of id: sha512.")
    return value


class FinishUploadInput(inputs.Input):
    """Each started symbol set's id, with the sha512 of the bytes uploaded for it."""

    content_hashes: Annotated[
        dict[str, ContentHash],
        BeforeValidator(_hashes_object),
        WithJsonSchema(
            {
                "type": "object",
                "propertyNames": {"pattern": UUID_PATTERN},
                "additionalProperties": CONTENT_HASH_SCHEMA,
            }
        ),
    ] = {}


def _required_hash(value: Any) -> str:
    claimed = parse_content_hash(value, None)
    if claimed is None:
        raise UploadError("content_hash is required.", code="content_hash_required")
    return claimed


class FinishOneInput(inputs.Input):
    """The deprecated single-set finish."""

    model_config = ConfigDict(json_schema_extra={"required": ["content_hash"]})

    content_hash: inputs.checked(_required_hash, HEX_SHA512) = Field(default=None, validate_default=True)


def finish_uploads(project: Project, actor: User | None, body: Mapping) -> None:
    """Check each uploaded object; what passes becomes the set's file, what fails is recorded."""
    # As PostHog: a body without content_hashes finishes nothing (a re-run that uploaded nothing).
    hashes_in = inputs.parse(FinishUploadInput, body).content_hashes
    if not hashes_in:
        return
    hashes = {}
    for raw_id, value in hashes_in.items():
        key = parse_uuid(raw_id)
        if key is None:
            raise UploadError(f"Symbol set {raw_id} not found.", code="symbol_set_not_found")
        hashes[key] = value
    rows = {
        row.id: row
        for row in db.session.scalars(
            select(SymbolSet).where(SymbolSet.project_id == project.id, SymbolSet.id.in_(list(hashes)))
        )
    }
    missing = sorted(str(key) for key in set(hashes) - set(rows))
    if missing:
        raise UploadError(f"Symbol set {missing[0]} not found.", code="symbol_set_not_found")
    targets = []
    for key, claimed in hashes.items():
        row = rows[key]
        if row.upload_key is None:
            if row.content_hash is not None and claimed in (None, row.content_hash):
                continue  # a retried finish (the CLI retries): this upload is recorded already
            raise UploadError(
                f"No upload is in progress for {row.ref}: start one with bulk_start_upload, "
                "upload the file, then finish.",
                code="file_not_found",
            )
        targets.append(_Target(row.id, row.ref, new_object_key(project.id, row.id), claimed, row.upload_key))
    db.session.rollback()  # no transaction stays open while storage is read
    if not targets:
        return
    _take_uploads(targets)
    try:
        results = _check_all(targets)
        # Recording can still fail (contended past its retries, an outage): nothing is recorded then.
        obsolete, skipped = _record(project, actor, results)
    except BaseException:
        _put_back(targets)
        raise
    delete_objects(obsolete)
    _raise_for_failures(results)
    for target in targets:
        if target.symbol_set_id in skipped:
            # Another request won the race for this set: success here would claim a file it does not hold.
            raise UploadError(
                f"The upload of {target.ref} ended while it was checked (the set was deleted, the upload "
                "expired or a newer one started); start it again.",
                code="file_not_found",
            )


def finish_single_upload(project: Project, actor: User | None, symbol_set_id: Any, body: Mapping) -> None:
    """The deprecated `PUT :id/finish_upload {"content_hash"}`."""
    item = get_symbol_set(project, symbol_set_id)
    claimed = inputs.parse(FinishOneInput, body).content_hash
    finish_uploads(project, actor, {"content_hashes": {str(item.id): claimed}})


def upload_is_live(key: str) -> bool:
    """Whether `key` is the staging key of an upload that is started and not yet finished or deleted.

    The local store's upload URL asks this before it takes a file (see storage.set_upload_check).
    """
    live = db.session.scalar(select(SymbolSet.pk).where(SymbolSet.upload_key == key)) is not None
    db.session.rollback()  # the upload that follows may be slow: hold no transaction meanwhile
    return live


# A replacement's two files of up to MAX_UPLOAD_BYTES together, plus the multipart framing and fields.
REPLACE_BODY_LIMIT = MAX_UPLOAD_BYTES + 1024 * 1024
REPLACE_TOO_LARGE = f"Together the files are larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB."


def _stream_size(stream: BinaryIO) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def replace_from_files(
    project: Project, actor: User | None, symbol_set_id: Any, source: BinaryIO, source_map: BinaryIO
) -> SymbolSet:
    """Build a symbol-data blob from a minified file and its map (a browser upload), check it, swap it in.

    Check first, swap after: the blob is stored under a fresh key and checked there (check_and_swap).
    """
    item = get_symbol_set(project, symbol_set_id)
    # Read now: the rollback below expires `item`, and the row may be gone by the time it would reload.
    item_id, ref = item.id, item.ref
    key = new_object_key(project.id, item_id)
    source_size, map_size = _stream_size(source), _stream_size(source_map)
    if not source_size or not map_size:
        raise ValidationError(
            None, "file_too_large", "Choose a minified file and its source map; neither may be empty."
        )
    if source_size + map_size + 64 > MAX_UPLOAD_BYTES:
        raise ValidationError(None, "file_too_large", REPLACE_TOO_LARGE)
    # A map in the minified slot may even pass the check; neither slip is recorded as the set's failure.
    swapped = symbol_file_kinds.swap_hint(symbol_file_kinds.head(source), symbol_file_kinds.head(source_map))
    if swapped:
        raise ValidationError(None, "wrong_file", swapped)
    db.session.rollback()
    with tempfile.TemporaryFile() as blob:
        size = symbol_data.write_source_and_map(blob, source, source_size, source_map, map_size)
        blob.seek(0)
        get_storage().put(key, blob, MAX_UPLOAD_BYTES)
    check_and_swap(project, actor, item_id, ref, key, size)
    return get_symbol_set(project, item_id)


def check_and_swap(
    project: Project, actor: User | None, symbol_set_id: Any, ref: str, key: str, size: int
) -> None:
    """Check the bytes under `key` (a fresh final key) for this set; swap them in, or record why not.

    What passes becomes the set's file in one transaction (the old file is deleted after the commit). A
    failure leaves a set that has a file exactly as it was (the attempt is logged), makes one without a
    file failed, and raises the reason as a ValidationError. NotFound when the set was deleted meanwhile.
    """
    target = _Target(symbol_set_id, ref, key)
    try:
        results = [_check_object(get_storage(), target, size)]
    except BaseException:
        delete_objects([key])
        raise
    obsolete, skipped = _record(project, actor, results)
    delete_objects(obsolete)
    if symbol_set_id in skipped:
        raise NotFound(resource="symbol_set")
    _raise_for_failures(results)
