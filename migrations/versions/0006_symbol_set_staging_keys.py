"""symbol sets: upload_key (the staging key of the pending upload) and rejected_key, apart from storage_ptr

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

symbol_sets = sa.table(
    "symbol_sets",
    sa.column("storage_ptr", sa.String),
    sa.column("content_hash", sa.String),
    sa.column("size_bytes", sa.BigInteger),
    sa.column("failure_reason", sa.Text),
    sa.column("uploaded_at", sa.DateTime(timezone=True)),
    sa.column("upload_key", sa.String),
    sa.column("rejected_key", sa.String),
)


def upgrade():
    # Plain ADD COLUMN and CREATE INDEX, no batch copy: on SQLite a table copy would drop the full-text
    # triggers of symbol_sets (migration 0003).
    op.add_column("symbol_sets", sa.Column("upload_key", sa.String(length=500), nullable=True))
    op.add_column("symbol_sets", sa.Column("rejected_key", sa.String(length=500), nullable=True))
    op.create_index("ix_symbol_sets_upload_key", "symbol_sets", ["upload_key"], unique=True)
    table = symbol_sets
    # Failed sets whose bytes never passed the checks (or that wait for a new upload): those bytes are
    # rejected ones, kept for review, never the checked file.
    op.execute(
        table.update()
        .where(
            table.c.failure_reason.is_not(None),
            table.c.storage_ptr.is_not(None),
            sa.or_(table.c.uploaded_at.is_(None), table.c.content_hash.is_(None)),
        )
        .values(rejected_key=table.c.storage_ptr, storage_ptr=None, content_hash=None, size_bytes=None)
    )
    # Pending uploads: their key was never checked, so it becomes the staging key (URLs already handed
    # out keep working until they expire).
    op.execute(
        table.update()
        .where(
            table.c.failure_reason.is_(None),
            table.c.content_hash.is_(None),
            table.c.storage_ptr.is_not(None),
        )
        .values(upload_key=table.c.storage_ptr, storage_ptr=None)
    )


def downgrade():
    table = symbol_sets
    op.execute(
        table.update()
        .where(table.c.storage_ptr.is_(None), table.c.upload_key.is_not(None))
        .values(storage_ptr=table.c.upload_key)
    )
    op.execute(
        table.update()
        .where(table.c.storage_ptr.is_(None), table.c.rejected_key.is_not(None))
        .values(storage_ptr=table.c.rejected_key)
    )
    op.drop_index("ix_symbol_sets_upload_key", table_name="symbol_sets")
    # In place (SQLite 3.35+ has DROP COLUMN), so the full-text triggers stay.
    op.drop_column("symbol_sets", "rejected_key")
    op.drop_column("symbol_sets", "upload_key")
