"""symbol sets record what their checked file contains (sources, debug id, architecture...)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 02:00:00.000000

The upload check parses every type with symbolic and keeps what it found as JSON; rows uploaded
before have none (the page says so).
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('symbol_sets') as batch_op:
        batch_op.add_column(sa.Column('contents', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('symbol_sets') as batch_op:
        batch_op.drop_column('contents')
