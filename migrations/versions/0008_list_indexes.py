"""list indexes: each list's filters and order, ending in the key, so counts, pages and deep offsets
read only the index; a partial index for failed symbol sets

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 00:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FAILED = sa.text("failure_reason IS NOT NULL")
# (table, name, columns, where) as the models declare them.
NEW = [
    ("evaluations", "ix_evaluations_list_created", ["project_id", "deleted", "created_at", "pk"], None),
    ("evaluations", "ix_evaluations_list_updated", ["project_id", "deleted", "updated_at", "pk"], None),
    ("evaluations", "ix_evaluations_list_name", ["project_id", "deleted", "name", "pk"], None),
    (
        "evaluations",
        "ix_evaluations_list_enabled",
        ["project_id", "deleted", "enabled", "created_at", "pk"],
        None,
    ),
    (
        "evaluations",
        "ix_evaluations_list_enabled_name",
        ["project_id", "deleted", "enabled", "name", "pk"],
        None,
    ),
    ("symbol_sets", "ix_symbol_sets_list_created", ["project_id", "created_at", "pk"], None),
    ("symbol_sets", "ix_symbol_sets_list_last_used", ["project_id", "last_used", "pk"], None),
    ("symbol_sets", "ix_symbol_sets_list_failed", ["project_id", "created_at", "pk"], FAILED),
    ("releases", "ix_releases_list_created", ["project_id", "created_at", "id"], None),
]
# The indexes 0001 and 0003 created, which the new ones replace.
OLD = [
    ("evaluations", "ix_evaluations_list_created", ["project_id", "deleted", "created_at"]),
    ("evaluations", "ix_evaluations_list_updated", ["project_id", "deleted", "updated_at"]),
    ("evaluations", "ix_evaluations_list_name", ["project_id", "deleted", "name"]),
    ("evaluations", "ix_evaluations_list_enabled", ["project_id", "deleted", "enabled"]),
    ("symbol_sets", "ix_symbol_sets_list_created", ["project_id", "created_at"]),
    ("symbol_sets", "ix_symbol_sets_list_last_used", ["project_id", "last_used"]),
]


def _create(table, name, columns, where=None):
    # Plain CREATE INDEX, no batch copy: on SQLite a table copy would drop the full-text triggers.
    op.create_index(name, table, columns, sqlite_where=where, postgresql_where=where)


def upgrade():
    for table, name, _ in OLD:
        op.drop_index(name, table_name=table)
    for index in NEW:
        _create(*index)


def downgrade():
    for table, name, *_ in NEW:
        op.drop_index(name, table_name=table)
    for index in OLD:
        _create(*index)
