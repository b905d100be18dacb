"""referral and case versions: every change of a referral's state is a
compare-and-set on ``referrals.version`` (``UPDATE ... WHERE id = ? AND
version = ?``), and every change of a case's referrals first bumps
``cases.version``, which serialises them on SQLite and PostgreSQL alike.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("cases", "referrals"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("version", sa.Integer(), nullable=False, server_default="1")
            )


def downgrade() -> None:
    for table in ("referrals", "cases"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
