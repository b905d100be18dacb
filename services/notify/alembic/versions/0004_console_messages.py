"""console_messages: what the console channel showed in place of a provider

Under ``make run`` no provider is set up; the console channel records each
message as it would have left (text, masked recipient, language, SMS parts,
held by quiet hours) for ``labornet messages tail`` and ``GET /console``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("case_reference", sa.String(length=20), nullable=True),
        sa.Column("recipient_kind", sa.String(length=20), nullable=True),
        sa.Column("recipient_masked", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=40), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_messages")),
    )
    with op.batch_alter_table("console_messages") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_messages_case_reference"),
            ["case_reference"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("console_messages") as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_messages_case_reference"))
    op.drop_table("console_messages")
