"""report indexes: each meeting's attendance counts on its row; meetings and participants indexed

The comparison report sums meetings, with their participants counted on the meeting row when its
attendance record is written (attendance_repo.write_participants), instead of reading every
participant row. It reads a period as one range of `ix_meetings_report` (every column it needs, by
scheduled start), and prices the time of people with an hourly rate of their own through
`ix_participant_attendance_email`. Records written before this revision are counted here.

Revision ID: 20261201_0002
Revises: 20261129_0001
Create Date: 2026-12-01 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261201_0002'
down_revision = '20261129_0001'
branch_labels = None
depends_on = None

# Copied, not imported: a migration must not change when the code does.
REPORT_COLUMNS = [
    'start_at', 'status', 'kind', 'provider', 'organizer_email', 'origin', 'duration_minutes', 'end_at',
    'actual_start', 'actual_end', 'attended_count', 'attended_internal_count', 'attended_external_count',
    'invited_count', 'invited_attended_count', 'internal_attended_seconds',
]
COUNTS = {
    'attended_count': "attended",
    'attended_internal_count': "attended AND classification = 'internal'",
    'attended_external_count': "attended AND classification = 'external'",
    'invited_count': "invited",
    'invited_attended_count': "invited AND attended",
}


def upgrade() -> None:
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        for name in COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(
            sa.Column('internal_attended_seconds', sa.BigInteger(), server_default='0', nullable=False)
        )
    with op.batch_alter_table('participant_attendance', schema=None) as batch_op:
        batch_op.create_index(
            'ix_participant_attendance_email',
            ['email', 'classification', 'meeting_id', 'attended_seconds'],
            unique=False,
        )
    # The same counts as attendance_repo.count_attendance, for the records already written.
    counts = ",\n".join(
        f"{name} = (SELECT coalesce(sum(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) "
        "FROM participant_attendance p WHERE p.meeting_id = meetings.id)"
        for name, condition in COUNTS.items()
    )
    op.execute(
        f"""
        UPDATE meetings SET
        {counts},
        internal_attended_seconds = (
            SELECT coalesce(sum(CASE WHEN classification = 'internal' THEN attended_seconds ELSE 0 END), 0)
            FROM participant_attendance p WHERE p.meeting_id = meetings.id)
        WHERE id IN (SELECT meeting_id FROM participant_attendance)
        """
    )
    # After the counts are written, so the backfill does not update the index row by row.
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.create_index('ix_meetings_report', REPORT_COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('participant_attendance', schema=None) as batch_op:
        batch_op.drop_index('ix_participant_attendance_email')
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_index('ix_meetings_report')
        for name in (*COUNTS, 'internal_attended_seconds'):
            batch_op.drop_column(name)
