"""Models to PostHog-shaped JSON; each shape is a TypedDict, which the OpenAPI schema publishes."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlencode

from flask import request
from pydantic import Field
from typing_extensions import TypedDict

from ..models import Evaluation, Project, Release, SymbolSet, User
from ..services.listing import Page


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Datetimes travel as ISO 8601 text in UTC (`2025-03-01T12:00:00Z`).
DateTime = datetime


class UserBasic(TypedDict):
    id: int
    uuid: str
    distinct_id: str
    first_name: str
    last_name: str
    email: str
    is_email_verified: bool | None
    hedgehog_config: dict[str, Any] | None
    role_at_organization: str | None


class StoredProperty(TypedDict):
    key: str
    value: Any
    operator: str
    type: str


class StoredConditionSet(TypedDict):
    id: str
    rollout_percentage: float
    properties: list[StoredProperty]


class EvaluationOut(TypedDict):
    id: str
    name: str
    description: str
    enabled: bool
    prompt: str
    conditions: list[StoredConditionSet]
    created_at: DateTime
    updated_at: DateTime
    created_by: UserBasic | None
    deleted: bool


class ReleaseOut(TypedDict):
    id: str
    hash_id: str
    team_id: int
    created_at: DateTime
    metadata: Any
    version: str
    project: str


class SymbolSetOut(TypedDict):
    id: str
    ref: str
    team_id: int
    created_at: DateTime
    last_used: DateTime | None
    storage_ptr: Annotated[
        str | None,
        Field(
            description="`symbolsets/<uuid>` naming the checked file, new when it changes; null without one."
        ),
    ]
    content_hash: Annotated[
        str | None,
        Field(
            description="sha512 hex of the checked file (what bulk_start_upload compares); null without one."
        ),
    ]
    failure_reason: str | None
    release: ReleaseOut | None
    has_uploaded_file: Annotated[bool, Field(description="Whether a checked file exists.")]
    status: Literal["pending", "uploaded", "failed"]
    size_bytes: int | None


class ProjectOut(TypedDict):
    id: int
    uuid: str
    name: str
    organization: str
    created_at: DateTime


class MembershipOut(TypedDict):
    id: str
    name: str
    level: int


class Me(UserBasic):
    team: ProjectOut | None
    organizations: list[MembershipOut]


class Deleted(TypedDict):
    deleted: int


class DownloadUrl(TypedDict):
    url: str


class PresignedPost(TypedDict):
    """POST the file as multipart form data to `url`, with `fields` first and the file last as `file`."""

    url: str
    fields: dict[str, str]


class IssuedUpload(TypedDict):
    presigned_url: PresignedPost
    symbol_set_id: str


class StartedUploads(TypedDict):
    """Chunk id -> where to upload it; chunks that need no upload are left out."""

    id_map: dict[str, IssuedUpload]


class ChunksToUpload(TypedDict):
    chunk_ids_to_upload: list[str]


class Success(TypedDict):
    success: bool


class Ok(TypedDict):
    ok: bool


class RawFrame(TypedDict):
    """The frame as it was sent (or parsed from the stack text), with the chunk id it was looked up by."""

    filename: str
    lineno: int
    colno: int
    function: str | None
    chunk_id: str | None


class SourceContext(TypedDict):
    pre: list[str]
    line: str
    post: list[str]


class SymbolicatedFrame(TypedDict):
    """Resolved: function, source, line and column (1-based) and context; else failure says why."""

    resolved: bool
    function: str | None
    source: str | None
    line: int | None
    column: int | None
    context: SourceContext | None
    symbol_set_id: Annotated[str | None, Field(description="The set used, or the one to fix; null if none.")]
    symbol_set_ref: str | None
    failure: str | None
    raw: RawFrame


class Symbolicated(TypedDict):
    frames: list[SymbolicatedFrame]


Item = TypeVar("Item")


class Paginated(TypedDict, Generic[Item]):
    """DRF's limit/offset envelope."""

    count: int
    next: str | None
    previous: str | None
    results: list[Item]


def _user(user_id, user_uuid, distinct_id, first_name, last_name, email, verified, hedgehog, role) -> dict:
    return {
        "id": user_id,
        "uuid": str(user_uuid),
        "distinct_id": distinct_id,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "is_email_verified": verified,
        "hedgehog_config": hedgehog,
        "role_at_organization": role,
    }


def user_basic(user: User | None) -> dict | None:
    if user is None:
        return None
    return _user(
        user.id,
        user.uuid,
        user.distinct_id,
        user.first_name,
        user.last_name,
        user.email,
        user.is_email_verified,
        user.hedgehog_config,
        user.role_at_organization,
    )


def _evaluation(item, created_by: dict | None) -> dict:
    return {
        "id": str(item.id),
        "name": item.name,
        "description": item.description,
        "enabled": item.enabled,
        "prompt": item.prompt,
        "conditions": item.conditions,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "created_by": created_by,
        "deleted": item.deleted,
    }


def evaluation(item: Evaluation) -> dict:
    return _evaluation(item, user_basic(item.created_by))


def evaluation_row(row) -> dict:
    """A row of services.evaluations.LIST_COLUMNS: the evaluation with its author's columns."""
    author = None
    if row.created_by_id is not None:
        author = _user(
            row.created_by_id,
            row.created_by_uuid,
            row.created_by_distinct_id,
            row.created_by_first_name,
            row.created_by_last_name,
            row.created_by_email,
            row.created_by_is_email_verified,
            row.created_by_hedgehog_config,
            row.created_by_role_at_organization,
        )
    return _evaluation(row, author)


def _release(release_id, hash_id, project_id, created_at, metadata, version, project_name) -> dict:
    return {
        "id": str(release_id),
        "hash_id": hash_id,
        "team_id": project_id,
        "created_at": iso(created_at),
        "metadata": metadata,
        "version": version,
        "project": project_name,
    }


def release(item: Release | None) -> dict | None:
    """A release: an ORM object or a row of services.releases.LIST_COLUMNS (same names)."""
    if item is None:
        return None
    return _release(
        item.id,
        item.hash_id,
        item.project_id,
        item.created_at,
        item.metadata_,
        item.version,
        item.project_name,
    )


def _has_uploaded_file(item) -> bool:
    return item.content_hash is not None and item.storage_ptr is not None


def public_storage_ptr(item) -> str | None:
    """`symbolsets/<uuid>` (PostHog's form) naming the set's checked file, else None.

    The uuid is derived from the internal object key, so it changes exactly when the stored
    file does, while the key's layout (project, set, random suffix) stays private.
    """
    if not _has_uploaded_file(item):
        return None
    namespace = item.id if isinstance(item.id, uuid.UUID) else uuid.UUID(item.id)  # a list row has text
    return f"symbolsets/{uuid.uuid5(namespace, item.storage_ptr)}"


def _symbol_set(item, release_out: dict | None) -> dict:
    """PostHog's fields, plus what its clients need to act without guessing.

    `storage_ptr` is an opaque name of the checked file (public_storage_ptr). `content_hash`
    (sha512 hex of that file, null until one passed the checks) is kept although PostHog's
    serializer omits it: the CLI compares content hashes in bulk_start_upload to decide what to
    upload again, so a client can see beforehand what a start would skip, and anyone can verify
    a download against it. `has_uploaded_file`, `status` and `size_bytes` say the same without
    reading the hash.
    """
    return {
        "id": str(item.id),
        "ref": item.ref,
        "team_id": item.project_id,
        "created_at": iso(item.created_at),
        "last_used": iso(item.last_used),
        "storage_ptr": public_storage_ptr(item),
        "content_hash": item.content_hash,
        "failure_reason": item.failure_reason,
        "release": release_out,
        "has_uploaded_file": _has_uploaded_file(item),
        "status": item.status,
        "size_bytes": item.size_bytes,
    }


def symbol_set(item: SymbolSet) -> dict:
    return _symbol_set(item, release(item.release))


def symbol_set_row(row) -> dict:
    """A row of services.symbol_sets.LIST_COLUMNS: the set with its release's columns."""
    release_out = None
    if row.release_id is not None:
        release_out = _release(
            row.release_id,
            row.release_hash_id,
            row.release_project_id,
            row.release_created_at,
            row.release_metadata,
            row.release_version,
            row.release_project_name,
        )
    return _symbol_set(row, release_out)


def project(item: Project) -> dict:
    return {
        "id": item.id,
        "uuid": str(item.uuid),
        "name": item.name,
        "organization": str(item.organization.uuid),
        "created_at": iso(item.created_at),
    }


def _page_url(offset: int | None, limit: int) -> str | None:
    if offset is None:
        return None
    # Each parameter once, with the value the list used (the last one), so the link reads the same way.
    args = {name: values[-1] for name, values in request.args.lists()}
    args["limit"] = str(limit)
    if offset:
        args["offset"] = str(offset)
    else:
        args.pop("offset", None)
    return f"{request.base_url}?{urlencode(args)}"


def page(result: Page, serialize) -> dict:
    """DRF's limit/offset envelope; next/previous keep every other query parameter."""
    return {
        "count": result.count,
        "next": _page_url(result.next_offset, result.limit),
        "previous": _page_url(result.previous_offset, result.limit),
        "results": [serialize(item) for item in result.items],
    }
