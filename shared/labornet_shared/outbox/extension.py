"""The nameko extension that runs the relay inside a service process.

:class:`OutboxRelay` builds a :class:`~labornet_shared.outbox.relay.RelayLoop`
from the service's config and :class:`~labornet_shared.db.Database`, wakes it
on every commit that wrote an outbox row, and runs it in a managed green
thread.
"""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider

from labornet_shared.db import Database, UnitOfWork
from labornet_shared.outbox.publisher import ConfirmingPublisher
from labornet_shared.outbox.relay import Relay, RelayLoop, relay_settings
from labornet_shared.outbox.table import OUTBOX_TABLE


class OutboxRelay(DependencyProvider):
    """nameko extension: runs the relay inside the service process.

    It hooks into the service's :class:`Database` so every commit that wrote
    an outbox row wakes it at once. ``OUTBOX_RELAY: off`` in config leaves the
    publishing to a separate ``labornet relay`` process.
    """

    def __init__(self, database_attr: str = "db") -> None:
        # the Database is named, not passed: nameko would bind a passed
        # extension as a second, separate copy
        self.database_attr = database_attr
        self.loop: RelayLoop | None = None
        self._gt: Any = None
        self._metrics_key: int | None = None

    def _build(self) -> None:
        config = self.container.config
        if str(config.get("OUTBOX_RELAY", "inline")).lower() != "inline":
            return
        import eventlet.event

        database = self._database()
        assert database.engine is not None
        relay = Relay(
            database.engine,
            database.metadata,
            ConfirmingPublisher(config["AMQP_URI"]),
            service=self.container.service_name,
            **relay_settings(config),
        )

        class _GreenEvent:
            """threading.Event's interface on an eventlet event."""

            def __init__(self) -> None:
                self._event = eventlet.event.Event()

            def set(self) -> None:
                if not self._event.ready():
                    self._event.send(True)

            def clear(self) -> None:
                if self._event.ready():
                    self._event = eventlet.event.Event()

            def wait(self, timeout: float) -> None:
                with eventlet.Timeout(timeout, False):
                    self._event.wait()

        self.loop = RelayLoop(
            relay,
            poll_seconds=float(config.get("OUTBOX_POLL_SECONDS", 1.0)),
            linger_seconds=float(config.get("OUTBOX_LINGER_SECONDS", 0.0)),
            sleep=eventlet.sleep,
            event_factory=_GreenEvent,
        )
        database.add_after_commit_hook(self._on_commit)

    def _database(self) -> Database:
        # the instance bound to this container, not the class-level template
        for provider in self.container.dependencies:
            if isinstance(provider, Database) and (
                provider.attr_name == self.database_attr
            ):
                return provider
        raise RuntimeError("OutboxRelay needs the service's Database")

    def _on_commit(self, unit: UnitOfWork) -> None:
        if self.loop is not None and unit.session.info.pop("outbox_dirty", False):
            self.loop.wake()

    def start(self) -> None:
        """Start publishing in a managed green thread (after every setup, so
        the Database's engine exists). The outbox's backlog is measured at
        scrape time whether this process or a ``labornet relay`` publishes."""
        from labornet_shared.metrics import OUTBOX, add_source

        database = self._database()
        self._metrics_key = add_source(
            OUTBOX,
            self.container.service_name,
            database,
            {"table": database.metadata.tables[OUTBOX_TABLE]},
        )
        self._build()
        if self.loop is not None:
            self._gt = self.container.spawn_managed_thread(
                self.loop.run, identifier="outbox_relay"
            )

    def stop(self) -> None:
        """Stop after the batch in flight."""
        self._leave_metrics()
        if self.loop is not None:
            self.loop.stop()
            if self._gt is not None:
                self._gt.wait()
            self.loop.relay.publisher.close()
            # a successor need not wait for the lease to expire
            self.loop.relay.release_lease()

    def kill(self) -> None:
        """Stop at once."""
        self._leave_metrics()
        if self._gt is not None:
            self._gt.kill()

    def _leave_metrics(self) -> None:
        if self._metrics_key is not None:
            from labornet_shared.metrics import OUTBOX

            OUTBOX.remove(self._metrics_key)
            self._metrics_key = None

    def get_dependency(self, worker_ctx: Any) -> RelayLoop | None:
        """The relay loop (readiness checks read its health)."""
        return self.loop
