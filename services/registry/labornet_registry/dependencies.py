"""registry's DependencyProviders: its database (unit of work) and relay."""

from __future__ import annotations

from labornet_registry.models import Base
from labornet_shared.db import Database
from labornet_shared.outbox import OutboxRelay


def registry_database() -> Database:
    """registry's unit of work on ``DATABASE_URL``."""
    return Database(Base.metadata)


def registry_relay() -> OutboxRelay:
    """The outbox relay publishing ``registry.events``."""
    return OutboxRelay(database_attr="db")
