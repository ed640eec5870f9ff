"""Models to PostHog-shaped JSON."""

from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import request

from ..models import Evaluation, Project, Release, SymbolSet, User
from ..services.listing import Page


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def user_basic(user: User | None) -> dict | None:
    if user is None:
        return None
    return {
        "id": user.id,
        "uuid": str(user.uuid),
        "distinct_id": user.distinct_id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_email_verified": user.is_email_verified,
        "hedgehog_config": user.hedgehog_config,
        "role_at_organization": user.role_at_organization,
    }


def evaluation(item: Evaluation) -> dict:
    return {
        "id": str(item.id),
        "name": item.name,
        "description": item.description,
        "enabled": item.enabled,
        "prompt": item.prompt,
        "conditions": item.conditions,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "created_by": user_basic(item.created_by),
        "deleted": item.deleted,
    }


def release(item: Release | None) -> dict | None:
    if item is None:
        return None
    return {
        "id": str(item.id),
        "hash_id": item.hash_id,
        "team_id": item.project_id,
        "created_at": iso(item.created_at),
        "metadata": item.metadata_,
        "version": item.version,
        "project": item.project_name,
    }


def symbol_set(item: SymbolSet) -> dict:
    return {
        "id": str(item.id),
        "ref": item.ref,
        "team_id": item.project_id,
        "created_at": iso(item.created_at),
        "last_used": iso(item.last_used),
        "storage_ptr": item.storage_ptr,
        "content_hash": item.content_hash,
        "failure_reason": item.failure_reason,
        "release": release(item.release),
        "has_uploaded_file": item.has_uploaded_file,
        "status": item.status,
        "size_bytes": item.size_bytes,
    }


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
