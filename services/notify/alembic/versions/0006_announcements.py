"""announcements, and the index of field agents' areas

``announcements``: a message from the ministry to field agents by region,
province, district, kind or country abroad; its recipients are delivery rows
(``event_id`` = the announcement). ``agent_areas``: one row per active
agent × level (region, province, district, subdistrict) × code, filled here
from the agents already projected, kept by the agent events afterwards.
``agent_contacts.kind``: the agent's kind (labour_graduate,
labour_volunteer); agents projected before this have none until registry's
next event about them.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agent_contacts") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=20), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_agent_contacts_kind"), ["kind"], unique=False
        )
    op.create_table(
        "agent_areas",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("exact", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint(
            "agent_id", "level", "code", "exact", name=op.f("pk_agent_areas")
        ),
    )
    op.create_index(
        "ix_agent_areas_level_code", "agent_areas", ["level", "code"], unique=False
    )
    op.create_table(
        "announcements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("text_th", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=True),
        sa.Column("text_my", sa.Text(), nullable=True),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("planned_through", sa.String(length=64), nullable=True),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_announcements_idempotency_key")
        ),
    )
    _fill_agent_areas()


def _fill_agent_areas() -> None:
    """The index rows of the active agents already projected."""
    from labornet_notify.domain.deliveries.cases_and_agents import area_rows

    bind = op.get_bind()
    agents = sa.table(
        "agent_contacts",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("areas", sa.JSON),
    )
    areas = sa.table(
        "agent_areas",
        sa.column("agent_id", sa.String),
        sa.column("level", sa.String),
        sa.column("code", sa.String),
        sa.column("exact", sa.Boolean),
    )
    rows: list[dict[str, Any]] = []
    for agent_id, status, raw in bind.execute(
        sa.select(agents.c.id, agents.c.status, agents.c.areas)
    ):
        if status != "active":
            continue
        value = json.loads(raw) if isinstance(raw, str) else raw
        rows.extend(area_rows(agent_id, value or []))
        if len(rows) >= 5000:
            op.bulk_insert(areas, rows)
            rows = []
    if rows:
        op.bulk_insert(areas, rows)


def downgrade() -> None:
    op.drop_table("announcements")
    op.drop_index("ix_agent_areas_level_code", table_name="agent_areas")
    op.drop_table("agent_areas")
    with op.batch_alter_table("agent_contacts") as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_contacts_kind"))
        batch_op.drop_column("kind")
