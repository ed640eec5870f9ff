"""Invitations by link: created by admins, shown once, valid 7 days, single use, revocable.

The link carries a random token; only its sha256 is stored. Accepting marks the invite used with a
conditional UPDATE inside the organization's lock, so of two concurrent accepts exactly one wins.
"""

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from .. import mail
from ..database import retry_on_contention, write_transaction
from ..extensions import db
from ..models import Invitation, Membership, MembershipLevel, Organization, Project, User
from ..models.types import utcnow
from . import accounts, one_time, organizations, validation
from .errors import Conflict, NotFound, PermissionDenied, ValidationError
from .organizations import Caller

VALID_FOR = timedelta(days=7)
MAX_EMAILS = 20
REVEAL_SECONDS = 600
INVITE_NOT_FOUND = "Invite not found."
UNKNOWN = "This invite link is not valid. Ask an admin for a new one."
log = logging.getLogger(__name__)


class InviteUnusable(NotFound):
    """The link is unknown, expired, used or revoked (`reason` says which) or its organization is gone."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_emails(value: Any, attr: str = "target_email") -> list[str]:
    """One address, or several separated by commas, spaces or new lines."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list) or not value:
        raise ValidationError(attr, "required", "Enter at least one email address.")
    emails = []
    for item in value:
        if not isinstance(item, str):
            raise ValidationError(attr, "invalid", "Enter email addresses as text.")
        email = accounts.normalize_email(validation.clean_text(item, attr))
        if not accounts.EMAIL_PATTERN.fullmatch(email) or len(email) > accounts.MAX_EMAIL_LENGTH:
            raise ValidationError(attr, "invalid", f"{validation.shown(item)} is not a valid email address.")
        if email not in emails:
            emails.append(email)
    if len(emails) > MAX_EMAILS:
        raise ValidationError(attr, "too_many", f"Invite at most {MAX_EMAILS} people at once.")
    return emails


def pending_clause(now):
    return (Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now)


def list_pending(caller: Caller) -> list[Invitation]:
    """Invitations that can still be accepted, newest first."""
    organizations.require_admin(caller.level, "see invitations")
    return list(
        db.session.scalars(
            select(Invitation)
            .options(joinedload(Invitation.created_by))
            .where(Invitation.organization_id == caller.organization_id, *pending_clause(utcnow()))
            .order_by(Invitation.created_at.desc())
        )
    )


@retry_on_contention
def create_invites(caller: Caller, emails: Any, level: Any = MembershipLevel.MEMBER, *, from_text=False):
    """Invite each address; return [(invitation, token, sealed_pad)] (the token is never stored).

    An address with a pending invitation gets a new one (the old link stops working); a member's
    address is refused.
    """
    emails = parse_emails(emails)
    level = organizations.parse_level(level, from_text=from_text)
    now = utcnow()
    created = []
    with write_transaction() as session:
        me = organizations.lock(session, caller)
        organizations.require_admin(me.level, "invite people")
        if level == MembershipLevel.OWNER:
            organizations.require_owner(me.level, "invite owners")
        members = set(
            session.scalars(
                select(User.email)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.organization_id == caller.organization_id, User.email.in_(emails))
            )
        )
        if members:
            email = sorted(members)[0]
            raise ValidationError("target_email", "already_member", f"{email} is already a member.")
        session.execute(
            update(Invitation)
            .where(
                Invitation.organization_id == caller.organization_id,
                Invitation.target_email.in_(emails),
                *pending_clause(now),
            )
            .values(revoked_at=now, reveal_sealed=None)
        )
        for email in emails:
            token = secrets.token_urlsafe(32)
            sealed, pad = one_time.seal(token)
            invitation = Invitation(
                organization_id=caller.organization_id,
                target_email=email,
                level=level,
                token_hash=hash_token(token),
                created_by_id=caller.user_id,
                created_at=now,
                updated_at=now,
                expires_at=now + VALID_FOR,
                reveal_sealed=sealed,
            )
            session.add(invitation)
            organizations.record(
                session,
                caller.organization_id,
                caller.user,
                "invited",
                email=email,
                level=organizations.level_name(level),
            )
            created.append((invitation, token, pad))
    return created


def get_invite(caller: Caller, invitation_id: Any) -> Invitation:
    key = validation.parse_uuid(invitation_id)
    invitation = (
        db.session.scalar(
            select(Invitation)
            .options(joinedload(Invitation.created_by))
            .where(Invitation.id == key, Invitation.organization_id == caller.organization_id)
        )
        if key
        else None
    )
    if invitation is None:
        raise NotFound(INVITE_NOT_FOUND)
    return invitation


def reveal_token(caller: Caller, invitation_id: Any, pad: bytes) -> str | None:
    """An invite's token, the first time only, shortly after its creation; else None."""
    key = validation.parse_uuid(invitation_id)
    if key is None:
        return None
    with write_transaction() as session:
        invitation = session.scalar(
            select(Invitation)
            .where(Invitation.id == key, Invitation.organization_id == caller.organization_id)
            .with_for_update()
        )
        if invitation is None:
            return None
        sealed = one_time.take(invitation, timedelta(seconds=REVEAL_SECONDS))
        token_hash = invitation.token_hash
    return one_time.reveal(sealed, pad, token_hash, hash_token)


def forget_sealed(invitation_ids: list) -> None:
    """Clear the sealed copies of tokens shown otherwise (the API and the command print them)."""
    with write_transaction() as session:
        session.execute(
            update(Invitation).where(Invitation.id.in_(invitation_ids)).values(reveal_sealed=None)
        )


@retry_on_contention
def revoke(caller: Caller, invitation_id: Any) -> Invitation:
    key = validation.parse_uuid(invitation_id)
    with write_transaction() as session:
        me = organizations.lock(session, caller)
        organizations.require_admin(me.level, "revoke invitations")
        invitation = (
            session.scalar(
                select(Invitation).where(
                    Invitation.id == key,
                    Invitation.organization_id == caller.organization_id,
                    *pending_clause(utcnow()),
                )
            )
            if key
            else None
        )
        if invitation is None:
            raise NotFound(INVITE_NOT_FOUND)
        invitation.revoked_at = utcnow()
        invitation.reveal_sealed = None
        organizations.record(
            session, caller.organization_id, caller.user, "invite_revoked", email=invitation.target_email
        )
    return invitation


def email_invites(links: list[tuple[Invitation, str]], inviter: User | None) -> list[bool]:
    """Email each invitation its link when mail is configured; whether each was handed to the server."""
    if not links or not mail.is_configured():
        return [False] * len(links)
    organization = db.session.get(Organization, links[0][0].organization_id)
    who = inviter.display_name if inviter else "An administrator"
    messages = [
        (
            invitation.target_email,
            f"Join {organization.name}",
            f"{who} invited you to join {organization.name} "
            f"as {organizations.level_name(invitation.level)}.\n\n"
            f"Open this link to accept (it works once, for 7 days):\n{link}\n",
        )
        for invitation, link in links
    ]
    ids = [invitation.id for invitation, _ in links]
    errors = mail.send_all(messages)
    for invitation_id, error in zip(ids, errors, strict=True):
        if error is not None:
            log.warning("Could not email the invitation %s: %s", invitation_id, error)
    with write_transaction() as session:
        session.execute(update(Invitation).where(Invitation.id.in_(ids)).values(emailing_attempt_made=True))
    return [error is None for error in errors]


# --- accepting ----------------------------------------------------------------------------


def find_usable(token: Any) -> Invitation:
    """The invitation a link names, if it can still be accepted; else InviteUnusable saying why."""
    invitation = None
    if isinstance(token, str) and 20 <= len(token) <= 100 and not validation.text_problem(token):
        invitation = db.session.scalar(
            select(Invitation)
            .options(joinedload(Invitation.organization))
            .where(Invitation.token_hash == hash_token(token))
        )
    _check_usable(invitation)
    return invitation


def _check_usable(invitation: Invitation | None) -> None:
    if invitation is None:
        raise InviteUnusable("unknown", UNKNOWN)
    if invitation.accepted_at is not None:
        raise InviteUnusable("used", "This invite link has already been used. Each link works once.")
    if invitation.revoked_at is not None:
        raise InviteUnusable("revoked", "This invite link was revoked. Ask an admin for a new one.")
    if invitation.is_expired(utcnow()):
        raise InviteUnusable("expired", "This invite link has expired. Ask an admin for a new one.")


@retry_on_contention
def accept_as_new_user(token: Any, password: str, first_name: str = "", last_name: str = "") -> User:
    """Create the invited person's account and membership; the link is used up."""
    invitation = find_usable(token)
    email, invitation_id = invitation.target_email, invitation.id  # the write's first commit expires it
    first_name, last_name = accounts.check_names(first_name, last_name)
    password_hash = accounts.hash_password(accounts.check_password(password))
    with write_transaction() as session:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise Conflict(
                f"An account with the email {email} exists already: log in to accept.", code="email_taken"
            )
        user = User(
            email=email,
            password_hash=password_hash,
            first_name=first_name,
            last_name=last_name,
            distinct_id=secrets.token_urlsafe(24),
        )
        session.add(user)
        session.flush()
        _join(session, invitation_id, user)
    return accounts.get_user(user.id)


@retry_on_contention
def accept_as_existing_user(token: Any, user: User) -> Project:
    """The signed-in person joins; return the project they land in."""
    invitation = find_usable(token)
    if accounts.normalize_email(user.email) != invitation.target_email:
        raise PermissionDenied(
            f"This invitation is for {invitation.target_email}, and you are signed in as {user.email}. "
            "Log out and open the link again, or ask for an invitation to your address."
        )
    invitation_id, organization_id = invitation.id, invitation.organization_id
    with write_transaction() as session:
        _join(session, invitation_id, session.get(User, user.id))
    # The organization's first project (another if an owner deleted the one they were put in meanwhile).
    joined = db.session.scalar(
        select(Project).where(Project.organization_id == organization_id).order_by(Project.id).limit(1)
    )
    return joined or accounts.resolve_project(accounts.get_user(user.id), "@current")


def _join(session: Session, invitation_id, user: User) -> None:
    """Use the invitation up (exactly once), add the membership, make its first project the user's current."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None:  # its organization was deleted since the link was opened
        raise InviteUnusable("unknown", UNKNOWN)
    organization_id = invitation.organization_id
    if (
        session.scalar(select(Organization.id).where(Organization.id == organization_id).with_for_update())
        is None
    ):
        raise InviteUnusable("unknown", UNKNOWN)
    now = utcnow()
    used = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, *pending_clause(now))
        .values(accepted_at=now, accepted_by_id=user.id, reveal_sealed=None)
    )
    if used.rowcount != 1:
        session.expire_all()
        _check_usable(session.get(Invitation, invitation.id))  # says why: used, revoked or expired
        raise InviteUnusable("used", "This invite link has already been used. Each link works once.")
    already = session.scalar(
        select(Membership.id).where(
            Membership.organization_id == organization_id, Membership.user_id == user.id
        )
    )
    if already is not None:
        raise Conflict("You are already a member of this organization.", code="already_member")
    session.add(Membership(organization_id=organization_id, user_id=user.id, level=invitation.level))
    user.current_project_id = session.scalar(
        select(Project.id).where(Project.organization_id == organization_id).order_by(Project.id).limit(1)
    )
    organizations.record(
        session,
        organization_id,
        user,
        "joined",
        email=user.email,
        level=organizations.level_name(invitation.level),
    )
