"""Invitations to an organization, and the organization's own activity log."""

from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, SmallInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import Organization, User
from .types import UTCDateTime, utcnow


class Invitation(db.Model):
    """A single-use invite link: only the sha256 of its token is kept (plus, briefly, a sealed copy)."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_organization", "organization_id", "created_at"),)

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid4)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    target_email: Mapped[str] = mapped_column(String(254))
    level: Mapped[int] = mapped_column(SmallInteger)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    emailing_attempt_made: Mapped[bool] = mapped_column(default=False)
    # The token XOR a pad only the inviting browser's session holds; cleared when the link is shown.
    reveal_sealed: Mapped[bytes | None] = mapped_column(LargeBinary(128))

    organization: Mapped[Organization] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now


class OrganizationActivity(db.Model):
    """Who changed the organization's members, invitations or projects, and when."""

    __tablename__ = "organization_activity"
    __table_args__ = (Index("ix_organization_activity_org", "organization_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    activity: Mapped[str] = mapped_column(String(40))
    # {"email"?, "name"?, "before"?, "after"?, ...}: what the entry's sentence needs.
    detail: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User | None] = relationship()
