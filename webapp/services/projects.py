"""An organization's projects: admins create and rename them, owners delete them with everything in them."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from ..database import retry_on_contention, write_transaction
from ..extensions import db
from ..models import ActivityLog, Evaluation, PersonalAPIKey, Project, Release, SymbolSet
from ..models.types import utcnow
from ..storage import get_storage
from ..storage.base import StorageError
from . import organizations, symbol_sets, validation
from .accounts import PROJECT_NOT_FOUND
from .errors import Conflict, NotFound, ValidationError
from .organizations import Caller

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class Contents:
    """What deleting a project deletes with it."""

    evaluations: int
    symbol_sets: int
    stored_files: int
    releases: int
    activity: int

    def summary(self) -> str:
        parts = [
            (self.evaluations, "evaluation"),
            (self.symbol_sets, "symbol set"),
            (self.stored_files, "stored file"),
            (self.releases, "release"),
            (self.activity, "activity entry"),
        ]
        return ", ".join(f"{n} {noun if n == 1 else plural(noun)}" for n, noun in parts)


def plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") else noun + "s"


def check_name(value: Any, attr: str = "name") -> str:
    return validation.text(value, attr, max_length=MAX_NAME_LENGTH)


def list_projects(caller: Caller) -> list[Project]:
    return list(
        db.session.scalars(
            select(Project)
            .options(joinedload(Project.organization))
            .where(Project.organization_id == caller.organization_id)
            .order_by(Project.id)
        )
    )


def get_project(caller: Caller, project_id: Any) -> Project:
    """One of the caller's organization's projects, else NotFound."""
    try:
        number = validation.integer(project_id, None, minimum=1, maximum=validation.INT32_MAX)
    except ValidationError:
        raise NotFound(PROJECT_NOT_FOUND) from None
    project = db.session.get(Project, number)
    if project is None or project.organization_id != caller.organization_id:
        raise NotFound(PROJECT_NOT_FOUND)
    return project


@retry_on_contention
def create_project(caller: Caller, name: Any) -> Project:
    name = check_name(name)
    with write_transaction() as session:
        me = organizations.lock(session, caller)
        organizations.require_admin(me.level, "create projects")
        project = Project(organization_id=caller.organization_id, name=name, created_at=utcnow())
        session.add(project)
        session.flush()
        organizations.record(
            session, caller.organization_id, caller.user, "project_created", name=name, project_id=project.id
        )
        project_id = project.id
    return _load(project_id)


@retry_on_contention
def rename_project(caller: Caller, project_id: Any, name: Any) -> Project:
    name = check_name(name)
    # Its id, not the object: the write's first commit expires it, and reading it then would fail if an
    # owner deleted it meanwhile.
    number = get_project(caller, project_id).id
    with write_transaction() as session:
        me = organizations.lock(session, caller)
        organizations.require_admin(me.level, "rename projects")
        row = session.get(Project, number)
        if row is None:
            raise NotFound(PROJECT_NOT_FOUND)
        if row.name != name:
            organizations.record(
                session,
                caller.organization_id,
                caller.user,
                "project_renamed",
                before=row.name,
                after=name,
                project_id=row.id,
            )
            row.name = name
    return _load(number)


def contents(project: Project) -> Contents:
    def count(model, *where):
        return db.session.scalar(
            select(func.count()).select_from(model).where(model.project_id == project.id, *where)
        )

    return Contents(
        evaluations=count(Evaluation),
        symbol_sets=count(SymbolSet),
        stored_files=count(SymbolSet, SymbolSet.storage_ptr.is_not(None)),
        releases=count(Release),
        activity=count(ActivityLog),
    )


def delete_project(caller: Caller, project_id: Any, confirm_name: Any = None) -> Contents:
    """Delete a project and everything in it (stored files too); return what was deleted.

    `confirm_name` (the pages ask for it) must be the project's name; None skips that check (the API's
    DELETE, as PostHog's). An organization keeps at least one project.
    """
    project = get_project(caller, project_id)
    if confirm_name is not None and (
        not isinstance(confirm_name, str) or confirm_name.strip() != project.name
    ):
        raise ValidationError(
            "confirm_name", "mismatch", f"Type the project's name, {project.name}, to delete it."
        )
    deleted, objects = _delete_rows(caller, project.id)
    symbol_sets.delete_objects(objects)
    _sweep_storage(project.id)
    return deleted


@retry_on_contention
def _delete_rows(caller: Caller, project_id: int) -> tuple[Contents, list[str]]:
    with write_transaction() as session:
        me = organizations.lock(session, caller)
        organizations.require_owner(me.level, "delete projects")
        project = session.get(Project, project_id)
        if project is None or project.organization_id != caller.organization_id:
            raise NotFound(PROJECT_NOT_FOUND)
        remaining = session.scalar(
            select(func.count(Project.id)).where(Project.organization_id == caller.organization_id)
        )
        if remaining <= 1:
            raise Conflict(
                "This is the organization's only project; create another before deleting it.",
                code="last_project",
            )
        counted = contents(project)
        rows = session.scalars(select(SymbolSet).where(SymbolSet.project_id == project_id))
        objects = [key for row in rows for key in symbol_sets.object_keys(row)]
        _unscope_keys(session, project_id)
        organizations.record(
            session,
            caller.organization_id,
            caller.user,
            "project_deleted",
            name=project.name,
            project_id=project_id,
            summary=counted.summary(),
        )
        # The database deletes the rest with it (ON DELETE CASCADE): evaluations, symbol sets,
        # releases, activity; users whose current project it was get none (SET NULL).
        session.delete(project)
    return counted, objects


def _unscope_keys(session, project_id: int) -> None:
    """Keys limited to the project lose it; a key limited to it alone is deleted.

    Leaving the id in a key's list would hand that key a later project given the same id (SQLite
    reuses the highest id); an emptied list would mean every project.
    """
    keys = session.scalars(select(PersonalAPIKey).where(PersonalAPIKey.scoped_teams.is_not(None)))
    for key in keys:
        if key.scoped_teams and project_id in key.scoped_teams:
            remaining = [team for team in key.scoped_teams if team != project_id]
            if remaining:
                key.scoped_teams = remaining
            else:
                session.delete(key)


def _sweep_storage(project_id: int) -> None:
    """Objects of the project no row named (an upload in flight): best effort, as delete_objects."""
    storage = get_storage()
    prefixes = (f"symbol_sets/{project_id}/", f"{symbol_sets.STAGING_PREFIX}symbol_sets/{project_id}/")
    try:
        for prefix in prefixes:
            for key in list(storage.list_keys(prefix, modified_before=utcnow())):
                storage.delete(key)
    except StorageError:
        pass  # an orphaned object costs space, never correctness


def _load(project_id: int) -> Project:
    project = db.session.scalar(
        select(Project).options(joinedload(Project.organization)).where(Project.id == project_id)
    )
    if project is None:
        raise NotFound(PROJECT_NOT_FOUND)  # deleted by an owner right after this change
    return project
