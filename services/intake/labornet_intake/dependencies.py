"""intake's DependencyProviders: its database (unit of work) and relay."""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider

from labornet_intake.models import Base
from labornet_shared.db import Database
from labornet_shared.outbox import OutboxRelay


def intake_database() -> Database:
    """intake's unit of work on ``DATABASE_URL``."""
    return Database(Base.metadata)


def intake_relay() -> OutboxRelay:
    """The outbox relay publishing ``intake.events``."""
    return OutboxRelay(database_attr="db")


class Settings(DependencyProvider):
    """The few config values intake's entrypoints need, read once."""

    def setup(self) -> None:
        """Read the secrets from config."""
        config = self.container.config
        self.pepper = str(config["TRACKING_CODE_PEPPER"])

    def get_dependency(self, worker_ctx: Any) -> Settings:
        """This provider itself (read-only values)."""
        return self
