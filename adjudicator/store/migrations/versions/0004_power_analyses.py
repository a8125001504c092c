"""Power analyses: the minimum detectable metric a committee records before a challenge
opens (the full result, its digest, its inputs and its ``power_analysis`` ledger entry).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'power_analyses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('challenge_id', sa.String(length=100), nullable=False),
        sa.Column('units', sa.Integer(), nullable=False),
        sa.Column('options', sa.Text(), nullable=False),
        sa.Column('result', sa.Text(), nullable=False),
        sa.Column('digest', sa.String(length=71), nullable=False),
        sa.Column('recorded_at', sa.String(length=32), nullable=False),
        sa.Column('ledger_seq', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_power_analyses_challenge_id', 'power_analyses', ['challenge_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_power_analyses_challenge_id', table_name='power_analyses')
    op.drop_table('power_analyses')
