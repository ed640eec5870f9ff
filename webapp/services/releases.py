"""Releases: the software version a symbol set was built from (the PostHog CLI creates them)."""

import hashlib
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, PlainValidator, WithJsonSchema
from sqlalchemy import bindparam, delete, select

from ..database import insert_or_ignore, retry_on_contention, write_transaction
from ..extensions import db
from ..models import Project, Release
from . import inputs, validation
from .errors import NotFound, ValidationError
from .listing import ListQuery, ListSpec, Page, paginate, uuid_text

MAX_TEXT = 400
MAX_HASH_ID = 200  # the column's size: longer would be a database error on PostgreSQL


def default_hash_id(project_name: str, version: str) -> str:
    """What the PostHog CLI sends: sha512 hex of project then version."""
    return hashlib.sha512(project_name.encode() + version.encode()).hexdigest()


def _metadata(value: Any) -> Any:
    """Any JSON value, as PostHog's JSONField takes it (object, array, text, number, bool, null);
    raised as it is, so `attr` names the node (metadata__tags__0)."""
    validation.check_json(value, "metadata")
    return value


Metadata = Annotated[
    Any,
    PlainValidator(_metadata),
    WithJsonSchema({"description": "Any JSON value (the CLI sends an object of git details)."}),
]


class ReleaseInput(inputs.Input):
    """A release as the PostHog CLI creates it; hash_id defaults to sha512(project + version)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"version": "1.4.2", "project": "web", "metadata": {"git": {"commit_id": "3f2a91c"}}}
            ]
        }
    )

    version: inputs.text_field(max_length=MAX_TEXT)
    project: inputs.text_field(max_length=MAX_TEXT)
    hash_id: inputs.text_field(max_length=MAX_HASH_ID, nullable=True) = None
    metadata: Metadata = None


class ReleaseUpdateInput(inputs.Input):
    """A change to a release, for PUT and PATCH alike (as PostHog's server reads both).

    An omitted or null version, project or hash_id keeps its value; `metadata` is stored as sent
    when present, null included.
    """

    version: inputs.text_field(max_length=MAX_TEXT, nullable=True) = None
    project: inputs.text_field(max_length=MAX_TEXT, nullable=True) = None
    hash_id: inputs.text_field(max_length=MAX_HASH_ID, nullable=True) = None
    metadata: Metadata = None


def create_release(project: Project, data: Mapping) -> Release:
    """Create a release; hash_id defaults to the CLI's sha512(project + version)."""
    release = inputs.parse(ReleaseInput, data)
    version, project_name, metadata = release.version, release.project, release.metadata
    hash_id = release.hash_id or default_hash_id(project_name, version)
    with write_transaction() as session:
        # ON CONFLICT: of two build jobs creating the same release at once, one creates it and the
        # other is told it exists, on PostgreSQL as on SQLite.
        release_id = session.scalar(
            insert_or_ignore(session, Release, ["project_id", "hash_id"])
            .values(
                id=uuid.uuid4(),
                project_id=project.id,
                hash_id=hash_id,
                version=version,
                project_name=project_name,
                metadata_=metadata,
            )
            .returning(Release.id)
        )
    if release_id is None:
        raise ValidationError("hash_id", "unique", "A release with this hash_id already exists.")
    return get_release(project, release_id)


def _find(project: Project, release_id: Any, *, for_update: bool = False) -> Release:
    key = validation.parse_uuid(release_id)
    if key is None:
        raise NotFound()
    statement = select(Release).where(Release.id == key, Release.project_id == project.id)
    if for_update:
        statement = statement.with_for_update()  # PostgreSQL: concurrent writers queue on the row
    release = db.session.scalar(statement)
    if release is None:
        raise NotFound()
    return release


def get_release(project: Project, release_id: Any) -> Release:
    return _find(project, release_id)


# Input field -> column.
UPDATABLE = {"version": "version", "project": "project_name", "hash_id": "hash_id", "metadata": "metadata_"}


def update_release(project: Project, release_id: Any, data: Mapping) -> Release:
    """Change version, project, hash_id or metadata (ReleaseUpdateInput), for PUT and PATCH alike.

    An unknown id is NotFound before the body is validated, as in PostHog; a hash_id another
    release of the project has is a 400 `unique`, as on create.
    """
    _find(project, release_id)
    cleaned = inputs.clean(inputs.parse(ReleaseUpdateInput, data))
    changes = {
        UPDATABLE[name]: value for name, value in cleaned.items() if value is not None or name == "metadata"
    }
    _apply(project, release_id, changes)
    return get_release(project, release_id)


@retry_on_contention
def _apply(project: Project, release_id: Any, changes: dict) -> None:
    """One locked write; a hash_id claimed meanwhile by another writer runs it again, then is a 400."""
    with write_transaction() as session:
        release = _find(project, release_id, for_update=True)
        hash_id = changes.get("hash_id", release.hash_id)
        if hash_id != release.hash_id and session.scalar(
            select(Release.id).where(Release.project_id == project.id, Release.hash_id == hash_id)
        ):
            raise ValidationError("hash_id", "unique", "A release with this hash_id already exists.")
        for column, value in changes.items():
            setattr(release, column, value)


def delete_release(project: Project, release_id: Any) -> None:
    """Delete a release; its symbol sets stay, without a release (the foreign key sets it null).

    PostHog deletes them along with the release; here a release's removal (a mistaken version, a
    renamed project) never takes the files that symbolicate stack traces with it: delete those
    explicitly (bulk_delete) when they are not wanted.
    """
    key = validation.parse_uuid(release_id)
    with write_transaction() as session:
        deleted = (
            key is not None
            and session.execute(
                delete(Release).where(Release.id == key, Release.project_id == project.id)
            ).rowcount
        )
    if not deleted:
        raise NotFound()


def get_by_hash(project: Project, hash_id: str) -> Release:
    validation.clean_text(hash_id, "hash_id")
    release = db.session.scalar(
        select(Release).where(Release.project_id == project.id, Release.hash_id == hash_id)
    )
    if release is None:
        raise NotFound()
    return release


RELEASES = Release.__table__
LIST_COLUMNS = (
    uuid_text(RELEASES.c.id, "id"),
    RELEASES.c.hash_id,
    RELEASES.c.project_id,
    RELEASES.c.created_at,
    RELEASES.c.metadata,
    RELEASES.c.version,
    RELEASES.c.project_name,
)
LIST_SPEC = ListSpec(
    order_columns={name: RELEASES.c[name] for name in ("created_at", "version")},
    default_order="-created_at",
    columns=select(*LIST_COLUMNS),
    key=RELEASES.c.id,
    conditions={"project_id": RELEASES.c.project_id == bindparam("project_id")},
)


def list_releases(project: Project, query: ListQuery, *, raw: bool = False) -> Page:
    """One page of the project's releases, as rows of LIST_COLUMNS (raw: the driver's values,
    listing.paginate)."""
    return paginate(db.session, LIST_SPEC, query, {"project_id": project.id}, raw=raw)
