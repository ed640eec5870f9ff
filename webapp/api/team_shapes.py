"""Members and invitations in PostHog's JSON shapes (its member and invite serializers)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from ..models import Invitation, Membership
from ..models.types import utcnow
from .serializers import UserBasic, iso, user_basic

Level = Annotated[Literal[1, 8, 15], Field(description="1 member, 8 admin, 15 owner (PostHog's numbers).")]


class MemberOut(TypedDict):
    id: Annotated[str, Field(description="The membership's id.")]
    user: UserBasic
    level: Level
    joined_at: datetime
    updated_at: datetime
    is_2fa_enabled: bool
    has_social_auth: bool
    last_login: datetime | None


class InviteOut(TypedDict):
    id: str
    target_email: str
    first_name: str
    emailing_attempt_made: bool
    level: Level
    is_expired: bool
    created_by: UserBasic | None
    created_at: datetime
    updated_at: datetime
    message: str | None


class InviteCreated(InviteOut):
    invite_url: Annotated[
        str,
        Field(
            description="The single-use link, valid 7 days. Shown only in this response; only a hash is kept."
        ),
    ]


def member(item: Membership) -> dict:
    return {
        "id": str(item.uuid),
        "user": user_basic(item.user),
        "level": item.level,
        "joined_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "is_2fa_enabled": False,
        "has_social_auth": False,
        "last_login": iso(item.user.last_login_at),
    }


def invite(item: Invitation) -> dict:
    return {
        "id": str(item.id),
        "target_email": item.target_email,
        "first_name": "",
        "emailing_attempt_made": item.emailing_attempt_made,
        "level": item.level,
        "is_expired": item.is_expired(utcnow()),
        "created_by": user_basic(item.created_by),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "message": None,
    }
