"""stored attendance records: each meeting's computed record, served on read instead of recomputed

Nothing is backfilled: a meeting without a stored record (or whose record is out of date) is
computed at read time as before, and gets one the next time the worker refreshes it.

Revision ID: 20261201_0006
Revises: 20261201_0005
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.storage.types

revision = '20261201_0006'
down_revision = '20261201_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'attendance_records',
        sa.Column('meeting_id', sa.String(length=36), nullable=False),
        sa.Column('inputs', sa.String(length=64), nullable=False),
        sa.Column('computed_at', service.storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column('record', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('meeting_id'),
    )


def downgrade() -> None:
    op.drop_table('attendance_records')
