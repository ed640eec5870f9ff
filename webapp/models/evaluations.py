"""LLM-as-judge evaluation configurations."""

from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import JSON, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..extensions import db
from .accounts import Project, User
from .natural_sort import MAX_KEY_BYTES, natural_sort_key
from .types import UTCDateTime, utcnow


class Evaluation(db.Model):
    __tablename__ = "evaluations"
    __table_args__ = (
        # Each list's filters and order, then the key (the tie-break): counts, pages and deep offsets
        # read the index alone (migration 0008; names by their sort key since 0010).
        Index("ix_evaluations_list_created", "project_id", "deleted", "created_at", "pk"),
        Index("ix_evaluations_list_updated", "project_id", "deleted", "updated_at", "pk"),
        Index("ix_evaluations_list_name", "project_id", "deleted", "name_sort_key", "pk"),
        Index("ix_evaluations_list_enabled", "project_id", "deleted", "enabled", "created_at", "pk"),
        Index("ix_evaluations_list_enabled_name", "project_id", "deleted", "enabled", "name_sort_key", "pk"),
    )

    # An integer key is SQLite's stable rowid, which the full-text index points at;
    # the uuid is the public id.
    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[UUID] = mapped_column(Uuid, unique=True, default=uuid4)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(400))
    # What order_by=name sorts by (natural_sort.py; migration 0010), compared by code point on both
    # databases. The ORM sets it with the name (below); a Core insert gets it from the default.
    name_sort_key: Mapped[str] = mapped_column(
        String(MAX_KEY_BYTES).with_variant(String(MAX_KEY_BYTES, collation="C"), "postgresql"),
        default=lambda context: natural_sort_key(context.get_current_parameters()["name"]),
    )
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=False)
    prompt: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted: Mapped[bool] = mapped_column(default=False)
    # Bumped on every change so a stale edit form is refused instead of overwriting.
    version: Mapped[int] = mapped_column(default=1)

    project: Mapped[Project] = relationship()
    created_by: Mapped[User | None] = relationship()

    @validates("name")
    def _keep_sort_key(self, _key: str, name: str) -> str:
        self.name_sort_key = natural_sort_key(name)
        return name
