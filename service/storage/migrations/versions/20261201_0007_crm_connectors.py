"""CRM connectors: inbound deliveries, per-record state, and the write-back outbox

Revision ID: 20261201_0007
Revises: 20261201_0006
Create Date: 2026-12-01 11:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.storage.types

revision = '20261201_0007'
down_revision = '20261201_0006'
branch_labels = None
depends_on = None


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), primary_key=True, autoincrement=True)


def _instant(name: str, *, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, service.storage.types.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'crm_deliveries',
        _id(),
        sa.Column('crm', sa.String(16), nullable=False),
        sa.Column('delivery_key', sa.String(128), nullable=False),
        _instant('received_at', nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.Column('headers', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        _instant('next_attempt_at', nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        _instant('processed_at', nullable=True),
        sa.UniqueConstraint('crm', 'delivery_key', name='uq_crm_deliveries_key'),
    )
    op.create_index('ix_crm_deliveries_due', 'crm_deliveries', ['status', 'next_attempt_at'])
    op.create_table(
        'crm_records',
        sa.Column('crm', sa.String(16), primary_key=True),
        sa.Column('object_id', sa.String(200), primary_key=True),
        sa.Column('meeting_id', sa.String(36), nullable=True),
        sa.Column('applied_version', sa.BigInteger(), nullable=True),
        sa.Column('context', sa.JSON(), nullable=False),
        _instant('updated_at', nullable=False),
    )
    op.create_table(
        'crm_outbox',
        _id(),
        sa.Column('crm', sa.String(16), nullable=False),
        sa.Column('meeting_id', sa.String(36), sa.ForeignKey('meetings.id', ondelete='CASCADE'), nullable=False),
        sa.Column('remote_id', sa.String(200), nullable=True),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('outcome', sa.String(32), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        _instant('next_attempt_at', nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        _instant('meeting_version', nullable=False),
        _instant('written_at', nullable=True),
        _instant('created_at', nullable=False),
        _instant('updated_at', nullable=False),
        sa.UniqueConstraint('crm', 'meeting_id', name='uq_crm_outbox_meeting'),
    )
    op.create_index('ix_crm_outbox_due', 'crm_outbox', ['state', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_crm_outbox_due', table_name='crm_outbox')
    op.drop_table('crm_outbox')
    op.drop_table('crm_records')
    op.drop_index('ix_crm_deliveries_due', table_name='crm_deliveries')
    op.drop_table('crm_deliveries')
