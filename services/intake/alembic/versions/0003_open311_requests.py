"""Open311 GeoReport v2: the cases filed through it

Which api_key filed each case (a key name and digest, never the key) and the
media_url it gave.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "open311_requests",
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("filed_by", sa.String(length=200), nullable=False),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_open311_requests_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_open311_requests")),
    )


def downgrade() -> None:
    op.drop_table("open311_requests")
