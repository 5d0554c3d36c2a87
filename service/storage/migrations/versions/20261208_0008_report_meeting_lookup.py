"""report meeting lookup: meetings by id with what the report groups and filters them by

The comparison report prices the time of people with an hourly rate of their own from their
participant rows, then looks up each row's meeting by id for its period, status and group. With
every column it reads in the index, that lookup is one index search, not an index search and a
read of the meeting's whole row (on SQLite, a year of a 500-rep org: ~150 -> ~95 ms).

Revision ID: 20261208_0008
Revises: 20261201_0007
Create Date: 2026-12-08 04:30:00
"""

from __future__ import annotations

from alembic import op

revision = '20261208_0008'
down_revision = '20261201_0007'
branch_labels = None
depends_on = None

# Copied, not imported: a migration must not change when the code does.
LOOKUP_COLUMNS = ['id', 'start_at', 'status', 'kind', 'provider', 'organizer_email']


def upgrade() -> None:
    op.create_index('ix_meetings_report_lookup', 'meetings', LOOKUP_COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index('ix_meetings_report_lookup', table_name='meetings')
