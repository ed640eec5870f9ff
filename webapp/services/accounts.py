"""Users, organizations, memberships and projects."""

import re
import secrets
from functools import cache

from flask import current_app
from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from ..database import write_transaction
from ..extensions import db
from ..models import Membership, MembershipLevel, Organization, Project, User, UserSession
from . import validation
from .errors import Conflict, NotFound, ValidationError, ValidationErrors

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8
MAX_NAME_LENGTH = 150
MAX_EMAIL_LENGTH = 254
MAX_ORGANIZATION_LENGTH = 200  # the columns' sizes: longer is a database error on PostgreSQL
PROJECT_NOT_FOUND = "Project not found."


def hash_password(password: str) -> str:
    """Hash with the configured method (scrypt unless PASSWORD_HASH_METHOD says otherwise)."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@cache
def _dummy_hash(method: str) -> str:
    """A hash to compare against when the email is unknown, so a login takes as long either way."""
    return generate_password_hash("not-a-real-password", method=method)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    email: str,
    password: str,
    organization_name: str,
    *,
    first_name: str = "",
    last_name: str = "",
    level: MembershipLevel | None = None,
) -> User:
    """Create a user in an organization, creating the organization and its default project if new.

    Without an explicit level the creator of a new organization owns it; others join as members.
    """
    email = normalize_email(email)
    if not EMAIL_PATTERN.fullmatch(email) or len(email) > MAX_EMAIL_LENGTH or validation.text_problem(email):
        raise ValidationError("email", "invalid", "Enter a valid email address.")
    check_password(password)
    if not organization_name.strip():
        raise ValidationError("organization", "blank", "The organization name may not be blank.")
    organization_name = validation.text(organization_name, "organization", max_length=MAX_ORGANIZATION_LENGTH)
    first_name, last_name = check_names(first_name, last_name)
    password_hash = hash_password(password)
    with write_transaction() as session:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise Conflict(f"A user with the email {email} already exists.", code="email_taken")
        organization = session.scalar(
            select(Organization).where(Organization.name == organization_name.strip())
        )
        if organization is None:
            organization = Organization(name=organization_name.strip())
            session.add(organization)
            session.flush()
            level = level or MembershipLevel.OWNER
        if not organization.projects:
            session.add(Project(organization=organization, name="Default project"))
            session.flush()
            session.refresh(organization)
        user = User(
            email=email,
            password_hash=password_hash,
            first_name=first_name,
            last_name=last_name,
            distinct_id=secrets.token_urlsafe(24),
            current_project_id=organization.projects[0].id,
        )
        session.add(user)
        session.flush()
        session.add(
            Membership(
                organization_id=organization.id, user_id=user.id, level=level or MembershipLevel.MEMBER
            )
        )
    return user


def find_organization(name: str) -> Organization | None:
    if validation.text_problem(name):
        return None  # no organization has such a name, and PostgreSQL cannot compare with it
    return db.session.scalar(select(Organization).where(Organization.name == name.strip()))


def authenticate(email: str, password: str) -> User | None:
    """Return the active user with these credentials, else None."""
    user = None
    if not validation.text_problem(email):
        user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        return None
    return user


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def user_exists(email: str) -> bool:
    return db.session.scalar(select(User.id).where(User.email == normalize_email(email))) is not None


def find_user_by_email(email: str) -> User:
    validation.clean_text(email, "email")
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound(f"No user with the email {normalize_email(email)}.")
    return user


def user_projects(user: User) -> list[Project]:
    """Every project of every organization the user belongs to, in id order."""
    return list(
        db.session.scalars(
            select(Project)
            .join(Membership, Membership.organization_id == Project.organization_id)
            .where(Membership.user_id == user.id)
            .order_by(Project.id)
        )
    )


def all_projects(organization: Organization | None = None) -> list[Project]:
    """Every project (of one organization), for the operator's commands."""
    query = select(Project).options(joinedload(Project.organization)).order_by(Project.id)
    if organization is not None:
        query = query.where(Project.organization_id == organization.id)
    return list(db.session.scalars(query))


def membership_level(user: User, project: Project) -> int | None:
    return db.session.scalar(
        select(Membership.level).where(
            Membership.user_id == user.id,
            Membership.organization_id == project.organization_id,
        )
    )


def is_member(user_id, organization_id) -> ColumnElement[bool]:
    """Whether the user belongs to the organization: what lets a user use its projects (resolve_project,
    API keys' lookup). Core columns, so statements built on it stay Core."""
    memberships = Membership.__table__
    return exists().where(memberships.c.organization_id == organization_id, memberships.c.user_id == user_id)


def resolve_project(user: User, project_ref: str | int, within: list[int] | None = None) -> Project:
    """Find a project the user belongs to by integer id or `@current`; else NotFound.

    `within` (a key's project limit) makes `@current` the user's current project if the key may
    use it, else the first project the key may use.
    """
    if project_ref == "@current":
        project_id = user.current_project_id
        if project_id is None or (within and project_id not in within):
            projects = [p for p in user_projects(user) if not within or p.id in within]
            project_id = projects[0].id if projects else None
    else:
        try:
            project_id = validation.integer(project_ref, None, minimum=1, maximum=validation.INT32_MAX)
        except ValidationError:
            project_id = None
    if project_id is None:
        raise NotFound(PROJECT_NOT_FOUND)
    project = db.session.scalar(
        select(Project).where(Project.id == project_id, is_member(user.id, Project.organization_id))
    )
    if project is None:
        raise NotFound(PROJECT_NOT_FOUND)
    return project


def check_password(password: str, attr: str = "password") -> str:
    """A password long enough to keep, and storable (a lone surrogate cannot even be hashed)."""
    if not isinstance(password, str):
        raise ValidationError(attr, "invalid", "Enter a password.")
    validation.clean_text(password, attr)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            attr,
            "password_too_short",
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.",
        )
    return password


def check_names(first_name: str, last_name: str) -> tuple[str, str]:
    names = {"first_name": first_name or "", "last_name": last_name or ""}
    for field, value in names.items():
        names[field] = validation.clean_text(value, field).strip()
        if len(names[field]) > MAX_NAME_LENGTH:
            raise ValidationError(field, "max_length", f"Keep it to {MAX_NAME_LENGTH} characters or fewer.")
    return names["first_name"], names["last_name"]


def update_profile(user: User, first_name: str, last_name: str) -> User:
    """Change the user's display name."""
    first_name, last_name = check_names(first_name, last_name)
    with write_transaction() as session:
        row = session.get(User, user.id)
        row.first_name, row.last_name = first_name, last_name
    return get_user(user.id)


def password_change_problems(user: User, current_password: str, new_password: str) -> list[ValidationError]:
    """Everything wrong with a password change, all at once (a form shows them together)."""
    problems = []
    if not check_password_hash(user.password_hash, current_password or ""):
        problems.append(ValidationError("current_password", "invalid", "That is not your current password."))
    try:
        check_password(new_password or "", "new_password")
    except ValidationError as error:
        problems.append(error)
    return problems


def new_account_problems(password: str, first_name: str = "", last_name: str = "") -> list[ValidationError]:
    """Everything wrong with a new account's names and password, all at once (a form shows them together)."""
    problems = []
    for check, arguments in ((check_names, (first_name, last_name)), (check_password, (password or "",))):
        try:
            check(*arguments)
        except ValidationError as error:
            problems.append(error)
    return problems


def change_password(user: User, current_password: str, new_password: str) -> User:
    """Set a new password after checking the current one; every session of the user ends.

    Every problem is raised at once: ValidationErrors (one ValidationError when there is one).
    """
    problems = password_change_problems(user, current_password, new_password)
    if problems:
        raise problems[0] if len(problems) == 1 else ValidationErrors(problems)
    password_hash = hash_password(new_password)
    with write_transaction() as session:
        row = session.get(User, user.id)
        row.password_hash = password_hash
        session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    return get_user(user.id)


def get_project(project_id: int) -> Project:
    """A project by id, for commands that act without a user (no membership check)."""
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound(f"No project with id {project_id}.")
    return project


def switch_project(user: User, project_id: int) -> Project:
    """Make a project the user's current one."""
    project = resolve_project(user, project_id)
    with write_transaction() as session:
        session.get(User, user.id).current_project_id = project.id
    return project


def count_users() -> int:
    return db.session.scalar(select(func.count(User.id)))
