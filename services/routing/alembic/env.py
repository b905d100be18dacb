"""Alembic environment for routing: its models' metadata is the target."""

from __future__ import annotations

from alembic import context

from labornet_routing.models import Base
from labornet_shared.migrations import run_migrations

run_migrations(context, Base.metadata)
