"""The outbox relay's lease (one relay publishes notify's outbox at a time,
on SQLite as on PostgreSQL) and the outbox's columns for parking an event the
broker keeps refusing (failures, parked_at, last_error).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from labornet_shared.migrations import (
    add_outbox_lease_and_parking,
    drop_outbox_lease_and_parking,
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_lease_and_parking(op)


def downgrade() -> None:
    drop_outbox_lease_and_parking(op)
