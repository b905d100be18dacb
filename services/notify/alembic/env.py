"""Alembic environment for notify: its models' metadata is the target."""

from __future__ import annotations

from alembic import context

from labornet_notify.models import Base
from labornet_shared.migrations import run_migrations

run_migrations(context, Base.metadata)
