"""Failed logins, counted to slow down password guessing (shared by every worker)."""

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class LoginFailure(db.Model):
    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email", "email", "created_at"),
        Index("ix_login_failures_address", "address", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
