"""Releases: the software version a symbol set was built from (the PostHog CLI creates them)."""

import hashlib
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema
from sqlalchemy import select

from ..database import insert_or_ignore, write_transaction
from ..extensions import db
from ..models import Project, Release
from . import inputs, validation
from .errors import NotFound, ValidationError
from .listing import ListQuery, ListSpec, Page, paginate

LIST_SPEC = ListSpec(order_fields=("created_at", "version"), default_order="-created_at")
MAX_TEXT = 400
MAX_HASH_ID = 200  # the column's size: longer would be a database error on PostgreSQL


def default_hash_id(project_name: str, version: str) -> str:
    """What the PostHog CLI sends: sha512 hex of project then version."""
    return hashlib.sha512(project_name.encode() + version.encode()).hexdigest()


def _metadata(value: Any) -> Any:
    """Free-form JSON stored as sent; raised as it is, so `attr` names the node (metadata__tags__0)."""
    if value is not None and not isinstance(value, dict):
        raise ValidationError("metadata", "invalid", "Metadata must be a JSON object.")
    validation.check_json(value, "metadata")
    return value


class ReleaseInput(inputs.Input):
    """A release as the PostHog CLI creates it; hash_id defaults to sha512(project + version)."""

    version: inputs.text_field(max_length=MAX_TEXT)
    project: inputs.text_field(max_length=MAX_TEXT)
    hash_id: inputs.text_field(max_length=MAX_HASH_ID, nullable=True) = None
    metadata: Annotated[
        Any,
        PlainValidator(_metadata),
        WithJsonSchema(
            {"type": ["object", "null"], "description": "Free-form JSON (the CLI sends git details)."}
        ),
    ] = None


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


def get_release(project: Project, release_id) -> Release:
    key = validation.parse_uuid(release_id)
    release = db.session.get(Release, key) if key else None
    if release is None or release.project_id != project.id:
        raise NotFound()
    return release


def get_by_hash(project: Project, hash_id: str) -> Release:
    validation.clean_text(hash_id, "hash_id")
    release = db.session.scalar(
        select(Release).where(Release.project_id == project.id, Release.hash_id == hash_id)
    )
    if release is None:
        raise NotFound()
    return release


def list_releases(project: Project, query: ListQuery) -> Page:
    statement = select(Release).where(Release.project_id == project.id)
    columns = {"created_at": Release.created_at, "version": Release.version}
    return paginate(db.session, statement, columns, query, tie_break=Release.id)
