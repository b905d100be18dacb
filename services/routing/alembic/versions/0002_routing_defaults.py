"""routing defaults: SLA clocks per agency, the standing routing rules and
the Thai public holidays of data/holidays.csv.

Operators change all three through the API afterwards; this only gives a new
deployment the ministry's starting values.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# working days (accept, resolve) per agency
SLA_DEFAULTS = {
    "ops": (1, 10),
    "doe": (2, 15),
    "dsd": (3, 20),
    "dlpw": (2, 30),
    "sso": (2, 20),
    "tosh": (2, 15),
}

RULES = [
    # a worker abroad is helped by the Department of Employment's overseas
    # labour offices, whatever the problem
    {"kind": "abroad", "category": None, "with_category": None, "agency": "doe",
     "note": "workers abroad: the Department of Employment's overseas office"},
    # an injury at work where wages are also owed needs labour protection too
    {"kind": "extra", "category": "work_injury", "with_category": "unpaid_wages",
     "agency": "dlpw", "note": "work injury with wages owed: also labour protection"},
]


def upgrade() -> None:
    from labornet_routing.working_days import packaged_holidays

    now = datetime.now(UTC)
    sla = sa.table(
        "sla_settings",
        sa.column("agency", sa.String),
        sa.column("category", sa.String),
        sa.column("accept_days", sa.Integer),
        sa.column("resolve_days", sa.Integer),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        sla,
        [
            {"agency": agency, "category": None, "accept_days": accept,
             "resolve_days": resolve, "updated_at": now}
            for agency, (accept, resolve) in SLA_DEFAULTS.items()
        ],
    )
    rules = sa.table(
        "routing_rules",
        sa.column("kind", sa.String),
        sa.column("category", sa.String),
        sa.column("province_code", sa.String),
        sa.column("with_category", sa.String),
        sa.column("agency", sa.String),
        sa.column("note", sa.String),
        sa.column("created_by", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        rules,
        [{**rule, "province_code": None, "created_by": "migration 0002",
          "created_at": now} for rule in RULES],
    )
    holidays = sa.table(
        "holidays", sa.column("day", sa.Date), sa.column("name", sa.String)
    )
    op.bulk_insert(
        holidays, [{"day": day, "name": name} for day, name in packaged_holidays()]
    )


def downgrade() -> None:
    op.execute("DELETE FROM holidays")
    op.execute("DELETE FROM routing_rules WHERE created_by = 'migration 0002'")
    op.execute("DELETE FROM sla_settings")
