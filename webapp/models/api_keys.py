"""Personal API keys: only a sha256 of the key is stored (plus, briefly, a sealed copy to show once)."""

from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import User
from .types import UTCDateTime, utcnow


class PersonalAPIKey(db.Model):
    __tablename__ = "personal_api_keys"
    # Two keys with one label are told apart by nobody; the database refuses them.
    __table_args__ = (UniqueConstraint("user_id", "label"),)

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    secure_value: Mapped[str] = mapped_column(String(100), unique=True)
    mask_value: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    scoped_teams: Mapped[list[int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The raw key XOR a one-time pad that only the creating browser's session holds; cleared
    # when the key is shown after the create redirect (see services.api_keys.reveal_key).
    reveal_sealed: Mapped[bytes | None] = mapped_column(LargeBinary(128))

    user: Mapped[User] = relationship()
