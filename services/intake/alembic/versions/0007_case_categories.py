"""the categories routing found for each case

``case_categories``: one row per case and category that routing's
``case_routed`` screened or any of its referral events named, so a case
submitted without a category is found by ``GET /v1/cases?category=``
(indexed by category). Cases routed before are filled from intake's copy of
their referrals (screening's scores were not kept: null).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "case_categories",
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("referred", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_categories_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "category", name=op.f("pk_case_categories")),
    )
    op.create_index(
        "ix_case_categories_category_case_id",
        "case_categories",
        ["category", "case_id"],
        unique=False,
    )
    _fill_from_referrals()


def _fill_from_referrals() -> None:
    """The referred categories of cases routed before this table."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT case_id, categories FROM case_referrals"))
    pairs: set[tuple[int, str]] = set()
    for case_id, categories in rows:
        if isinstance(categories, str):  # SQLite hands JSON back as text
            categories = json.loads(categories)
        pairs.update((case_id, category) for category in categories or ())
    if pairs:
        bind.execute(
            sa.text(
                "INSERT INTO case_categories (case_id, category, referred)"
                " VALUES (:case_id, :category, :referred)"
            ),
            [
                {"case_id": case_id, "category": category, "referred": True}
                for case_id, category in sorted(pairs)
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_case_categories_category_case_id", table_name="case_categories")
    op.drop_table("case_categories")
