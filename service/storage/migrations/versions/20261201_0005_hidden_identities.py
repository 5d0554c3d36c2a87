"""hidden identities and waiting rooms: attendees' registrations (registrant id, personal join
URL), registrant ids on events and report rows, waiting-room report rows, the report row's
instance, and per participant how they were identified and how long they waited

Revision ID: 20261201_0005
Revises: 20261201_0004
Create Date: 2026-12-01 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261201_0005'
down_revision = '20261201_0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('meeting_attendees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registrant_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('join_url', sa.Text(), nullable=True))
    with op.batch_alter_table('attendance_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registrant_id', sa.String(length=200), nullable=True))
    with op.batch_alter_table('reported_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registrant_id', sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column('in_waiting_room', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column('provider_meeting_instance', sa.String(length=200), nullable=True))
    with op.batch_alter_table('participant_attendance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identified_by', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('waiting_seconds', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('participant_attendance', schema=None) as batch_op:
        batch_op.drop_column('waiting_seconds')
        batch_op.drop_column('identified_by')
    with op.batch_alter_table('reported_sessions', schema=None) as batch_op:
        batch_op.drop_column('provider_meeting_instance')
        batch_op.drop_column('in_waiting_room')
        batch_op.drop_column('registrant_id')
    with op.batch_alter_table('attendance_events', schema=None) as batch_op:
        batch_op.drop_column('registrant_id')
    with op.batch_alter_table('meeting_attendees', schema=None) as batch_op:
        batch_op.drop_column('join_url')
        batch_op.drop_column('registrant_id')
