"""the languages of a case: whether the citizen chose it, and the one its
description is written in, as screening read it

``cases.language_chosen`` from intake's ``case_received`` v2 (cases received
before: chosen, as a v1 event reads). ``cases.screened_language`` (th, my,
en), told in ``case_routed`` v2's ``screening.language``. Both are shown to
the offices. Cases screened before have no screened language (null):
screening did not read it, and their descriptions may since have been
erased.

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
