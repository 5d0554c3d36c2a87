"""meetings whose attendance refresh fails are retried with backoff

Revision ID: 20261201_0004
Revises: 20261201_0003
Create Date: 2026-12-01 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.storage.types


revision = '20261201_0004'
down_revision = '20261201_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refresh_failures', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('refresh_after', service.storage.types.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_column('refresh_after')
        batch_op.drop_column('refresh_failures')
