"""api keys: labels unique per user; a sealed copy of a new key, shown once after the create redirect

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:05:00.000000

"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _rename_duplicate_labels(connection):
    """Keep the oldest key's label; later keys of the same user and label get " (2)", " (3)"..."""
    keys = sa.table(
        'personal_api_keys',
        sa.column('id', sa.Uuid),
        sa.column('user_id', sa.Integer),
        sa.column('label', sa.String),
        sa.column('created_at', sa.DateTime(timezone=True)),
    )
    rows = connection.execute(
        sa.select(keys.c.id, keys.c.user_id, keys.c.label).order_by(keys.c.created_at, keys.c.id)
    ).all()
    taken = {(row.user_id, row.label) for row in rows}
    seen = set()
    for row in rows:
        if (row.user_id, row.label) not in seen:
            seen.add((row.user_id, row.label))
            continue
        number = 2
        while (row.user_id, f'{row.label} ({number})') in taken:
            number += 1
        label = f'{row.label} ({number})'
        taken.add((row.user_id, label))
        connection.execute(keys.update().where(keys.c.id == row.id).values(label=label))


def upgrade():
    _rename_duplicate_labels(op.get_bind())
    with op.batch_alter_table('personal_api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reveal_sealed', sa.LargeBinary(length=128), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_personal_api_keys_user_id'), ['user_id', 'label'])


def downgrade():
    with op.batch_alter_table('personal_api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_personal_api_keys_user_id'), type_='unique')
        batch_op.drop_column('reveal_sealed')
