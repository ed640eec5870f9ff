"""Models to PostHog-shaped JSON; each shape is a TypedDict, which the OpenAPI schema publishes."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlencode

from pydantic import Field
from typing_extensions import TypedDict

from ..json_columns import stored as stored_json
from ..models import Evaluation, Project, Release, SymbolSet, User
from ..services.listing import Page
from .driver_values import boolean, datetime_text, iso, uuid_text

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
        "uuid": user_uuid,
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
        str(user.uuid),
        user.distinct_id,
        user.first_name,
        user.last_name,
        user.email,
        user.is_email_verified,
        user.hedgehog_config,
        user.role_at_organization,
    )


# The shapes below take their values ready for JSON (ids and datetimes as text): the single-object
# serializers give them from ORM objects, the *_rows functions from a list page's driver values.


def _evaluation(
    item_id, name, description, enabled, prompt, conditions, created_at, updated_at, created_by, deleted
) -> dict:
    return {
        "id": item_id,
        "name": name,
        "description": description,
        "enabled": enabled,
        "prompt": prompt,
        "conditions": conditions,
        "created_at": created_at,
        "updated_at": updated_at,
        "created_by": created_by,
        "deleted": deleted,
    }


def evaluation(item: Evaluation) -> dict:
    return _evaluation(
        str(item.id),
        item.name,
        item.description,
        item.enabled,
        item.prompt,
        item.conditions,
        iso(item.created_at),
        iso(item.updated_at),
        user_basic(item.created_by),
        item.deleted,
    )


def evaluation_rows(rows) -> list[dict]:
    """A page of services.evaluations.LIST_COLUMNS (the driver's values): the evaluations with their
    authors, each author's object built once."""
    authors: dict = {}
    results = []
    for (
        item_id,
        name,
        description,
        enabled,
        prompt,
        conditions,
        created_at,
        updated_at,
        deleted,
        user_id,
        user_uuid,
        distinct_id,
        first_name,
        last_name,
        email,
        verified,
        hedgehog,
        role,
    ) in rows:
        author = authors.get(user_id)
        if author is None and user_id is not None:
            author = authors[user_id] = _user(
                user_id,
                uuid_text(user_uuid),
                distinct_id,
                first_name,
                last_name,
                email,
                boolean(verified),
                stored_json(hedgehog),
                role,
            )
        results.append(
            _evaluation(
                uuid_text(item_id),
                name,
                description,
                boolean(enabled),
                prompt,
                stored_json(conditions),
                datetime_text(created_at),
                datetime_text(updated_at),
                author,
                boolean(deleted),
            )
        )
    return results


def _release(release_id, hash_id, project_id, created_at, metadata, version, project_name) -> dict:
    return {
        "id": release_id,
        "hash_id": hash_id,
        "team_id": project_id,
        "created_at": created_at,
        "metadata": metadata,
        "version": version,
        "project": project_name,
    }


def release(item: Release | None) -> dict | None:
    if item is None:
        return None
    return _release(
        str(item.id),
        item.hash_id,
        item.project_id,
        iso(item.created_at),
        item.metadata_,
        item.version,
        item.project_name,
    )


def release_rows(rows) -> list[dict]:
    """A page of services.releases.LIST_COLUMNS (the driver's values)."""
    return [
        _release(
            uuid_text(release_id),
            hash_id,
            project_id,
            datetime_text(created),
            stored_json(meta),
            version,
            name,
        )
        for release_id, hash_id, project_id, created, meta, version, name in rows
    ]


def public_storage_ptr(set_id: str, storage_ptr: str | None, content_hash: str | None) -> str | None:
    """`symbolsets/<uuid>` (PostHog's form) naming the set's checked file, else None.

    The uuid is derived from the internal object key, so it changes exactly when the stored
    file does, while the key's layout (project, set, random suffix) stays private.
    """
    if content_hash is None or storage_ptr is None:
        return None
    return f"symbolsets/{uuid.uuid5(uuid.UUID(set_id), storage_ptr)}"


def _symbol_set(
    set_id,
    ref,
    project_id,
    created_at,
    last_used,
    storage_ptr,
    content_hash,
    failure_reason,
    release_out,
    status,
    size_bytes,
) -> dict:
    """PostHog's fields, plus what its clients need to act without guessing.

    `storage_ptr` is an opaque name of the checked file (public_storage_ptr). `content_hash`
    (sha512 hex of that file, null until one passed the checks) is kept although PostHog's
    serializer omits it: the CLI compares content hashes in bulk_start_upload to decide what to
    upload again, so a client can see beforehand what a start would skip, and anyone can verify
    a download against it. `has_uploaded_file`, `status` and `size_bytes` say the same without
    reading the hash.
    """
    return {
        "id": set_id,
        "ref": ref,
        "team_id": project_id,
        "created_at": created_at,
        "last_used": last_used,
        "storage_ptr": public_storage_ptr(set_id, storage_ptr, content_hash),
        "content_hash": content_hash,
        "failure_reason": failure_reason,
        "release": release_out,
        "has_uploaded_file": content_hash is not None and storage_ptr is not None,
        "status": status,
        "size_bytes": size_bytes,
    }


def symbol_set(item: SymbolSet) -> dict:
    return _symbol_set(
        str(item.id),
        item.ref,
        item.project_id,
        iso(item.created_at),
        iso(item.last_used),
        item.storage_ptr,
        item.content_hash,
        item.failure_reason,
        release(item.release),
        item.status,
        item.size_bytes,
    )


def symbol_set_rows(rows) -> list[dict]:
    """A page of services.symbol_sets.LIST_COLUMNS (the driver's values): the sets with their releases,
    each release's object built once (a build's chunks share one)."""
    releases: dict = {}
    results = []
    for (
        set_id,
        ref,
        project_id,
        created_at,
        last_used,
        storage_ptr,
        content_hash,
        failure_reason,
        size_bytes,
        release_id,
        status,
        release_hash_id,
        release_project_id,
        release_created_at,
        release_metadata,
        release_version,
        release_project_name,
    ) in rows:
        release_out = releases.get(release_id)
        if release_out is None and release_id is not None:
            release_out = releases[release_id] = _release(
                uuid_text(release_id),
                release_hash_id,
                release_project_id,
                datetime_text(release_created_at),
                stored_json(release_metadata),
                release_version,
                release_project_name,
            )
        results.append(
            _symbol_set(
                uuid_text(set_id),
                ref,
                project_id,
                datetime_text(created_at),
                datetime_text(last_used),
                storage_ptr,
                content_hash,
                failure_reason,
                release_out,
                status,
                size_bytes,
            )
        )
    return results


def project(item: Project) -> dict:
    return {
        "id": item.id,
        "uuid": str(item.uuid),
        "name": item.name,
        "organization": str(item.organization.uuid),
        "created_at": iso(item.created_at),
    }


def _page_url(request, offset: int | None, limit: int) -> str | None:
    if offset is None:
        return None
    # Each parameter once, with the value the list used (the last one), so the link reads the same way.
    link = {name: values[-1] for name, values in request.args.lists()}
    link["limit"] = str(limit)
    if offset:
        link["offset"] = str(offset)
    else:
        link.pop("offset", None)
    return f"{request.base_url}?{urlencode(link)}"


def page(result: Page, serialize_rows, request) -> dict:
    """DRF's limit/offset envelope of a page read with the driver's values (listing.paginate raw), its
    rows given by `serialize_rows(rows)`; next/previous are the `request`'s URL with every other query
    parameter (its base URL is only worked out for them: most pages of a script's loop have one, a search
    that finds a few rows has none)."""
    return {
        "count": result.count,
        "next": _page_url(request, result.next_offset, result.limit),
        "previous": _page_url(request, result.previous_offset, result.limit),
        "results": serialize_rows(result.items),
    }
