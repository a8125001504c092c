"""Open results: the committed split of a leaderboard challenge; the team label, public
note and failure entry of a submission; refused withdrawal attempts; and the challenge of
each ledger entry (each new entry of a challenge links to the previous one:
``challenge_prev``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 19:00:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('challenges', sa.Column('split_digest', sa.String(length=71), nullable=True))
    op.add_column('challenges', sa.Column('secret_sha256', sa.String(length=64),
                                          nullable=True))
    op.add_column('submissions', sa.Column('team_label', sa.String(length=100),
                                           nullable=True))
    op.add_column('submissions', sa.Column('note', sa.Text(), nullable=True))
    op.add_column('submissions', sa.Column('note_at', sa.String(length=32), nullable=True))
    op.add_column('submissions', sa.Column('note_seq', sa.Integer(), nullable=True))
    op.add_column('submissions', sa.Column('failed_seq', sa.Integer(), nullable=True))
    op.create_table(
        'withdrawal_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('at', sa.String(length=32), nullable=False),
        sa.Column('ledger_seq', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('submission_id', 'user_id', 'action'),
    )
    op.create_index('ix_withdrawal_attempts_submission_id', 'withdrawal_attempts',
                    ['submission_id'], unique=False)
    op.add_column('ledger_entries', sa.Column('challenge', sa.String(length=100),
                                              nullable=True))
    op.create_index('ix_ledger_entries_challenge_seq', 'ledger_entries',
                    ['challenge', 'seq'], unique=False)
    # the challenge of the entries already written (their bytes do not change: entries
    # from before carry no challenge_prev link)
    entries = sa.table('ledger_entries', sa.column('seq', sa.Integer),
                       sa.column('entry', sa.LargeBinary),
                       sa.column('challenge', sa.String))
    bind = op.get_bind()
    for seq, data in bind.execute(sa.select(entries.c.seq, entries.c.entry)).all():
        challenge = json.loads(bytes(data)).get('challenge')
        if isinstance(challenge, str):
            bind.execute(entries.update().where(entries.c.seq == seq)
                         .values(challenge=challenge))


def downgrade() -> None:
    op.drop_index('ix_ledger_entries_challenge_seq', table_name='ledger_entries')
    with op.batch_alter_table('ledger_entries') as batch_op:
        batch_op.drop_column('challenge')
    op.drop_index('ix_withdrawal_attempts_submission_id', table_name='withdrawal_attempts')
    op.drop_table('withdrawal_attempts')
    with op.batch_alter_table('submissions') as batch_op:
        batch_op.drop_column('failed_seq')
        batch_op.drop_column('note_seq')
        batch_op.drop_column('note_at')
        batch_op.drop_column('note')
        batch_op.drop_column('team_label')
    with op.batch_alter_table('challenges') as batch_op:
        batch_op.drop_column('secret_sha256')
        batch_op.drop_column('split_digest')
