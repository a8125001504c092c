"""Model to data: the sequestered inputs of a challenge (sealed blob, public digest, feature
columns, ledger entry) and the sealed record and failure entry of a submission's run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _add_reference(table: str, column: str) -> None:
    """A nullable column referring to an artifact, added in place (no table rebuild)."""
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot ALTER a constraint, but ADD COLUMN may carry REFERENCES inline; a
        # batch rebuild would drop a table other tables' rows refer to
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR(64) "
                   "REFERENCES artifacts (sha256)")
    else:
        op.add_column(table, sa.Column(column, sa.String(length=64),
                                       sa.ForeignKey('artifacts.sha256'), nullable=True))


def upgrade() -> None:
    _add_reference('challenges', 'inputs_sha256')
    op.add_column('challenges', sa.Column('inputs_digest', sa.String(length=71),
                                          nullable=True))
    op.add_column('challenges', sa.Column('inputs_columns', sa.Text(), nullable=True))
    op.add_column('challenges', sa.Column('inputs_committed_at', sa.String(length=32),
                                          nullable=True))
    op.add_column('challenges', sa.Column('inputs_seq', sa.Integer(), nullable=True))
    _add_reference('submissions', 'run_sha256')
    op.add_column('submissions', sa.Column('run_seq', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch_op:
        batch_op.drop_column('run_seq')
        batch_op.drop_column('run_sha256')
    with op.batch_alter_table('challenges') as batch_op:
        batch_op.drop_column('inputs_seq')
        batch_op.drop_column('inputs_committed_at')
        batch_op.drop_column('inputs_columns')
        batch_op.drop_column('inputs_digest')
        batch_op.drop_column('inputs_sha256')
