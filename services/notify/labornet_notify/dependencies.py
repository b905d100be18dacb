"""notify's DependencyProviders: its database (unit of work), its outbox
relay, the webhook channel, and its deliveries' metrics."""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider

from labornet_notify.channels import WebhookChannel
from labornet_notify.metrics import DELIVERIES
from labornet_notify.models import Base
from labornet_shared.config import flag
from labornet_shared.db import Database
from labornet_shared.outbox import OutboxRelay
from labornet_shared.web import ScrapedDatabase


def notify_database() -> Database:
    """notify's unit of work on ``DATABASE_URL``."""
    return Database(Base.metadata)


def notify_relay() -> OutboxRelay:
    """The outbox relay publishing ``notify.events``."""
    return OutboxRelay(database_attr="db")


class Webhooks(DependencyProvider):
    """The webhook channel and its settings, read once from config."""

    def setup(self) -> None:
        """Read the settings; build the channel."""
        config = self.container.config
        self.allow_local = flag(config.get("WEBHOOK_ALLOW_LOCAL", False))
        self.rotation_hours = float(config.get("WEBHOOK_ROTATION_HOURS", 24))
        self.channel = WebhookChannel(
            timeout=float(config.get("WEBHOOK_TIMEOUT_SECONDS", 10)),
            allow_insecure_local=self.allow_local,
        )

    def get_dependency(self, worker_ctx: Any) -> Webhooks:
        """This provider itself (read-only settings and the channel)."""
        return self


def delivery_metrics() -> ScrapedDatabase:
    """The extension that has notify's database measured at scrape time
    (deliveries by channel and status) while the container runs."""
    return ScrapedDatabase(DELIVERIES, database_attr="db")
