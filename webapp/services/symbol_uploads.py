"""The presigned upload protocol the PostHog CLI speaks: start, upload, finish; checks; expiry.

Storage calls never happen inside a database transaction: URLs are signed after the rows commit,
and stored bytes are checked before the results are written.
"""

import hashlib
import itertools
import re
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..database import LostRace, insert_or_ignore, retry_on_contention, write_transaction
from ..extensions import db
from ..models import Project, Release, SymbolSet, User
from ..models.types import utcnow
from ..storage import get_storage
from ..storage.base import ObjectNotFound, PresignedPost, Storage, StorageError
from . import activity, symbol_data
from .errors import NotFound, ValidationError
from .symbol_sets import (
    SCOPE,
    STAGING_PREFIX,
    delete_objects,
    get_symbol_set,
    locking,
    new_object_key,
    new_staging_key,
    validate_ref,
)
from .validation import boolean, parse_uuid

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
UPLOAD_URL_SECONDS = 300
EXPIRY_GRACE = timedelta(minutes=10)
MAX_SETS_PER_REQUEST = 1000
SHA512_HEX = re.compile(r"[0-9a-f]{128}")
# Stored objects checked at once on finish; bounded so a large batch cannot exhaust memory.
CHECK_CONCURRENCY = 4


class UploadError(ValidationError):
    """A 400 with one of the protocol's error codes (file_not_found, file_too_large, ...)."""

    def __init__(self, detail: str, code: str, attr: str | None = None):
        super().__init__(attr, code, detail)


# --- starting uploads ---------------------------------------------------------------------


@dataclass
class _Requested:
    chunk_id: str
    release_id: Any = None
    content_hash: str | None = None


@dataclass
class StartRequest:
    items: list[_Requested]
    force: bool = False
    skip_on_conflict: bool = False


@dataclass
class IssuedUpload:
    chunk_id: str
    symbol_set_id: str
    presigned_url: PresignedPost


@dataclass
class _Plan:
    """What a start request would do: sets to create, to re-issue, and chunk ids left out."""

    create: list[tuple[_Requested, SymbolSet | None]] = field(default_factory=list)
    reissue: list[tuple[_Requested, SymbolSet]] = field(default_factory=list)
    attach_release: list[tuple[_Requested, SymbolSet]] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)

    @property
    def to_upload(self) -> list[str]:
        return [item.chunk_id for item, _ in self.create + self.reissue]


def _content_hash(value: Any, attr: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not SHA512_HEX.fullmatch(value.lower()):
        raise ValidationError(attr, "invalid_content_hash", "content_hash must be a sha512 hex digest.")
    return value.lower()


def parse_start_request(body: Mapping) -> StartRequest:
    """Read the current body ({"symbol_sets": [...]}) or the legacy one ({"chunk_ids": [...]})."""
    force = boolean(body.get("force", False), "force")
    skip = boolean(body.get("skip_on_conflict", False), "skip_on_conflict")
    if force and skip:
        raise ValidationError(
            None, "invalid_conflict_handling", "Use either force or skip_on_conflict, not both."
        )
    if "symbol_sets" in body:
        raw = body["symbol_sets"]
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            raise ValidationError("symbol_sets", "invalid", "symbol_sets must be a list of objects.")
        items = [
            _Requested(
                chunk_id=validate_ref(item.get("chunk_id"), f"symbol_sets__{i}__chunk_id"),
                release_id=item.get("release_id"),
                content_hash=_content_hash(item.get("content_hash"), f"symbol_sets__{i}__content_hash"),
            )
            for i, item in enumerate(raw)
        ]
    elif "chunk_ids" in body:
        raw = body["chunk_ids"]
        if not isinstance(raw, list):
            raise ValidationError("chunk_ids", "invalid_chunk_ids", "chunk_ids must be a list of strings.")
        release_id = body.get("release_id")
        items = [
            _Requested(validate_ref(value, f"chunk_ids__{i}"), release_id) for i, value in enumerate(raw)
        ]
    else:
        raise ValidationError("symbol_sets", "required", "Send symbol_sets (or the legacy chunk_ids).")
    if len(items) > MAX_SETS_PER_REQUEST:
        raise ValidationError(
            "symbol_sets", "too_many", f"Start at most {MAX_SETS_PER_REQUEST} uploads per request."
        )
    seen, duplicates = set(), []
    for item in items:
        if item.chunk_id in seen:
            duplicates.append(item.chunk_id)
        seen.add(item.chunk_id)
    if duplicates:
        raise ValidationError(
            "chunk_ids", "invalid_chunk_ids", f"Duplicate chunk ids: {', '.join(sorted(set(duplicates)))}."
        )
    return StartRequest(items=items, force=force, skip_on_conflict=skip)


def _resolve_releases(session, project: Project, items: list[_Requested]) -> None:
    """Turn release ids into this project's release uuids; anything else is invalid_release_id."""
    wanted = {}
    for item in items:
        if item.release_id in (None, ""):
            item.release_id = None
            continue
        key = parse_uuid(item.release_id)
        if key is None:
            raise ValidationError(
                "release_id", "invalid_release_id", f"'{item.release_id}' is not a valid release id."
            )
        wanted[key] = item.release_id
        item.release_id = key
    if wanted:
        found = set(
            session.scalars(
                select(Release.id).where(Release.project_id == project.id, Release.id.in_(wanted))
            )
        )
        missing = [str(value) for key, value in wanted.items() if key not in found]
        if missing:
            raise ValidationError(
                "release_id", "invalid_release_id", f"No release {missing[0]} in this project."
            )


def _plan(request: StartRequest, existing: dict[str, SymbolSet], created: set[str]) -> _Plan:
    """Decide per chunk id; `created` are the rows this request inserted itself (they need a URL)."""
    plan = _Plan()
    for item in request.items:
        current = existing.get(item.chunk_id)
        if current is None or item.chunk_id in created:
            plan.create.append((item, current))
            continue
        if item.release_id is not None and current.release_id not in (None, item.release_id):
            raise ValidationError(
                "release_id",
                "release_id_mismatch",
                f"Chunk {item.chunk_id} already belongs to another release.",
            )
        if item.release_id is not None and current.release_id is None:
            plan.attach_release.append((item, current))
        if current.status != "uploaded":
            # Pending uploads get a fresh URL; failed ones may be retried without --force.
            plan.reissue.append((item, current))
        elif item.content_hash is None or item.content_hash == current.content_hash:
            # Same bytes (or a legacy client that cannot say): already uploaded.
            if request.force and item.content_hash is None:
                plan.reissue.append((item, current))
            else:
                plan.omitted.append(item.chunk_id)
        elif request.skip_on_conflict:
            plan.omitted.append(item.chunk_id)
        elif request.force:
            plan.reissue.append((item, current))
        else:
            raise ValidationError(
                "content_hash",
                "content_hash_mismatch",
                f"Chunk {item.chunk_id} was already uploaded with different content; "
                "use force to replace it or skip_on_conflict to keep it.",
            )
    return plan


def _refs(request: StartRequest) -> list[str]:
    return [item.chunk_id for item in request.items]


def check_uploads(project: Project, body: Mapping) -> list[str]:
    """The chunk ids a start request would issue URLs for; creates nothing."""
    request = parse_start_request(body)
    _resolve_releases(db.session, project, request.items)
    rows = db.session.scalars(
        select(SymbolSet).where(SymbolSet.project_id == project.id, SymbolSet.ref.in_(_refs(request)))
    )
    plan = _plan(request, {row.ref: row for row in rows}, created=set())
    db.session.rollback()
    return plan.to_upload


def _insert_missing(session, project: Project, request: StartRequest) -> set[str]:
    """Insert the sets no one has created yet, in ref order; return the refs this inserted."""
    items = sorted(request.items, key=lambda item: item.chunk_id)
    # ON CONFLICT DO NOTHING: a set another request is creating right now is waited for, then
    # skipped; inserting in one order means two such requests never wait for each other in a circle.
    statement = (
        insert_or_ignore(session, SymbolSet, ["project_id", "ref"])
        .values(
            [
                {"project_id": project.id, "ref": item.chunk_id, "release_id": item.release_id}
                for item in items
            ]
        )
        .returning(SymbolSet.ref)
    )
    return set(session.scalars(statement))


def start_uploads(project: Project, actor: User | None, body: Mapping) -> list[IssuedUpload]:
    """Create or re-open symbol sets and sign one upload URL each, all in one transaction."""
    return _start(project, actor, parse_start_request(body))


@retry_on_contention
def _start(project: Project, actor: User | None, request: StartRequest) -> list[IssuedUpload]:
    now = utcnow()
    abandoned_objects = []
    issued: list[tuple[str, SymbolSet]] = []
    with write_transaction() as session:
        _resolve_releases(session, project, request.items)
        created = _insert_missing(session, project, request)
        rows = session.scalars(
            locking(
                select(SymbolSet).where(SymbolSet.project_id == project.id, SymbolSet.ref.in_(_refs(request)))
            )
        )
        existing = {row.ref: row for row in rows}
        if len(existing) < len(request.items):
            raise LostRace()  # a set was deleted between the insert and the lock: start over
        plan = _plan(request, existing, created)
        for item, current in plan.attach_release:
            current.release_id = item.release_id
        for item, symbol_set in plan.create:
            symbol_set.upload_key = new_staging_key(project.id, symbol_set.id)
            symbol_set.upload_started_at = now
            issued.append((item.chunk_id, symbol_set))
        for item, current in plan.reissue:
            if current.upload_key:
                # The previous URL dies with its key; whatever it wrote is dropped.
                abandoned_objects.append(current.upload_key)
            if current.status == "uploaded":
                # The checked file stays in use (status, file, hash) until the new bytes pass.
                activity.record(
                    session, project, actor, SCOPE, current.id, "replacement_started", current.ref
                )
            current.upload_key = new_staging_key(project.id, current.id)
            current.upload_started_at = now
            issued.append((item.chunk_id, current))
        session.flush()
        keys = [(chunk_id, str(item.id), item.upload_key) for chunk_id, item in issued]
    delete_objects(abandoned_objects)
    storage = get_storage()
    return [
        IssuedUpload(
            chunk_id, symbol_set_id, storage.presign_upload(key, MAX_UPLOAD_BYTES, UPLOAD_URL_SECONDS)
        )
        for chunk_id, symbol_set_id, key in keys
    ]


def start_single_upload(project: Project, actor: User | None, chunk_id: Any, release_id: Any) -> IssuedUpload:
    """The deprecated one-chunk form: like the legacy bulk body, replacing an uploaded chunk."""
    validate_ref(chunk_id, "chunk_id")  # name the query parameter in the error, not the legacy body's list
    body = {"chunk_ids": [chunk_id], "release_id": release_id, "force": True}
    return start_uploads(project, actor, body)[0]


# --- finishing uploads --------------------------------------------------------------------


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


def _check_object(storage: Storage, target: _Target, size: int) -> _Checked:
    """Read the stored bytes once: their sha512, and whether they are usable symbols."""
    problem = "The uploaded file is empty." if size == 0 else None
    if size > MAX_UPLOAD_BYTES:
        problem = f"The uploaded file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB."
    if problem:
        return _Checked(target, None, size, problem, "file_too_large")
    failure = code = None
    try:
        with storage.open(target.key) as stream:
            reader = _HashingReader(stream)
            try:
                info = symbol_data.inspect(reader)
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
    return _Checked(target, actual, reader.size, failure, code)


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
    row.upload_key = row.upload_started_at = row.rejected_key = None
    row.failure_reason = row.failed_at = None
    row.uploaded_at = now
    return event


def _fail_attempt(
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
            _fail_attempt(session, project, actor, row, result.failure, now)
    return obsolete, skipped


def _raise_for_failures(results: list[_Checked]) -> None:
    failures = [result for result in results if result.failure]
    if failures:
        first = failures[0]
        others = f" ({len(failures) - 1} more failed)" if len(failures) > 1 else ""
        raise UploadError(f"{first.target.ref}: {first.failure}{others}", code=first.code)


def finish_uploads(project: Project, actor: User | None, body: Mapping) -> None:
    """Check each uploaded object; what passes becomes the set's file, what fails is recorded."""
    # As PostHog: a body without content_hashes finishes nothing (a re-run that uploaded nothing).
    hashes_in = body.get("content_hashes", {})
    if not isinstance(hashes_in, dict):
        raise ValidationError("content_hashes", "invalid", "content_hashes must be an object of id: sha512.")
    if not hashes_in:
        return
    hashes = {}
    for raw_id, value in hashes_in.items():
        key = parse_uuid(raw_id)
        if key is None:
            raise UploadError(f"Symbol set {raw_id} not found.", code="symbol_set_not_found")
        hashes[key] = _content_hash(value, f"content_hashes__{raw_id}")
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
    claimed = _content_hash(body.get("content_hash"), "content_hash")
    if claimed is None:
        raise UploadError("content_hash is required.", code="content_hash_required", attr="content_hash")
    finish_uploads(project, actor, {"content_hashes": {str(item.id): claimed}})


def upload_is_live(key: str) -> bool:
    """Whether `key` is the staging key of an upload that is started and not yet finished or deleted.

    The local store's upload URL asks this before it takes a file (see storage.set_upload_check).
    """
    live = db.session.scalar(select(SymbolSet.pk).where(SymbolSet.upload_key == key)) is not None
    db.session.rollback()  # the upload that follows may be slow: hold no transaction meanwhile
    return live


def _stream_size(stream: BinaryIO) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def replace_from_files(
    project: Project, actor: User | None, symbol_set_id: Any, source: BinaryIO, source_map: BinaryIO
) -> SymbolSet:
    """Build a symbol-data blob from a minified file and its map (a browser upload), check it, swap it in.

    Check first, swap after: the blob is stored under a fresh key and checked there; only if it passes
    does it become the set's file (one transaction), and the old file is deleted after the commit. A
    failing blob leaves a set that has a file exactly as it was (the attempt is logged) and raises the
    reason as a ValidationError.
    """
    item = get_symbol_set(project, symbol_set_id)
    target = _Target(item.id, item.ref, new_object_key(project.id, item.id))
    source_size, map_size = _stream_size(source), _stream_size(source_map)
    if not source_size or not map_size:
        raise ValidationError(
            None, "file_too_large", "Choose a minified file and its source map; neither may be empty."
        )
    if source_size + map_size + 64 > MAX_UPLOAD_BYTES:
        raise ValidationError(None, "file_too_large", "Together the files are larger than 100 MiB.")
    db.session.rollback()
    storage = get_storage()
    with tempfile.TemporaryFile() as blob:
        size = symbol_data.write_source_and_map(blob, source, source_size, source_map, map_size)
        blob.seek(0)
        storage.put(target.key, blob, MAX_UPLOAD_BYTES)
    try:
        results = [_check_object(storage, target, size)]
    except BaseException:
        delete_objects([target.key])
        raise
    obsolete, skipped = _record(project, actor, results)
    delete_objects(obsolete)
    if item.id in skipped:
        raise NotFound()
    _raise_for_failures(results)
    return get_symbol_set(project, item.id)


# --- expiry -------------------------------------------------------------------------------


def expired_upload_reason(started: datetime) -> str:
    return (
        f"The upload was started at {started.strftime('%Y-%m-%d %H:%M UTC')} but never finished: the client "
        "did not upload the file or did not call bulk_finish_upload before the upload URL expired."
    )


def _expiry_cutoff(now: datetime | None, grace: timedelta) -> datetime:
    return (now or utcnow()) - timedelta(seconds=UPLOAD_URL_SECONDS) - grace


@retry_on_contention
def expire_pending(now: datetime | None = None, grace: timedelta = EXPIRY_GRACE) -> int:
    """End uploads started but not finished within the URL lifetime plus grace; return how many.

    A set with nothing usable yet becomes failed; a set with a checked file keeps it (the attempt is
    logged). The staging objects of those uploads are deleted.
    """
    now = now or utcnow()
    cutoff = _expiry_cutoff(now, grace)
    with write_transaction() as session:
        rows = list(
            session.scalars(
                locking(
                    select(SymbolSet)
                    .options(selectinload(SymbolSet.project))
                    .where(SymbolSet.upload_key.is_not(None), SymbolSet.upload_started_at < cutoff)
                )
            )
        )
        stale = []
        for row in rows:
            reason = expired_upload_reason(row.upload_started_at)
            stale.append(row.upload_key)
            row.upload_key = row.upload_started_at = None
            _fail_attempt(session, row.project, None, row, reason, now)
    delete_objects(stale)
    return len(rows)


ORPHAN_BATCH = 500


def remove_orphaned_uploads(now: datetime | None = None, grace: timedelta = EXPIRY_GRACE) -> int:
    """Delete staging objects no pending upload references (written to a URL after its upload ended,
    or left by a crash) once no URL for them can still be live; return how many."""
    storage = get_storage()
    keys = storage.list_keys(STAGING_PREFIX, modified_before=_expiry_cutoff(now, grace))
    removed = 0
    while batch := list(itertools.islice(keys, ORPHAN_BATCH)):
        live = set(db.session.scalars(select(SymbolSet.upload_key).where(SymbolSet.upload_key.in_(batch))))
        db.session.rollback()
        for key in batch:
            if key not in live:
                storage.delete(key)
                removed += 1
    return removed


ABANDONED_AFTER = timedelta(hours=1)


def remove_abandoned_uploads(now: datetime | None = None, older_than: timedelta = ABANDONED_AFTER) -> int:
    """Clean up partial objects left by processes that died mid-upload; return how many."""
    return get_storage().remove_abandoned((now or utcnow()) - older_than)
