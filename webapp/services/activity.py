"""The activity log: written inside the service's transaction, read by the detail pages."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..extensions import db
from ..models import ActivityLog, Project, User


def entry(
    project_id: int,
    actor_id: int | None,
    scope: str,
    item_id: str,
    activity: str,
    name: str,
    changes: list[dict] | None = None,
    reason: str | None = None,
    created_at: datetime | None = None,
) -> dict:
    """One entry's column values (record() adds it; a bulk insert, such as the demo seeder's, takes many)."""
    detail = {"name": name, "changes": changes or []}
    if reason is not None:
        detail["reason"] = reason
    values = {
        "project_id": project_id,
        "user_id": actor_id,
        "scope": scope,
        "item_id": str(item_id),
        "activity": activity,
        "detail": detail,
    }
    if created_at is not None:
        values["created_at"] = created_at
    return values


def record(
    session: Session,
    project: Project,
    actor: User | None,
    scope: str,
    item_id: str,
    activity: str,
    name: str,
    changes: list[dict] | None = None,
    reason: str | None = None,
) -> None:
    """Add one entry to the current transaction (`reason`: why an attempt failed that changed nothing)."""
    actor_id = actor.id if actor else None
    session.add(ActivityLog(**entry(project.id, actor_id, scope, item_id, activity, name, changes, reason)))


def diff(before: dict, after: dict) -> list[dict]:
    """Field-by-field changes between two snapshots."""
    return [
        {"field": field, "before": before.get(field), "after": after[field]}
        for field in after
        if before.get(field) != after[field]
    ]


def entries_for(project: Project, scope: str, item_id: str, limit: int = 50) -> list[ActivityLog]:
    """Newest first."""
    return list(
        db.session.scalars(
            select(ActivityLog)
            .options(selectinload(ActivityLog.user))
            .where(
                ActivityLog.project_id == project.id,
                ActivityLog.scope == scope,
                ActivityLog.item_id == str(item_id),
            )
            .order_by(ActivityLog.created_at.desc(), ActivityLog.id.desc())
            .limit(limit)
        )
    )
