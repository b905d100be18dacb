"""routing's events: case referrals, richer timeline, consent to agency contact

intake keeps its own copy of each case's referrals (from routing's events),
timeline entries name the office, its outcome and an escalation, and the
citizen's consent says whether the agencies handling the case may call.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "case_referrals",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("referral_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("agency", sa.String(length=10), nullable=False),
        sa.Column("province_code", sa.String(length=5), nullable=False),
        sa.Column("office", sa.String(length=60), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_resolve_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_note", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=30), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_referrals_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_referrals")),
        sa.UniqueConstraint("referral_id", name=op.f("uq_case_referrals_referral_id")),
    )
    with op.batch_alter_table("case_referrals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_referrals_case_id"), ["case_id"], unique=False
        )

    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("office", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=30), nullable=True))
        batch_op.add_column(
            sa.Column("escalated_to", sa.String(length=60), nullable=True)
        )

    # existing consents never covered contact by agencies
    with op.batch_alter_table("citizen_contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "agencies_may_contact",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("citizen_contacts", schema=None) as batch_op:
        batch_op.drop_column("agencies_may_contact")

    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.drop_column("escalated_to")
        batch_op.drop_column("outcome")
        batch_op.drop_column("office")

    with op.batch_alter_table("case_referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_referrals_case_id"))

    op.drop_table("case_referrals")
