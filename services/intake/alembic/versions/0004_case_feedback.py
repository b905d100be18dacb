"""the citizen's feedback on a closed case

A rating (1–5), whether the problem was solved and an optional comment, one
per case, given through the single-use link notify sends when the case
closes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-17 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "case_feedback",
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("solved", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("token_id", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_case_feedback_rating"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_feedback_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_feedback")),
        sa.UniqueConstraint("token_id", name=op.f("uq_case_feedback_token_id")),
    )


def downgrade() -> None:
    op.drop_table("case_feedback")
