"""The presigned upload protocol the PostHog CLI speaks: start, upload, finish; checks; expiry.

Storage calls never happen inside a database transaction: URLs are signed after the rows commit,
and stored bytes are checked before the results are written.
"""

import hashlib
import re
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..database import write_transaction
from ..extensions import db
from ..models import Project, Release, SymbolSet, User
from ..models.types import utcnow
from ..storage import get_storage
from ..storage.base import ObjectNotFound, PresignedPost, Storage
from . import activity, symbol_data
from .errors import NotFound, ValidationError
from .symbol_sets import SCOPE, delete_objects, get_symbol_set, new_object_key, validate_ref
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

    create: list[_Requested] = field(default_factory=list)
    reissue: list[tuple[_Requested, SymbolSet]] = field(default_factory=list)
    attach_release: list[tuple[_Requested, SymbolSet]] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)

    @property
    def to_upload(self) -> list[str]:
        return [item.chunk_id for item in self.create] + [item.chunk_id for item, _ in self.reissue]


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


def _plan(session, project: Project, request: StartRequest, *, lock: bool) -> tuple[_Plan, dict]:
    _resolve_releases(session, project, request.items)
    statement = select(SymbolSet).where(
        SymbolSet.project_id == project.id, SymbolSet.ref.in_([item.chunk_id for item in request.items])
    )
    if lock:
        statement = statement.with_for_update()
    existing = {item.ref: item for item in session.scalars(statement)}
    plan = _Plan()
    for item in request.items:
        current = existing.get(item.chunk_id)
        if current is None:
            plan.create.append(item)
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
    return plan, existing


def check_uploads(project: Project, body: Mapping) -> list[str]:
    """The chunk ids a start request would issue URLs for; creates nothing."""
    request = parse_start_request(body)
    plan, _ = _plan(db.session, project, request, lock=False)
    db.session.rollback()
    return plan.to_upload


def start_uploads(project: Project, actor: User | None, body: Mapping) -> list[IssuedUpload]:
    """Create or re-open symbol sets and sign one upload URL each, all in one transaction."""
    request = parse_start_request(body)
    try:
        return _start(project, actor, request)
    except IntegrityError:
        # Another request created one of these refs first (PostgreSQL); plan again with it.
        return _start(project, actor, parse_start_request(body))


def _start(project: Project, actor: User | None, request: StartRequest) -> list[IssuedUpload]:
    now = utcnow()
    replaced_objects = []
    issued: list[tuple[str, SymbolSet]] = []
    with write_transaction() as session:
        plan, _ = _plan(session, project, request, lock=True)
        for item, current in plan.attach_release:
            current.release_id = item.release_id
        for item in plan.create:
            symbol_set = SymbolSet(project_id=project.id, ref=item.chunk_id, release_id=item.release_id)
            session.add(symbol_set)
            session.flush()
            symbol_set.storage_ptr = new_object_key(project, symbol_set.id)
            symbol_set.upload_started_at = now
            issued.append((item.chunk_id, symbol_set))
        for item, current in plan.reissue:
            if current.storage_ptr:
                replaced_objects.append(current.storage_ptr)
            if current.status == "uploaded":
                activity.record(
                    session,
                    project,
                    actor,
                    SCOPE,
                    current.id,
                    "replacement_started",
                    current.ref,
                    [{"field": "content_hash", "before": current.content_hash, "after": None}],
                )
            current.storage_ptr = new_object_key(project, current.id)
            current.content_hash = None
            current.size_bytes = None
            current.upload_started_at = now
            issued.append((item.chunk_id, current))
        session.flush()
        keys = [(chunk_id, str(item.id), item.storage_ptr) for chunk_id, item in issued]
    delete_objects(replaced_objects)
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
    """A stored object to check, read off its row before any storage call."""

    symbol_set_id: Any
    ref: str
    key: str | None
    claimed_hash: str | None = None


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


def _check_all(targets: list[_Target]) -> list[_Checked]:
    """Check every object (a few at a time: each is a round trip to S3); one missing changes nothing."""
    storage = get_storage()

    def check(target: _Target) -> _Checked:
        info = storage.head(target.key) if target.key else None
        if info is None:
            raise _file_not_found(target)
        return _check_object(storage, target, info.size)

    if len(targets) == 1:
        return [check(targets[0])]
    with ThreadPoolExecutor(max_workers=CHECK_CONCURRENCY) as pool:
        return list(pool.map(check, targets))


def _record(
    project: Project, actor: User | None, results: list[_Checked], *, adopt_key: bool = False
) -> list[str]:
    """Write the checks' outcome in one transaction; return the objects this made obsolete.

    adopt_key: the checked object replaces the row's current one (a browser replacement);
    otherwise a row whose key changed meanwhile (deleted or re-issued) is left alone.
    """
    now = utcnow()
    obsolete = []
    with write_transaction() as session:
        ids = [result.target.symbol_set_id for result in results]
        rows = {
            row.id: row
            for row in session.scalars(select(SymbolSet).where(SymbolSet.id.in_(ids)).with_for_update())
        }
        for result in results:
            target = result.target
            row = rows.get(target.symbol_set_id)
            if row is None or (row.storage_ptr != target.key and not adopt_key):
                if adopt_key:
                    obsolete.append(target.key)  # the set was deleted meanwhile: drop the new object
                continue
            if (
                result.failure is None
                and row.storage_ptr == target.key
                and row.failure_reason is None
                and row.content_hash == result.actual_hash
            ):
                continue  # a retried finish (the CLI retries): this upload is recorded already
            if row.storage_ptr and row.storage_ptr != target.key:
                obsolete.append(row.storage_ptr)
            before = {"content_hash": row.content_hash, "failure_reason": row.failure_reason}
            row.storage_ptr = target.key
            row.size_bytes = result.size
            row.content_hash = result.actual_hash
            row.upload_started_at = None
            if result.failure is None:
                event = "replaced" if row.uploaded_at is not None else "uploaded"
                row.failure_reason = None
                row.failed_at = None
                row.uploaded_at = now
            else:
                event = "failed"
                row.failure_reason = result.failure
                row.failed_at = now
            after = {"content_hash": row.content_hash, "failure_reason": row.failure_reason}
            activity.record(
                session, project, actor, SCOPE, row.id, event, row.ref, activity.diff(before, after)
            )
    return obsolete


def _raise_for_failures(results: list[_Checked]) -> None:
    failures = [result for result in results if result.failure]
    if failures:
        first = failures[0]
        others = f" ({len(failures) - 1} more failed)" if len(failures) > 1 else ""
        raise UploadError(f"{first.target.ref}: {first.failure}{others}", code=first.code)


def finish_uploads(project: Project, actor: User | None, body: Mapping) -> None:
    """Check each stored object and mark its set uploaded, or failed with a reason."""
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
    rows = db.session.scalars(
        select(SymbolSet).where(SymbolSet.project_id == project.id, SymbolSet.id.in_(list(hashes)))
    )
    targets = [_Target(row.id, row.ref, row.storage_ptr, hashes[row.id]) for row in rows]
    missing = sorted(str(key) for key in set(hashes) - {target.symbol_set_id for target in targets})
    if missing:
        raise UploadError(f"Symbol set {missing[0]} not found.", code="symbol_set_not_found")
    db.session.rollback()  # no transaction stays open while storage is read
    results = _check_all(targets)
    delete_objects(_record(project, actor, results))
    _raise_for_failures(results)


def finish_single_upload(project: Project, actor: User | None, symbol_set_id: Any, body: Mapping) -> None:
    """The deprecated `PUT :id/finish_upload {"content_hash"}`."""
    item = get_symbol_set(project, symbol_set_id)
    claimed = _content_hash(body.get("content_hash"), "content_hash")
    if claimed is None:
        raise UploadError("content_hash is required.", code="content_hash_required", attr="content_hash")
    finish_uploads(project, actor, {"content_hashes": {str(item.id): claimed}})


def _stream_size(stream: BinaryIO) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def replace_from_files(
    project: Project, actor: User | None, symbol_set_id: Any, source: BinaryIO, source_map: BinaryIO
) -> SymbolSet:
    """Build a symbol-data blob from a minified file and its map (a browser upload), store and check it.

    The new object replaces the old one whether or not it passes the checks, as a forced re-upload
    through the API does; a bad one leaves the set failed with the reason.
    """
    item = get_symbol_set(project, symbol_set_id)
    target = _Target(item.id, item.ref, new_object_key(project, item.id))
    source_size, map_size = _stream_size(source), _stream_size(source_map)
    if not source_size or not map_size:
        raise ValidationError(
            None, "file_too_large", "Choose a minified file and its source map; neither may be empty."
        )
    if source_size + map_size + 64 > MAX_UPLOAD_BYTES:
        raise ValidationError(None, "file_too_large", "Together the files are larger than 100 MiB.")
    db.session.rollback()
    with tempfile.TemporaryFile() as blob:
        size = symbol_data.write_source_and_map(blob, source, source_size, source_map, map_size)
        blob.seek(0)
        get_storage().put(target.key, blob, MAX_UPLOAD_BYTES)
    results = [_check_object(get_storage(), target, size)]
    obsolete = _record(project, actor, results, adopt_key=True)
    delete_objects(obsolete)
    if target.key in obsolete:
        raise NotFound()
    _raise_for_failures(results)
    return get_symbol_set(project, item.id)


# --- expiry -------------------------------------------------------------------------------


def expired_upload_reason(started: datetime) -> str:
    return (
        f"The upload was started at {started.strftime('%Y-%m-%d %H:%M UTC')} but never finished: the client "
        "did not upload the file or did not call bulk_finish_upload before the upload URL expired."
    )


def expire_pending(now: datetime | None = None, grace: timedelta = EXPIRY_GRACE) -> int:
    """Mark uploads started but not finished within the URL lifetime plus grace as failed."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=UPLOAD_URL_SECONDS) - grace
    with write_transaction() as session:
        rows = list(
            session.scalars(
                select(SymbolSet)
                .options(selectinload(SymbolSet.project))
                .where(
                    SymbolSet.upload_started_at < cutoff,
                    SymbolSet.content_hash.is_(None),
                    SymbolSet.failure_reason.is_(None),
                )
                .with_for_update(of=SymbolSet)
            )
        )
        for row in rows:
            row.failure_reason = expired_upload_reason(row.upload_started_at)
            row.failed_at = now
            activity.record(
                session,
                row.project,
                None,
                SCOPE,
                row.id,
                "failed",
                row.ref,
                [{"field": "failure_reason", "before": None, "after": row.failure_reason}],
            )
    return len(rows)


ABANDONED_AFTER = timedelta(hours=1)


def remove_abandoned_uploads(now: datetime | None = None, older_than: timedelta = ABANDONED_AFTER) -> int:
    """Clean up partial objects left by processes that died mid-upload; return how many."""
    return get_storage().remove_abandoned((now or utcnow()) - older_than)
