"""Error-tracking releases and symbol sets (uploaded source maps and other debug symbols)."""

from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .accounts import Project
from .types import UTCDateTime, utcnow


class Release(db.Model):
    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("project_id", "hash_id"),
        Index("ix_releases_list_created", "project_id", "created_at", "id"),
    )

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid4)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    hash_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(400))
    # The released software's name (a repository or app), not our project.
    project_name: Mapped[str] = mapped_column(String(400))
    metadata_: Mapped[dict | None] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SymbolSet(db.Model):
    __tablename__ = "symbol_sets"
    __table_args__ = (
        UniqueConstraint("project_id", "ref"),
        # Each list's order, then the key (the tie-break), and the failed ones (migration 0008).
        Index("ix_symbol_sets_list_created", "project_id", "created_at", "pk"),
        Index("ix_symbol_sets_list_last_used", "project_id", "last_used", "pk"),
        Index(
            "ix_symbol_sets_list_failed",
            "project_id",
            "created_at",
            "pk",
            sqlite_where=text("failure_reason IS NOT NULL"),
            postgresql_where=text("failure_reason IS NOT NULL"),
        ),
        Index("ix_symbol_sets_pending", "upload_started_at"),
        # One pending upload per staging key (migration 0006 made it a unique index, not a constraint).
        Index("ix_symbol_sets_upload_key", "upload_key", unique=True),
    )

    # Integer key: SQLite's stable rowid for the full-text index; the uuid is the public id.
    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[UUID] = mapped_column(Uuid, unique=True, default=uuid4)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    ref: Mapped[str] = mapped_column(String(400))
    release_id: Mapped[UUID | None] = mapped_column(
        Uuid, ForeignKey("releases.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The object key of the checked file: set only together with its content_hash, once the bytes
    # under it passed the checks. No upload URL ever names it, so the file cannot change.
    storage_ptr: Mapped[str | None] = mapped_column(String(500))
    # sha512 hex of the bytes under storage_ptr; None until a file passed the checks.
    content_hash: Mapped[str | None] = mapped_column(String(128))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # The staging key the current upload URL writes to; None when no upload is pending. Finishing moves
    # the object away and clears it, so the URL is dead from then on.
    upload_key: Mapped[str | None] = mapped_column(String(500))
    # The bytes of the latest upload that failed the checks, kept for admins to review (never checked).
    rejected_key: Mapped[str | None] = mapped_column(String(500))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the latest upload URL was issued (pending uploads expire from here).
    upload_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the checked file holds, as the upload check read it with symbolic (symbol_files.describe):
    # sources and whether their content is included, debug id, architecture... None before migration 0012.
    contents: Mapped[dict | None] = mapped_column(JSON)

    project: Mapped[Project] = relationship()
    release: Mapped[Release | None] = relationship()

    @property
    def status(self) -> str:
        """failed (a reason is recorded) > uploaded (hash set) > pending."""
        if self.failure_reason is not None:
            return "failed"
        if self.content_hash is not None:
            return "uploaded"
        return "pending"

    @property
    def replacement_pending(self) -> bool:
        """An upload was started for a set whose checked file stays in use until the new one passes."""
        return self.upload_key is not None and self.content_hash is not None

    @property
    def has_uploaded_file(self) -> bool:
        return self.content_hash is not None and self.storage_ptr is not None
