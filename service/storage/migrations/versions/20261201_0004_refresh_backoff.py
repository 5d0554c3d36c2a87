"""meetings whose attendance refresh fails are retried with backoff; meetings and events dated
outside 1970..2200 (stored before such events were refused) are removed

Revision ID: 20261201_0004
Revises: 20261201_0003
Create Date: 2026-12-01 09:30:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import service.storage.types

# The bounds of every accepted instant (service.domain.meeting), as of this revision.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


revision = '20261201_0004'
down_revision = '20261201_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refresh_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('refresh_after', service.storage.types.UtcDateTime(timezone=True), nullable=True))
    _remove_out_of_range_instants()


def _remove_out_of_range_instants() -> None:
    """Such rows can only come from provider events that are now refused as undecodable; no meeting
    or record can be read from them (their dates overflow), so they are dropped, not kept broken.
    A meeting's attendees and records go with it (ON DELETE CASCADE)."""
    instant = service.storage.types.UtcDateTime(timezone=True)
    meetings = sa.table('meetings', sa.column('origin', sa.String()), sa.column('start_at', instant))
    events = sa.table('attendance_events', sa.column('occurred_at', instant))
    op.execute(
        sa.delete(meetings).where(
            meetings.c.origin == 'provider', sa.or_(meetings.c.start_at < EARLIEST, meetings.c.start_at > LATEST)
        )
    )
    op.execute(sa.delete(events).where(sa.or_(events.c.occurred_at < EARLIEST, events.c.occurred_at > LATEST)))


def downgrade() -> None:
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_column('refresh_after')
        batch_op.drop_column('refresh_failures')
