"""numeric-aware name order: evaluations.name_sort_key, filled from every name, indexed in the list
indexes in place of the name

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:00:00.000000

order_by=name now sorts by the key ("eval 2" before "eval 10", case folded; see webapp/models/natural_sort.py),
compared by code point on both databases (PostgreSQL: COLLATE "C", whatever the database's collation).
"""

import sqlalchemy as sa
from alembic import op

from webapp.models.natural_sort import MAX_KEY_BYTES, natural_sort_key

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

EVALUATIONS = sa.table(
    "evaluations", sa.column("pk", sa.Integer), sa.column("name", sa.String), sa.column("name_sort_key")
)
BATCH = 5000
# (name, columns before, columns after): the two list indexes that order by name.
INDEXES = [
    (
        "ix_evaluations_list_name",
        ["project_id", "deleted", "name", "pk"],
        ["project_id", "deleted", "name_sort_key", "pk"],
    ),
    (
        "ix_evaluations_list_enabled_name",
        ["project_id", "deleted", "enabled", "name", "pk"],
        ["project_id", "deleted", "enabled", "name_sort_key", "pk"],
    ),
]


def _fill(connection) -> None:
    """Every row's key from its name, a batch of rows at a time in key order."""
    last = 0
    while True:
        rows = connection.execute(
            sa.select(EVALUATIONS.c.pk, EVALUATIONS.c.name)
            .where(EVALUATIONS.c.pk > last)
            .order_by(EVALUATIONS.c.pk)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        connection.execute(
            EVALUATIONS.update().where(EVALUATIONS.c.pk == sa.bindparam("row_pk")),
            [{"row_pk": pk, "name_sort_key": natural_sort_key(name)} for pk, name in rows],
        )
        last = rows[-1].pk


def upgrade():
    connection = op.get_bind()
    collation = "C" if connection.dialect.name == "postgresql" else None
    # NOT NULL with a default, so SQLite adds it in place (a table copy would drop the full-text triggers).
    op.add_column(
        "evaluations",
        sa.Column(
            "name_sort_key", sa.String(MAX_KEY_BYTES, collation=collation), nullable=False, server_default=""
        ),
    )
    _fill(connection)
    if connection.dialect.name == "postgresql":
        # Every write sets the key; the empty default only served the rows above.
        op.alter_column("evaluations", "name_sort_key", server_default=None)
    for name, before, after in INDEXES:
        op.drop_index(name, table_name="evaluations")
        op.create_index(name, "evaluations", after)


def downgrade():
    for name, before, _ in INDEXES:
        op.drop_index(name, table_name="evaluations")
        op.create_index(name, "evaluations", before)
    op.drop_column("evaluations", "name_sort_key")
