"""Members of an organization: list, change levels, remove, leave, with every rule about owners.

Rules: admins and owners change levels and remove members; only owners make, demote or remove owners;
the last owner can neither leave, be removed nor be demoted. Each change locks the organization first
(organizations.lock), so two owners demoting each other at once cannot leave it without an owner.
"""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from ..database import retry_on_contention, write_transaction
from ..extensions import db
from ..models import Membership, MembershipLevel, Project, User
from . import organizations, validation
from .errors import NotFound, PermissionDenied
from .organizations import Caller

MEMBER_NOT_FOUND = "Member not found."
LAST_OWNER = "{who} the organization's only owner, so {action}. Make another member an owner first."


def list_members(caller: Caller) -> list[Membership]:
    """Everyone in the caller's organization, owners first, then by name."""
    return list(
        db.session.scalars(
            select(Membership)
            .options(joinedload(Membership.user))
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == caller.organization_id)
            .order_by(Membership.level.desc(), func.lower(User.email))
        )
    )


def _target(session: Session, caller: Caller, user_uuid: Any) -> Membership:
    key = validation.parse_uuid(user_uuid)
    membership = None
    if key is not None:
        membership = session.scalar(
            select(Membership)
            .options(joinedload(Membership.user))
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == caller.organization_id, User.uuid == key)
        )
    if membership is None:
        raise NotFound(MEMBER_NOT_FOUND)
    return membership


def get_member(caller: Caller, user_uuid: Any) -> Membership:
    return _target(db.session(), caller, user_uuid)


def _owner_count(session: Session, organization_id: int) -> int:
    return session.scalar(
        select(func.count(Membership.id)).where(
            Membership.organization_id == organization_id, Membership.level == MembershipLevel.OWNER
        )
    )


def _last_owner_problem(session: Session, target: Membership, is_self: bool, action: str) -> str | None:
    if target.level == MembershipLevel.OWNER and _owner_count(session, target.organization_id) == 1:
        who = "You are" if is_self else f"{target.user.email} is"
        return LAST_OWNER.format(who=who, action=action)
    return None


def _removal_problem(session: Session, caller: Caller, target: Membership) -> str | None:
    is_self = target.user_id == caller.user_id
    action = "you cannot leave" if is_self else "they cannot be removed"
    return _last_owner_problem(session, target, is_self, action)


def _require_may_remove(level: int, target: Membership) -> None:
    organizations.require_admin(level, "remove members")
    if target.level == MembershipLevel.OWNER:
        organizations.require_owner(level, "remove owners")


def removal_problem(caller: Caller, target: Membership) -> str | None:
    """Why the caller cannot remove the target (or leave) now: their level, or the last owner; else None.

    The confirmation page says it instead of asking; remove_member checks again under the lock.
    """
    if target.user_id != caller.user_id:
        try:
            _require_may_remove(caller.level, target)
        except PermissionDenied as refused:
            return refused.detail
    return _removal_problem(db.session(), caller, target)


@retry_on_contention
def change_level(caller: Caller, user_uuid: Any, level: Any, *, from_text: bool = False) -> Membership:
    """Set a member's level (PostHog's 1, 8 or 15)."""
    level = organizations.parse_level(level, from_text=from_text)
    with write_transaction() as session:
        me = organizations.lock(session, caller)
        organizations.require_admin(me.level, "change members' levels")
        target = _target(session, caller, user_uuid)
        if MembershipLevel.OWNER in (level, target.level) and target.level != level:
            organizations.require_owner(me.level, "make or remove owners")
        if level != MembershipLevel.OWNER:
            is_self = target.user_id == caller.user_id
            action = "you cannot stop being one" if is_self else "they must stay one"
            problem = _last_owner_problem(session, target, is_self, action)
            if problem:
                raise PermissionDenied(problem)
        before = target.level
        if before != level:
            target.level = level
            organizations.record(
                session,
                caller.organization_id,
                caller.user,
                "level_changed",
                email=target.user.email,
                before=organizations.level_name(before),
                after=organizations.level_name(level),
            )
        target_id = target.id
    changed = db.session.scalar(
        select(Membership).options(joinedload(Membership.user)).where(Membership.id == target_id)
    )
    if changed is None:
        raise NotFound(MEMBER_NOT_FOUND)  # removed by someone else right after this change
    return changed


@retry_on_contention
def remove_member(caller: Caller, user_uuid: Any) -> None:
    """Remove a member (or the caller: leaving); their sessions and keys lose the organization at once."""
    with write_transaction() as session:
        me = organizations.lock(session, caller)
        target = _target(session, caller, user_uuid)
        is_self = target.user_id == caller.user_id
        if not is_self:
            _require_may_remove(me.level, target)
        problem = _removal_problem(session, caller, target)
        if problem:
            raise PermissionDenied(problem)
        user = target.user
        organization_id = target.organization_id
        if is_self:
            organizations.record(session, organization_id, caller.user, "left", email=user.email)
        else:
            organizations.record(
                session,
                organization_id,
                caller.user,
                "removed",
                email=user.email,
                level=organizations.level_name(target.level),
            )
        session.delete(target)
        session.flush()
        _move_off_organization(session, user, organization_id)


def leave(caller: Caller) -> None:
    remove_member(caller, caller.user.uuid)


def _move_off_organization(session: Session, user: User, organization_id: int) -> None:
    """A current project in an organization the user left becomes one they still have (or none)."""
    current = session.get(Project, user.current_project_id) if user.current_project_id else None
    if current is None or current.organization_id != organization_id:
        return
    user.current_project_id = session.scalar(
        select(Project.id)
        .join(Membership, Membership.organization_id == Project.organization_id)
        .where(Membership.user_id == user.id)
        .order_by(Project.id)
        .limit(1)
    )
