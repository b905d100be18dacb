"""what notify keeps of a case's language: whether the citizen chose it, and
the language screening read in the description

``cases.language_chosen`` (from intake's ``case_received`` v2; cases
received before: chosen, as a v1 event reads) and ``cases.screened_language``
(from routing's ``case_routed`` v2). A citizen who chose no language is
written to in the screened one.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "language_chosen",
                sa.Boolean(),
                server_default=sa.true(),
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("screened_language", sa.String(length=5), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("screened_language")
        batch_op.drop_column("language_chosen")
