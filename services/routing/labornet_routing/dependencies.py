"""routing's DependencyProviders: its database (unit of work), its outbox
relay and the screening classifier."""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider

from labornet_routing.classifier import Classifier
from labornet_routing.models import Base
from labornet_shared.db import Database
from labornet_shared.outbox import OutboxRelay


def routing_database() -> Database:
    """routing's unit of work on ``DATABASE_URL``."""
    return Database(Base.metadata)


def routing_relay() -> OutboxRelay:
    """The outbox relay publishing ``routing.events`` and ``labornet.referrals``."""
    return OutboxRelay(database_attr="db")


class Screener(DependencyProvider):
    """The classifier, loaded once per container from its data files."""

    def setup(self) -> None:
        """Load the lexicon (and warm the Thai tokenizer) before any case."""
        self.classifier = Classifier.load()
        self.classifier.screen("warm up the tokenizer: ค่าจ้าง")

    def get_dependency(self, worker_ctx: Any) -> Classifier:
        """The shared, read-only classifier."""
        return self.classifier
