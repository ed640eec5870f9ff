"""Activity log: who changed what, when, with before/after values."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import User
from .types import UTCDateTime, utcnow


class ActivityLog(db.Model):
    __tablename__ = "activity_log"
    __table_args__ = (Index("ix_activity_log_item", "project_id", "scope", "item_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    scope: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[str] = mapped_column(String(64))
    activity: Mapped[str] = mapped_column(String(40))
    # {"name": ..., "changes": [{"field", "before", "after"}]}
    detail: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User | None] = relationship()
