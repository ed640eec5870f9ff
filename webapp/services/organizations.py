"""An organization as its members see it: the caller's membership, level checks, the activity log.

Every change to an organization's members, invitations or projects runs in one write transaction that
first locks the organization's row (`lock`): such changes queue one behind the other, so rules that
count rows (the last owner, a single-use invite) hold under concurrency, and never deadlock.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..extensions import db
from ..models import Membership, MembershipLevel, Organization, OrganizationActivity, User
from . import accounts, validation
from .errors import NotFound, PermissionDenied, ValidationError

LEVEL_NAMES = {
    MembershipLevel.MEMBER: "member",
    MembershipLevel.ADMIN: "admin",
    MembershipLevel.OWNER: "owner",
}
LEVELS_BY_NAME = {name: level for level, name in LEVEL_NAMES.items()}
ORGANIZATION_NOT_FOUND = "Organization not found."


@dataclass(frozen=True)
class Caller:
    """A signed-in user (or API key's user) inside one organization."""

    user: User | None  # None: the operator, on the command line
    organization: Organization
    level: int
    # Plain ints: ORM attributes expire at every commit, and a Caller outlives several.
    organization_id: int = 0
    user_id: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "organization_id", self.organization.id)
        object.__setattr__(self, "user_id", self.user.id if self.user else None)

    @property
    def is_admin(self) -> bool:
        return self.level >= MembershipLevel.ADMIN

    @property
    def is_owner(self) -> bool:
        return self.level >= MembershipLevel.OWNER


def current(user: User, within: list[int] | None = None) -> Caller:
    """The user in the organization of their current project (`within`: a key's project limit)."""
    project = accounts.resolve_project(user, "@current", within=within)
    return caller_in(user, project.organization_id)


def caller_in(user: User, organization_id: int) -> Caller:
    """The user in one of their organizations; NotFound if they are not a member."""
    membership = db.session.scalar(
        select(Membership)
        .options(joinedload(Membership.organization))
        .where(Membership.user_id == user.id, Membership.organization_id == organization_id)
    )
    if membership is None:
        raise NotFound(ORGANIZATION_NOT_FOUND)
    return Caller(user, membership.organization, membership.level)


def operator(organization: Organization) -> Caller:
    """Whoever runs the flask commands: they act as an owner of any organization."""
    return Caller(None, organization, MembershipLevel.OWNER)


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, str(level))


def parse_level(value, attr: str = "level", *, from_text: bool = False) -> MembershipLevel:
    """PostHog's numbers 1, 8, 15; `from_text` (forms, commands) also takes their digits and names."""
    if from_text and isinstance(value, str):
        word = value.strip().lower()
        if word in LEVELS_BY_NAME:
            return LEVELS_BY_NAME[word]
        if word.isascii() and word.isdigit() and len(word) <= 2:
            value = int(word)
    if isinstance(value, bool) or not isinstance(value, int) or value not in LEVEL_NAMES:
        raise ValidationError(
            attr, "invalid_choice", f"{validation.shown(value)} is not a level: use 1, 8 or 15."
        )
    return MembershipLevel(value)


def require_admin(level: int, action: str) -> None:
    if level < MembershipLevel.ADMIN:
        raise PermissionDenied(f"Only admins and owners can {action}.")


def require_owner(level: int, action: str) -> None:
    if level < MembershipLevel.OWNER:
        raise PermissionDenied(f"Only owners can {action}.")


def lock(session: Session, caller: Caller) -> Membership:
    """Lock the organization's row, then re-read the caller's membership (it may have changed)."""
    locked = session.scalar(
        select(Organization.id).where(Organization.id == caller.organization_id).with_for_update()
    )
    if caller.user is None and locked is not None:
        return Membership(organization_id=locked, level=caller.level)  # the operator: not stored
    membership = session.scalar(
        select(Membership).where(
            Membership.organization_id == caller.organization_id, Membership.user_id == caller.user_id
        )
    )
    if locked is None or membership is None:
        raise NotFound(ORGANIZATION_NOT_FOUND)  # removed (or gone) since this request began
    return membership


def record(session: Session, organization_id: int, actor: User | None, activity: str, **detail) -> None:
    """Add one entry to the organization's log in the current transaction."""
    session.add(
        OrganizationActivity(
            organization_id=organization_id,
            user_id=actor.id if actor else None,
            activity=activity,
            detail=detail,
        )
    )


def entries(organization: Organization, limit: int = 50) -> list[OrganizationActivity]:
    """Newest first."""
    return list(
        db.session.scalars(
            select(OrganizationActivity)
            .options(selectinload(OrganizationActivity.user))
            .where(OrganizationActivity.organization_id == organization.id)
            .order_by(OrganizationActivity.created_at.desc(), OrganizationActivity.id.desc())
            .limit(limit)
        )
    )


def describe(entry: OrganizationActivity) -> str:
    """The entry as a sentence (without who did it and when)."""
    d = entry.detail
    sentences = {
        "invited": "invited {email} as {level}",
        "invite_revoked": "revoked the invitation of {email}",
        "joined": "joined as {level}",
        "level_changed": "changed {email} from {before} to {after}",
        "removed": "removed {email} ({level})",
        "left": "left the organization",
        "project_created": "created the project {name}",
        "project_renamed": "renamed the project {before} to {after}",
        "project_deleted": "deleted the project {name} ({summary})",
    }
    template = sentences.get(entry.activity)
    if template is None:
        return entry.activity.replace("_", " ")
    try:
        return template.format(**d)
    except KeyError:
        return entry.activity.replace("_", " ")
