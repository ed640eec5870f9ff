"""The presigned upload protocol the PostHog CLI speaks, its first step: start (and check) uploads.

The upload itself goes to a staging key (storage); symbol_upload_checks finishes it, and
symbol_upload_expiry ends the ones never finished.

Storage calls never happen inside a database transaction: URLs are signed after the rows commit.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError
from sqlalchemy import select

from ..database import LostRace, insert_or_ignore, retry_on_contention, write_transaction
from ..extensions import db
from ..models import Project, Release, SymbolSet, User
from ..models.types import utcnow
from ..storage import get_storage
from ..storage.base import PresignedPost
from . import activity, inputs
from .errors import ValidationError
from .symbol_sets import (
    MAX_REF_LENGTH,
    SCOPE,
    delete_objects,
    locking,
    new_staging_key,
    validate_ref,
)
from .validation import UUID_PATTERN, parse_uuid, shown

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
UPLOAD_URL_SECONDS = 300
EXPIRY_GRACE = timedelta(minutes=10)
MAX_SETS_PER_REQUEST = 1000
SHA512_HEX = re.compile(r"[0-9a-f]{128}")


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


def parse_content_hash(value: Any, attr: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not SHA512_HEX.fullmatch(value.lower()):
        raise ValidationError(attr, "invalid_content_hash", "content_hash must be a sha512 hex digest.")
    return value.lower()


HEX_SHA512 = {"type": "string", "pattern": "^[0-9a-fA-F]{128}$"}
CONTENT_HASH_SCHEMA = {"anyOf": [HEX_SHA512, {"enum": ["", None]}], "description": "sha512 hex of the bytes."}
RELEASE_ID_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": UUID_PATTERN}, {"enum": ["", None]}],
    "description": "The id of a release of this project.",
}
CHUNK_ID_SCHEMA = {"type": "string", "maxLength": MAX_REF_LENGTH, "pattern": inputs.NOT_BLANK_TEXT}
ChunkId = inputs.checked(lambda value: validate_ref(value, None), CHUNK_ID_SCHEMA)
ContentHash = inputs.checked(lambda value: parse_content_hash(value, None), CONTENT_HASH_SCHEMA)


def _release_id(value: Any) -> Any:
    """A release id's form (its project is checked when the request runs); "" is none."""
    if value in (None, ""):
        return None
    if parse_uuid(value) is None:
        raise ValidationError(None, "invalid_release_id", f"{shown(value)} is not a valid release id.")
    return value


# Named `release_id` wherever it is given, as before the per-item form existed.
ReleaseId = inputs.checked(_release_id, RELEASE_ID_SCHEMA, attr="release_id")


def _list_of(kind: type, code: str, message: str):
    """A before-check: a list (of `kind`), of at most MAX_SETS_PER_REQUEST items."""

    def check(value: Any) -> list:
        if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
            raise PydanticCustomError(code, message)
        if len(value) > MAX_SETS_PER_REQUEST:
            raise PydanticCustomError(
                "too_many", f"Start at most {MAX_SETS_PER_REQUEST} uploads per request."
            )
        return value

    return BeforeValidator(check)


def _unique(chunk_ids: list[str]) -> list[str]:
    duplicates = {chunk_id for chunk_id in chunk_ids if chunk_ids.count(chunk_id) > 1}
    if duplicates:
        raise PydanticCustomError(
            "invalid_chunk_ids", f"Duplicate chunk ids: {', '.join(sorted(duplicates))}."
        )
    return chunk_ids


class StartItem(inputs.Input):
    chunk_id: ChunkId
    release_id: ReleaseId = None
    content_hash: ContentHash = None


class StartUploadInput(inputs.Input):
    """The current body ({"symbol_sets": [...]}) or the legacy one ({"chunk_ids": [...], "release_id"}).

    Neither list starts nothing, as PostHog. A chunk id may appear once per request.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol_sets": [
                        {
                            "chunk_id": "0d2c6a4e-4f3b-4c1e-9f5e-3f2a91c4b7d1",
                            "release_id": None,
                            "content_hash": "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
                        }
                    ]
                }
            ]
        }
    )

    force: inputs.boolean_field() = False
    skip_on_conflict: inputs.boolean_field() = False
    symbol_sets: Annotated[
        list[StartItem],
        _list_of(dict, "invalid", "symbol_sets must be a list of objects."),
        Field(max_length=MAX_SETS_PER_REQUEST),
    ] = None
    chunk_ids: Annotated[
        list[ChunkId],
        _list_of(object, "invalid_chunk_ids", "chunk_ids must be a list of strings."),
        AfterValidator(_unique),
        Field(max_length=MAX_SETS_PER_REQUEST, json_schema_extra={"uniqueItems": True}),
    ] = None
    release_id: ReleaseId = None


def parse_start_request(body: Mapping) -> StartRequest:
    """Read a start (or check) body: see StartUploadInput."""
    data = inputs.parse(StartUploadInput, body)
    if data.force and data.skip_on_conflict:
        raise ValidationError(
            None, "invalid_conflict_handling", "Use either force or skip_on_conflict, not both."
        )
    if "symbol_sets" in data.model_fields_set:
        items = [_Requested(item.chunk_id, item.release_id, item.content_hash) for item in data.symbol_sets]
    elif "chunk_ids" in data.model_fields_set:
        items = [_Requested(chunk_id, data.release_id) for chunk_id in data.chunk_ids]
    else:
        items = []
    seen, duplicates = set(), []
    for item in items:
        if item.chunk_id in seen:
            duplicates.append(item.chunk_id)
        seen.add(item.chunk_id)
    if duplicates:
        raise ValidationError(
            "chunk_ids", "invalid_chunk_ids", f"Duplicate chunk ids: {', '.join(sorted(set(duplicates)))}."
        )
    return StartRequest(items=items, force=data.force, skip_on_conflict=data.skip_on_conflict)


def _resolve_releases(session, project: Project, items: list[_Requested], *, lock: bool = False) -> None:
    """Turn release ids into this project's release uuids; anything else is invalid_release_id.

    `lock` (a write): PostgreSQL holds the releases (FOR KEY SHARE) until the sets pointing at
    them commit, so a release deleted meanwhile is waited for and then named, not a foreign-key error.
    """
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
        statement = select(Release.id).where(Release.project_id == project.id, Release.id.in_(wanted))
        if lock:
            statement = statement.with_for_update(read=True, key_share=True)
        found = set(session.scalars(statement))
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


def _named_sets(project: Project, request: StartRequest):
    """The project's sets whose refs the request names."""
    return select(SymbolSet).where(SymbolSet.project_id == project.id, SymbolSet.ref.in_(_refs(request)))


def check_uploads(project: Project, body: Mapping) -> list[str]:
    """The chunk ids a start request would issue URLs for; creates nothing."""
    return check_start(project, parse_start_request(body))


def check_start(project: Project, request: StartRequest) -> list[str]:
    """Apply a parsed start request's rules (its 400s) without writing; return the chunk ids to upload."""
    _resolve_releases(db.session, project, request.items)
    rows = db.session.scalars(_named_sets(project, request))
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


def _open_sets(session, project: Project, request: StartRequest) -> tuple[_Plan, dict[str, SymbolSet]]:
    """Create the sets no one has yet, lock every named one and apply the release rules.

    Return the plan and the locked sets by ref.
    """
    _resolve_releases(session, project, request.items, lock=True)
    created = _insert_missing(session, project, request)
    rows = session.scalars(locking(_named_sets(project, request)))
    existing = {row.ref: row for row in rows}
    if len(existing) < len(request.items):
        raise LostRace()  # a set was deleted between the insert and the lock: start over
    plan = _plan(request, existing, created)
    for item, current in plan.attach_release:
        current.release_id = item.release_id
    return plan, existing


@retry_on_contention
def open_set(project: Project, request: StartRequest) -> tuple[Any, str]:
    """Create or find the one set a start request names, as start does but with no upload URL.

    Return its id and ref. The release rules apply (release_id_mismatch, attaching a release to an
    unbound set); what the set holds is left alone.
    """
    with write_transaction() as session:
        _, existing = _open_sets(session, project, request)
        (row,) = existing.values()
        return row.id, row.ref


def start_uploads(project: Project, actor: User | None, body: Mapping) -> list[IssuedUpload]:
    """Create or re-open symbol sets and sign one upload URL each, all in one transaction."""
    request = parse_start_request(body)
    return _start(project, actor, request) if request.items else []


@retry_on_contention
def _start(project: Project, actor: User | None, request: StartRequest) -> list[IssuedUpload]:
    now = utcnow()
    abandoned_objects = []
    issued: list[tuple[str, SymbolSet]] = []
    with write_transaction() as session:
        plan, _ = _open_sets(session, project, request)
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
