"""intake's DependencyProviders: its database (unit of work) and relay."""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider

from labornet_intake.models import Base
from labornet_shared.db import Database
from labornet_shared.local_secrets import private_setting
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
        """Read the secrets and Open311's settings from config."""
        config = self.container.config
        # public values would let anyone compute tracking codes or sign
        # links: refuse to start with them
        self.pepper = private_setting(config, "TRACKING_CODE_PEPPER")
        # signs the citizens' feedback links (notify issues them)
        self.token_secret = private_setting(config, "TOKEN_SECRET")
        # the one jurisdiction Open311 serves, the public URL of its endpoint
        # (empty: the URL the request came to) and whether it is live
        self.open311_jurisdiction = str(
            config.get("OPEN311_JURISDICTION") or "mol.go.th"
        )
        self.open311_base_url = str(config.get("OPEN311_BASE_URL") or "").rstrip("/")
        self.open311_endpoint_type = str(
            config.get("OPEN311_ENDPOINT_TYPE") or "production"
        )

    def get_dependency(self, worker_ctx: Any) -> Settings:
        """This provider itself (read-only values)."""
        return self
